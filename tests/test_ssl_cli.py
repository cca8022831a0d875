"""``visionblocks pretrain`` and ``visionblocks probe`` end to end on a small digits run."""

import json

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from visionblocks.cli import main  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402

SMALL = ["--data", "digits", "--num-train", "200", "--batch-size", "32", "--widths", "4,8,8",
         "--knn-bank", "200", "--knn-val", "100", "--quiet"]  # fmt: skip


@pytest.mark.slow
def test_pretrain_resume_and_probe(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["pretrain", "--method", "rotation", *SMALL, "--out", str(out)]
    assert main([*args, "--epochs", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["method"] == "rotation"
    assert main([*args, "--epochs", "1"]) == 2  # a run is there: refused without --resume
    assert "already holds a run" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--lr", "0.1", "--resume"]) == 2
    assert "--resume cannot change lr" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    assert [r["epoch"] for r in MetricsLog(out / "metrics.jsonl").read()] == [1, 2]
    assert (out / "knn_monitor.png").is_file() and (out / "summary.json").is_file()
    capsys.readouterr()
    assert main(["probe", str(out), "--labels", "10%", "--probe-iters", "20",
                 "--finetune-epochs", "1"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "linear probe, random-init encoder" in text and "from scratch" in text
    res = json.loads((out / "probe_10pct.json").read_text())
    assert res["n_labels"] == 20 and len(res["results"]) == 4
    assert all(r["test_acc"] is None for r in res["results"].values())  # --test not given
    assert main(["probe", str(out), "--labels", "7 percent"]) == 2
