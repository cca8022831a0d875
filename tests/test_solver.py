"""The Solver: reproducibility, schedules, safety stops, checkpoints and exact resume."""

import json

import numpy as np
import pytest

from visionblocks.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from visionblocks.data import load_dataset
from visionblocks.errors import TrainingDivergedError
from visionblocks.models import FullyConnectedNet
from visionblocks.solver import Solver


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", num_train=400, seed=0)


def _model(normalization="batchnorm", keep=0.8):
    return FullyConnectedNet(
        [32, 32], input_dim=64, num_classes=10, normalization=normalization,
        dropout_keep_ratio=keep, init="he", seed=0,
    )  # fmt: skip


def _solver(model, data, **kw):
    opts = dict(update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=50,
                num_epochs=4, verbose=False, seed=0)  # fmt: skip
    opts.update(kw)
    return Solver(model, data, **opts)


def test_same_seed_same_training(digits):
    a, b = _model(), _model()
    _solver(a, digits).train()
    _solver(b, digits).train()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_histories_and_best_params(digits):
    model = _model()
    s = _solver(model, digits, num_epochs=3, lr_decay=0.5).train()
    assert len(s.loss_history) == 3 * (400 // 50)
    assert len(s.val_acc_history) == len(s.train_acc_history) == 3
    assert s.best_val_acc == max(s.val_acc_history)
    assert s.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-3 * 0.5**3)
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], s.best_params[k])


def test_schedule_sets_the_learning_rate_each_iteration(digits):
    s = _solver(_model(), digits, num_epochs=2, lr_schedule=lambda it: 1e-3 / (1 + it))
    s.train()
    assert s.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-3 / 16)
    assert s.lr_history == pytest.approx([1e-3 / 8, 1e-3 / 16])


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    model = _model(normalization=None, keep=1)
    s = _solver(model, digits, out_dir=tmp_path, num_epochs=3)
    s.train()
    good = {k: v.copy() for k, v in model.params.items()}
    data = dict(digits, X_train=digits["X_train"].copy())
    data["X_train"][7] = np.nan
    s2 = _solver(model, data, out_dir=tmp_path, num_epochs=5, resume=True)
    with pytest.raises(TrainingDivergedError, match="NaN/inf.*last good checkpoint"):
        s2.train()
    for k in good:  # restored to the end of the last good epoch
        assert np.all(np.isfinite(model.params[k]))
        np.testing.assert_array_equal(model.params[k], good[k])
    arrays, meta = load_checkpoint(tmp_path / "last")
    assert meta["epoch"] == 3 and all(np.isfinite(v).all() for v in arrays.values())


def test_exploding_loss_stops(digits):
    s = _solver(_model(normalization=None, keep=1), digits, update_rule="sgd",
                optim_config={"learning_rate": 50.0})  # fmt: skip
    with pytest.raises(TrainingDivergedError, match="exploded|NaN"):
        s.train()


class _Crash(Exception):
    pass


def test_resume_after_a_crash_gives_exactly_the_uninterrupted_result(digits, tmp_path):
    reference = _model()
    _solver(reference, digits, num_epochs=5, lr_decay=0.9).train()

    crashed = _model()
    s = _solver(crashed, digits, num_epochs=5, lr_decay=0.9, out_dir=tmp_path)
    end_epoch = s._end_epoch

    def crash_after_three(*args):
        end_epoch(*args)
        if s.epoch == 3:
            raise _Crash

    s._end_epoch = crash_after_three
    with pytest.raises(_Crash):
        s.train()

    resumed = _model()  # a fresh process: new model, new solver, same config
    s2 = _solver(resumed, digits, num_epochs=5, lr_decay=0.9, out_dir=tmp_path, resume=True)
    assert s2.epoch == 3
    s2.train()
    for k in reference.params:
        np.testing.assert_array_equal(resumed.params[k], reference.params[k])
    for k, v in reference.buffers().items():
        np.testing.assert_array_equal(resumed.buffers()[k], v)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]


def test_checkpoints_detect_a_torn_pair(tmp_path):
    save_checkpoint(tmp_path / "ck", {"a": np.arange(3)}, {"epoch": 1})
    arrays, meta = load_checkpoint(tmp_path / "ck")
    assert meta["epoch"] == 1 and arrays["a"].tolist() == [0, 1, 2]
    save_checkpoint(tmp_path / "other", {"a": np.arange(4)}, {"epoch": 2})
    (tmp_path / "ck.npz").write_bytes((tmp_path / "other.npz").read_bytes())
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_solver_arguments(digits):
    with pytest.raises(ValueError, match="larger than the 400 training examples"):
        _solver(_model(), digits, batch_size=401)
    with pytest.raises(TypeError, match="unrecognised Solver arguments: learning_rate"):
        _solver(_model(), digits, learning_rate=1.0)
    with pytest.raises(KeyError, match="X_val"):
        Solver(_model(), {"X_train": digits["X_train"], "y_train": digits["y_train"]})


def test_resume_trims_metrics_written_after_the_last_checkpoint(digits, tmp_path):
    _solver(_model(), digits, num_epochs=2, out_dir=tmp_path).train()
    with open(tmp_path / "metrics.jsonl", "a") as f:  # a crash after the line, before the save
        f.write(json.dumps({"epoch": 3, "loss": -1.0}) + "\n")
    _solver(_model(), digits, num_epochs=3, out_dir=tmp_path, resume=True).train()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3] and lines[-1]["loss"] > 0


def test_a_fresh_run_in_a_used_directory_starts_its_metrics_afresh(digits, tmp_path):
    _solver(_model(), digits, num_epochs=2, out_dir=tmp_path).train()
    _solver(_model(), digits, num_epochs=1, out_dir=tmp_path).train()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
