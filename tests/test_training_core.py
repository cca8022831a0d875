"""The training core: the worked example resumes exactly, state round trips, run files."""

import inspect
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from visionblocks.checkpoint import (
    CheckpointError,
    atomic_write_json,
    load_checkpoint,
    save_checkpoint,
)
from visionblocks.errors import ConfigError, TrainingDivergedError
from visionblocks.training import (
    MetricsLog,
    check_divergence,
    check_resume_options,
    open_run_dir,
    write_summary,
)
from visionblocks.training import example as ex
from visionblocks.training import state as S

DOC = Path(__file__).resolve().parents[1] / "docs" / "training_core.md"


def _points(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)  # (n,)
    return x, 2.0 * x - 0.5 + 0.1 * rng.standard_normal(n)  # (n,)


def _fit(tmp_path=None, **kw):
    x, y = _points(0)
    xv, yv = _points(1, 32)
    return ex.LineFit(x, y, xv, yv, lr=0.3, epochs=6, seed=0, verbose=False,
                      out_dir=tmp_path, **kw)  # fmt: skip


class _Crash(Exception):
    pass


def test_the_worked_example_crashed_mid_epoch_and_resumed_equals_the_uninterrupted_run(tmp_path):
    full = _fit(tmp_path / "full").train()
    assert full.epoch == 6 and len(full.loss_history) == 6 * 8
    assert full.history("val_mse")[-1] < full.history("val_mse")[0]

    run = _fit(tmp_path / "run")
    step = run.step

    def crash(idx, iteration):
        if iteration == 3 * 8 + 4:  # in epoch 4, after three saved epochs
            raise _Crash
        return step(idx, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = _fit(tmp_path / "run", resume=True)  # a new process: new object, same options
    assert resumed.epoch == 3
    resumed.train()
    np.testing.assert_array_equal(resumed.w, full.w)
    assert resumed.loss_history == full.loss_history
    a, meta_a = load_checkpoint(tmp_path / "full" / "last")
    b, meta_b = load_checkpoint(tmp_path / "run" / "last")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert meta_a["ranks"] == meta_b["ranks"] and meta_a["history"] == meta_b["history"]
    logs = [MetricsLog(tmp_path / d / "metrics.jsonl").read() for d in ("full", "run")]
    assert [r["epoch"] for r in logs[1]] == [1, 2, 3, 4, 5, 6]
    assert [r["val_mse"] for r in logs[0]] == [r["val_mse"] for r in logs[1]]


def test_the_example_keeps_its_lowest_validation_epoch(tmp_path):
    fit = _fit(tmp_path, keep="best")
    fit.train()
    mse = fit.history("val_mse")
    assert fit.best_epoch == int(np.argmin(mse)) + 1 and fit.best_score == min(mse)
    best, meta = load_checkpoint(tmp_path / "best")
    np.testing.assert_array_equal(best["w"], fit.w)
    assert meta["best_epoch"] == fit.best_epoch and meta["loop"] == "LineFit"


def test_the_docs_show_the_example_that_the_tests_run():
    text = DOC.read_text()
    block = re.search(r"```python\n(class LineFit.*?)```", text, re.S).group(1)
    assert block.strip() == inspect.getsource(ex.LineFit).strip()
    for hook in ("batches", "step", "end_epoch", "model_state", "load_model_state"):
        assert f"``{hook}" in text or f"`{hook}" in text


def test_hooks_see_every_epochs_record():
    seen = []
    _fit(hooks=[lambda loop, record: seen.append((loop.epoch, sorted(record)))]).train()
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[0][1] == ["epoch", "loss", "seconds", "val_mse"]


def test_a_divergence_restores_the_epochs_start_and_says_whether_a_checkpoint_exists(tmp_path):
    fit = _fit(tmp_path, explode_factor=3.0)
    fit.lr = 50.0  # explodes within the first epoch
    with pytest.raises(TrainingDivergedError, match="No checkpoint was written") as e:
        fit.train()
    assert "last good checkpoint" not in str(e.value)
    np.testing.assert_array_equal(fit.w, np.zeros(2))
    with pytest.raises(TrainingDivergedError, match=r"checkpoint \(epoch 2\) is kept"):
        check_divergence(float("nan"), 1.0, 3.0, epoch=2, iteration=40, out_dir=tmp_path)
    with pytest.raises(TrainingDivergedError) as e:
        check_divergence(10.0, 1.0, 3.0, epoch=0, iteration=1)  # no run directory: no word
    assert "checkpoint" not in str(e.value)


def test_resume_refuses_a_checkpoint_of_another_shape_or_loop(tmp_path):
    _fit(tmp_path).train()
    arrays, meta = load_checkpoint(tmp_path / "last")
    save_checkpoint(tmp_path / "last", {**arrays, "w": np.zeros(3)}, meta)
    with pytest.raises(CheckpointError, match=r"w of shape \(3,\), the model wants \(2,\)"):
        _fit(tmp_path, resume=True)
    save_checkpoint(tmp_path / "last", arrays, {**meta, "loop": "Solver"})
    with pytest.raises(CheckpointError, match="written by 'Solver', not 'LineFit'"):
        _fit(tmp_path, resume=True)


def test_nan_weights_are_refused_on_load(tmp_path):
    save_checkpoint(tmp_path / "ck", {"params/W1": np.array([1.0, np.nan])}, {"epoch": 1})
    with pytest.raises(CheckpointError, match="NaN/inf in 'params/W1'"):
        load_checkpoint(tmp_path / "ck")
    arrays, _ = load_checkpoint(tmp_path / "ck", allow_nonfinite=True)
    assert np.isnan(arrays["params/W1"][1])


def test_state_flattens_to_arrays_and_json_and_back():
    state = {"optim": {"W1": {"m": np.arange(3.0), "t": 4, "lr": 0.1}}, "note": [1, 2]}
    arrays, meta = S.flatten(state)
    assert sorted(arrays) == ["optim/W1/m"] and meta == {"optim": {"W1": {"t": 4, "lr": 0.1}},
                                                          "note": [1, 2]}  # fmt: skip
    back = S.unflatten(arrays, meta)
    np.testing.assert_array_equal(back["optim"]["W1"]["m"], np.arange(3.0))
    assert back["optim"]["W1"]["t"] == 4 and back["note"] == [1, 2]
    rng = np.random.default_rng(3)
    saved = json.loads(json.dumps(S.generator_state(rng)))
    first = rng.random(4)
    S.set_generator_state(rng, saved)
    np.testing.assert_array_equal(rng.random(4), first)


def test_resume_options_rule():
    saved = {"lr": 0.01, "epochs": 5, "model": "fc", "print_every": 10, "hidden_dims": [64]}
    check_resume_options(saved, {**saved, "epochs": 12, "print_every": 1})  # may change
    with pytest.raises(ConfigError, match=r"cannot change lr \(0\.01 -> 100\.0\)"):
        check_resume_options(saved, {**saved, "epochs": 12, "lr": 100.0})
    with pytest.raises(ConfigError, match="hidden_dims"):
        check_resume_options(saved, {**saved, "hidden_dims": (32,)})
    check_resume_options(saved, {**saved, "hidden_dims": (64,)})  # a tuple is the same list


def test_run_dir_refuses_overwrite_and_a_resume_of_nothing(tmp_path):
    run = open_run_dir(tmp_path / "run", {"lr": 0.1}, resume=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        open_run_dir(run, {"lr": 0.1}, resume=False)
    open_run_dir(run, {"lr": 0.1}, resume=True)
    with pytest.raises(ConfigError, match="holds no run"):
        open_run_dir(tmp_path / "typo", {"lr": 0.1}, resume=True)
    assert not (tmp_path / "typo").exists()


def test_json_is_strict(tmp_path):
    with pytest.raises(ValueError, match="NaN/inf into .*summary.json"):
        write_summary(tmp_path, {"best_val_accuracy": float("nan")})
    with pytest.raises(ValueError, match="NaN/inf"):
        MetricsLog(tmp_path / "metrics.jsonl").append({"epoch": 1, "val_acc": float("inf")})
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_run_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        fit = _fit(tmp_path / "run")
        fit.train()
        log = MetricsLog(tmp_path / "run" / "metrics.jsonl")
        log.trim(3)  # rewritten atomically
        write_summary(tmp_path / "run", {"ok": True})
        atomic_write_json(tmp_path / "run" / "config.json", {"lr": 0.1})
    finally:
        os.umask(old)
    files = ["last.npz", "last.json", "best.npz", "best.json", "metrics.jsonl", "summary.json",
             "config.json"]  # fmt: skip
    for name in files:
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == mode, name
