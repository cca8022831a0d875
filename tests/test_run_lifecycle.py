"""Run lifecycle through the command line, both engines: no validation split, resume rules,
NaN checkpoints, divergence messages and clean one-line errors (issue 13)."""

import json
import warnings

import numpy as np
import pytest

from visionblocks.checkpoint import load_checkpoint, save_checkpoint
from visionblocks.cli import main

ENGINES = [
    pytest.param([], id="numpy"),
    pytest.param(["--engine", "torch", "--device", "cpu"], id="torch", marks=pytest.mark.torch),
]


@pytest.fixture(autouse=True)
def _one_thread():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _train(out, engine, *extra):
    args = ["train", "--data", "digits", "--hidden-dims", "32", "--epochs", "2",
            "--batch-size", "50", "--print-every", "0", "--out", str(out),
            *engine, *extra]  # fmt: skip
    return main(args)


def _strict(path):
    def refuse(name):
        raise AssertionError(f"{path} holds a bare {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("engine", ENGINES)
def test_no_validation_split_keeps_the_last_epoch_and_says_so(tmp_path, capsys, engine):
    if engine:
        pytest.importorskip("torch")
    out = tmp_path / "run"
    assert _train(out, engine, "--num-val", "0", "--epochs", "3", "--lr", "5e-3") == 0
    printed = capsys.readouterr().out
    assert "no validation examples: the last epoch's" in printed
    summary = _strict(out / "summary.json")
    assert summary["best_val_accuracy"] is None and summary["num_val"] == 0
    assert summary["kept_epoch"] == 3 and "last epoch" in summary["kept"]
    assert _strict(out / "best.json")["best_epoch"] == 3
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["val_acc"] for x in lines] == [None, None, None]
    best, _ = load_checkpoint(out / "best")
    last, _ = load_checkpoint(out / "last")
    for k in best:  # the test accuracy comes from the last epoch's weights
        np.testing.assert_array_equal(best[k], last[k], err_msg=k)
    assert main(["evaluate", str(out)]) == 0
    assert f"test accuracy: {summary['test_accuracy']:.4f}" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ENGINES)
def test_resume_refuses_changed_options_and_continues_with_the_saved_ones(tmp_path, capsys, engine):
    if engine:
        pytest.importorskip("torch")
    out = tmp_path / "run"
    assert _train(out, engine, "--lr", "1e-2") == 0
    saved = (out / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--lr", "1e2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot change lr (0.01 -> 100.0)" in err
    assert (out / "config.json").read_text() == saved  # nothing recorded that was not used
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    assert "resuming from epoch 2 of 3" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 3 and config["lr"] == 0.01
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").open()] == [1, 2, 3]


def test_resume_of_a_directory_holding_no_run_is_an_error(tmp_path, capsys):
    typo = tmp_path / "runs" / "tpyo"
    assert main(["train", "--out", str(typo), "--resume", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "holds no run" in err and str(typo) in err
    assert not typo.exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_weights_are_refused_by_evaluate_and_resume(tmp_path, capsys, engine):
    if engine:
        pytest.importorskip("torch")
    out = tmp_path / "run"
    assert _train(out, engine, "--epochs", "1") == 0
    for stem in ("best", "last"):
        arrays, meta = load_checkpoint(out / stem)
        key = next(k for k in arrays if k.startswith("params/"))
        arrays[key] = np.full_like(arrays[key], np.nan)
        save_checkpoint(out / stem, arrays, meta)  # a consistent pair, NaN weights
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 2
    assert "NaN/inf" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "NaN/inf" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ENGINES)
def test_a_divergence_in_the_first_epoch_does_not_claim_a_checkpoint(tmp_path, capsys, engine):
    if engine:
        pytest.importorskip("torch")
    args = ["--update-rule", "sgd", "--lr", "1e9"]
    assert _train(tmp_path / "run", engine, *args) == 2
    err = capsys.readouterr().err
    assert "No checkpoint was written" in err and "last good checkpoint" not in err
    assert not (tmp_path / "run" / "last.json").exists()


def test_numpy_warnings_do_not_leak_before_the_one_line_error(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would escape main() as an exception
        assert _train(tmp_path / "a", [], "--update-rule", "sgd", "--lr", "inf") == 2
        assert _train(tmp_path / "b", [], "--num-val", "0", "--epochs", "1") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_a_one_pass_model_refuses_resume(tmp_path, capsys):
    out = tmp_path / "svm"
    args = ["train", "--data", "digits", "--model", "svm", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "trains in one pass" in capsys.readouterr().err
