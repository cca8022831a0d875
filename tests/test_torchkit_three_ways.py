"""The guide's runnable example: three ways to write one ConvNet train to the same behaviour."""

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "three_ways.py"


def _load():
    spec = importlib.util.spec_from_file_location("three_ways", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_three_ways_train_alike(capsys):
    torch.set_num_threads(1)
    results = _load().main(epochs=3, num_train=400)
    ref = results["barebones"]
    assert set(results) == {"barebones", "module", "sequential"}
    for name, r in results.items():
        assert len(r["losses"]) == len(ref["losses"]) == 3 * (400 // 32)
        assert max(abs(a - b) for a, b in zip(r["losses"], ref["losses"])) < 1e-5, name
        assert r["val_acc"] == ref["val_acc"]
    assert ref["losses"][-1] < ref["losses"][0] and ref["val_acc"] > 0.3
    assert "max |loss - barebones|" in capsys.readouterr().out


def test_the_guide_shows_the_example():
    guide = (EXAMPLE.parents[1] / "docs" / "three_ways.md").read_text()
    assert "examples/three_ways.py" in guide
    for name in ("barebones_forward", "SmallConvNet", "nn.Sequential", "torch.no_grad()"):
        assert name in guide
