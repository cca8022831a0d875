"""``visionblocks train --model captioning-* --engine torch`` end to end on a tiny offline set
(a twin and both Transformer captioners), ``--resume``, ``visionblocks caption RUN`` on torch
runs, and the one-line errors of options a torch captioner does not take."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

import visionblocks.captioning.specs  # noqa: E402, F401  (registers the captioners)
from visionblocks import cli  # noqa: E402
from visionblocks.model_registry import MODELS  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402

pytestmark = pytest.mark.torch
TINY = ["--engine", "torch", "--device", "cpu", "--wordvec-dim", "8", "--max-length", "16",
        "--batch-size", "40", "--lr", "0.01", "--print-every", "0"]  # fmt: skip
TF = ["--num-heads", "2", "--num-layers", "1", "--dim-feedforward", "16", "--dropout", "0.1"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def caption_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("set")
    argv = ["data", "make", "captions", "--out", str(out), "--n-train", "40", "--n-val", "6",
            "--n-test", "6", "--n-test-combo", "6", "--captions-per-image", "2"]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def _train(caption_set, out, model, *extra):
    return cli.main(["train", "--model", model, "--data", f"captions:{caption_set}",
                     "--out", str(out), *TINY, *extra])  # fmt: skip


def test_the_captioners_are_registered_for_the_torch_engine():
    for cell in ("rnn", "lstm", "gru", "attention"):
        assert MODELS[f"captioning-{cell}"].engines == ("numpy", "torch")
    for name in ("captioning-transformer", "captioning-transformer-grid"):
        spec = MODELS[name]
        assert spec.engines == ("torch",) and spec.runner.whole_run
        assert {"wordvec_dim", "num_heads", "num_layers", "dim_feedforward", "dropout"} <= set(
            spec.option_map)  # fmt: skip
        assert "hidden_dim" not in spec.option_map
    assert MODELS["captioning-transformer-grid"].option_map["image_features"].choices == (
        "grid", "cnn-grid")  # fmt: skip


def test_a_torch_gru_run_resumes_and_captions(caption_set, tmp_path, capsys):
    run = tmp_path / "gru"
    assert _train(caption_set, run, "captioning-gru", "--hidden-dim", "16", "--epochs", "2",
                  "--clip-norm", "5") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "val BLEU-1..4" in out and "test_combo: BLEU-1..4" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["engine"] == "torch" and summary["device"] == "cpu"
    assert summary["model"] == "captioning-gru" and summary["epochs"] == 2
    assert set(summary["test_combo"]) == {"bleu1", "bleu2", "bleu3", "bleu4", "exact"}
    assert '"engine": "torch"' in (run / "last.json").read_text()
    assert cli.main(["train", "--resume", "--out", str(run), "--epochs", "3"]) == 0
    assert "resuming from epoch 2 of 3" in capsys.readouterr().out
    assert [r["epoch"] for r in MetricsLog(run / "metrics.jsonl").read()] == [1, 2, 3]
    assert cli.main(["caption", str(run), "--num", "3"]) == 0
    out = capsys.readouterr().out
    assert "test_combo (6 images, greedy decoding): BLEU-1..4" in out
    rows = json.loads((run / "captions-test_combo.json").read_text())
    assert len(rows) == 3 and len(rows[0]["references"]) == 2
    assert (run / "captions-test_combo.png").stat().st_size > 1000


def test_transformer_runs_train_and_caption_with_greedy_and_beam(caption_set, tmp_path, capsys):
    run = tmp_path / "tf"
    assert _train(caption_set, run, "captioning-transformer", *TF, "--epochs", "2",
                  "--decode", "beam", "--beam-size", "2") == 0  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "captioning-transformer" and summary["decode"] == "beam"
    assert 0 <= summary["test"]["bleu4"] <= 1 and summary["kept_epoch"] in (1, 2)
    capsys.readouterr()
    assert cli.main(["caption", str(run), "--split", "test", "--num", "2",
                     "--decode", "greedy"]) == 0  # fmt: skip
    assert "test (6 images, greedy decoding): BLEU-1..4" in capsys.readouterr().out
    grid = tmp_path / "grid"  # cross-attention over the 8 x 8 grid of 4 x 4 pixel cells
    assert _train(caption_set, grid, "captioning-transformer-grid", *TF, "--epochs", "1") == 0
    summary = json.loads((grid / "summary.json").read_text())
    assert summary["model"] == "captioning-transformer-grid" and "test_combo" in summary
    assert cli.main(["caption", str(grid), "--num", "2", "--decode", "beam"]) == 0
    assert "beam decoding" in capsys.readouterr().out


def test_options_a_torch_captioner_does_not_take_are_one_line_errors(caption_set, tmp_path,
                                                                      capsys):  # fmt: skip
    assert cli.main(["train", "--model", "captioning-transformer", "--engine", "numpy", "--data",
                     f"captions:{caption_set}", "--out", str(tmp_path / "a")]) == 2  # fmt: skip
    assert "torch engine only" in capsys.readouterr().err
    assert _train(caption_set, tmp_path / "b", "captioning-lstm", "--bf16", "true") == 2
    assert "option 'bf16' does not apply" in capsys.readouterr().err
    assert _train(caption_set, tmp_path / "c", "captioning-transformer", "--num-heads", "3") == 2
    assert "num_heads (3) must divide embed_dim (8)" in capsys.readouterr().err
    assert _train(caption_set, tmp_path / "d", "captioning-rnn", "--clip-norm", "1",
                  "--grad-clip", "2") == 2  # fmt: skip
    assert "clip_norm (1.0) and grad_clip (2.0)" in capsys.readouterr().err
    assert not any((tmp_path / x).exists() for x in "abcd")
