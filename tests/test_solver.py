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


# sgd_momentum at 0.3 on these 400 digits: validation accuracy peaks in epoch 5 of 6
_WOBBLY = dict(update_rule="sgd_momentum", optim_config={"learning_rate": 0.3}, num_epochs=6,
               lr_decay=0.9, explode_factor=1e9)  # fmt: skip


def test_the_best_epochs_parameters_are_kept_not_the_last(digits):
    model = _model()
    s = _solver(model, digits, **_WOBBLY).train()
    best = int(np.argmax(s.val_acc_history))
    assert best != len(s.val_acc_history) - 1  # the premise: the last epoch is not the best
    assert s.best_epoch == best + 1
    # the model now classifies the validation set as well as the best epoch did, not the last
    kept = s.check_accuracy(digits["X_val"], digits["y_val"])
    assert kept == s.val_acc_history[best] != s.val_acc_history[-1]
    last = _model()  # the same run stopped at the best epoch ends with those very parameters
    _solver(last, digits, **{**_WOBBLY, "num_epochs": best + 1}).train()
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], last.params[k])
        np.testing.assert_array_equal(s.best_params[k], last.params[k])


def test_resume_after_a_crash_gives_exactly_the_uninterrupted_result(digits, tmp_path):
    reference = _model()
    ref = _solver(reference, digits, **_WOBBLY, out_dir=tmp_path / "ref").train()
    assert ref.best_epoch != ref.num_epochs  # so "last" and "best" differ below

    crashed = _model()
    s = _solver(crashed, digits, **_WOBBLY, out_dir=tmp_path / "run")
    step = s.step

    def crash_in_epoch_four(idx, iteration):
        if s.epoch == 3 and iteration == 3 * 8 + 5:  # mid-epoch, after 3 saved epochs
            raise _Crash
        return step(idx, iteration)

    s.step = crash_in_epoch_four
    with pytest.raises(_Crash):
        s.train()

    resumed = _model()  # a fresh process: new model, new solver, same config
    s2 = _solver(resumed, digits, **_WOBBLY, out_dir=tmp_path / "run", resume=True)
    assert s2.epoch == 3
    s2.train()
    # the last state (weights, batch-norm buffers, optimizer velocity, RNGs, histories) and the
    # best are those of the uninterrupted run
    full, full_meta = load_checkpoint(tmp_path / "ref" / "last")
    part, part_meta = load_checkpoint(tmp_path / "run" / "last")
    assert sorted(full) == sorted(part)
    assert any(k.startswith("optim/") for k in full) and any(k.startswith("best/") for k in full)
    for k in full:
        np.testing.assert_array_equal(part[k], full[k], err_msg=k)
    for key in ("history", "optim", "ranks", "best_val_acc", "best_epoch", "initial_loss"):
        assert part_meta[key] == full_meta[key], key
    for k in reference.params:  # and the model ends with the (same) best parameters
        np.testing.assert_array_equal(resumed.params[k], reference.params[k])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]


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


def test_resume_checks_the_checkpoints_shapes(digits, tmp_path):
    from visionblocks.checkpoint import CheckpointError

    _solver(_model(), digits, num_epochs=1, out_dir=tmp_path).train()
    other = FullyConnectedNet([16, 32], input_dim=64, num_classes=10, seed=0)
    with pytest.raises(
        CheckpointError, match=r"W1 of shape \(64, 32\), the model wants \(64, 16\)"
    ):
        _solver(other, digits, num_epochs=2, out_dir=tmp_path, resume=True)


def test_no_validation_examples_keep_the_last_epoch(digits, capsys):
    data = dict(digits, X_val=digits["X_val"][:0], y_val=digits["y_val"][:0])
    model = _model()
    s = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
               batch_size=50, num_epochs=3, print_every=0, seed=0)  # fmt: skip
    s.train()
    out = capsys.readouterr().out
    assert "no validation examples" in out and "val_acc: n/a" in out
    assert s.val_acc_history == [None] * 3 and s.best_epoch == 3 and s.best_val_acc is None
    with pytest.raises(ValueError, match="at least one example"):
        s.check_accuracy(data["X_val"], data["y_val"])
