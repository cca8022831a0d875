"""SSL pretraining on the core and the evaluation protocols: the kNN monitor on separable
features, label subsets, every method trains, exact resume after a crash, the divergence
stop, the linear probe and fine-tuning."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from visionblocks.checkpoint import load_checkpoint  # noqa: E402
from visionblocks.errors import ConfigError, TrainingDivergedError  # noqa: E402
from visionblocks.ssl import evaluate as E  # noqa: E402
from visionblocks.ssl.pretrain import METHODS, Pretrainer, build_method  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402

WIDTHS = (4, 8, 8)


def _data(n=64, nv=24, h=8, seed=0):
    """Two classes of small noisy images: horizontal or vertical stripes."""
    rng = np.random.default_rng(seed)

    def make(m):
        y = rng.integers(0, 2, m)
        X = 0.2 * rng.random((m, 1, h, h)).astype(np.float32)
        for i, c in enumerate(y):
            if c:
                X[i, 0, ::2, :] += 0.7
            else:
                X[i, 0, :, ::2] += 0.7
        return X, y.astype(np.int64)

    X, y = make(n)
    Xv, yv = make(nv)
    Xt, yt = make(nv)
    return {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv, "X_test": Xt, "y_test": yt}


def test_weighted_knn_on_separable_toy_features():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16) * 5  # 4 well-separated directions
    y = rng.integers(0, 4, 400)
    bank = centres[y] + 0.5 * rng.standard_normal((400, 16))
    yq = rng.integers(0, 4, 100)
    q = centres[yq] + 0.5 * rng.standard_normal((100, 16))
    assert E.knn_accuracy(bank, y, q, yq, 4, k=200, tau=0.07) == 1.0
    # the votes are exp(s / tau)-weighted: one very similar neighbour outvotes two distant ones
    bank2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    pred = E.weighted_knn_predict(bank2, np.array([0, 1, 1]), np.array([[1.0, 0.05]]), 2, k=3)
    assert pred.tolist() == [0]
    majority = E.weighted_knn_predict(bank2, np.array([0, 1, 1]), np.array([[1.0, 0.9]]), 2, k=3)
    assert majority.tolist() == [1]
    with pytest.raises(ConfigError, match="tau"):
        E.weighted_knn_predict(bank2, np.array([0, 1, 1]), bank2, 2, tau=0)


def test_label_subsets_are_class_balanced_and_seeded():
    y = np.repeat(np.arange(10), 100)
    idx = E.label_subset(y, "1%", seed=0)
    assert len(idx) == 10 and np.bincount(y[idx]).tolist() == [1] * 10
    idx10 = E.label_subset(y, "10%", seed=3)
    assert np.bincount(y[idx10]).tolist() == [10] * 10
    assert np.array_equal(idx10, E.label_subset(y, "10%", seed=3))
    assert not np.array_equal(idx10, E.label_subset(y, "10%", seed=4))
    assert len(E.label_subset(y, "all")) == 1000 and len(E.label_subset(y, "200")) == 200
    for bad in ("0%", "abc", "150%"):
        with pytest.raises(ConfigError, match="labels"):
            E.parse_labels(bad)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_pretrains_and_logs_the_knn_monitor(method, tmp_path):
    data = _data()
    model = build_method(method, widths=WIDTHS, queue_size=32)
    loop = Pretrainer(model, data, method=method, epochs=1, batch_size=16, lr=1e-3,
                      knn_k=10, verbose=False, out_dir=tmp_path)  # fmt: skip
    loop.train()
    rec = MetricsLog(tmp_path / "metrics.jsonl").read()
    assert len(rec) == 1 and 0 <= rec[0]["knn_acc"] <= 1 and np.isfinite(rec[0]["loss"])
    assert len(loop.loss_history) == 4


def _simclr(out, **kw):
    model = build_method("simclr", widths=WIDTHS, seed=1)
    return Pretrainer(model, _data(), method="simclr", epochs=3, batch_size=16, knn_k=10,
                      verbose=False, out_dir=out, **kw)  # fmt: skip


class _Crash(Exception):
    pass


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_crashed_and_resumed_equals_the_uninterrupted_run(method, tmp_path):
    def make(out, **kw):
        model = build_method(method, widths=WIDTHS, seed=1, queue_size=24)
        return Pretrainer(model, _data(), method=method, epochs=3, batch_size=16, knn_k=10,
                          verbose=False, out_dir=out, **kw)  # fmt: skip

    full = make(tmp_path / "full").train()
    run = make(tmp_path / "run")
    step = run.step

    def crash(idx, iteration):
        if iteration == 4 + 2:  # in epoch 2, after one saved epoch
            raise _Crash
        return step(idx, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = make(tmp_path / "run", resume=True)
    assert resumed.epoch == 1
    resumed.train()
    assert resumed.loss_history == full.loss_history
    a, _ = load_checkpoint(tmp_path / "full" / "last")
    b, _ = load_checkpoint(tmp_path / "run" / "last")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    logs = [MetricsLog(tmp_path / d / "metrics.jsonl").read() for d in ("full", "run")]
    assert [r["knn_acc"] for r in logs[0]] == [r["knn_acc"] for r in logs[1]]


def test_divergence_stops_and_restores_the_last_good_epoch(tmp_path):
    loop = _simclr(tmp_path)
    real = loop.model.loss
    calls = {"n": 0}

    def loss(x, gen, augment):
        calls["n"] += 1
        out = real(x, gen, augment)
        return out * float("nan") if calls["n"] == 6 else out

    loop.model.loss = loss
    with pytest.raises(TrainingDivergedError, match="epoch 2"):
        loop.train()
    after = loop.model_state()
    saved, _ = load_checkpoint(tmp_path / "last")
    for k, v in after.items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)


def test_probe_and_fine_tune_report_their_protocol():
    data = _data(n=80)
    enc = build_method("simclr", widths=WIDTHS).encoder
    idx = E.label_subset(data["y_train"], "all")
    probe = E.linear_probe(enc, data, idx, regs=(1e-4, 1e-2), max_iter=50)
    assert probe["val_acc"] > 0.8 and probe["test_acc"] > 0.8  # separable even at random init
    assert "frozen encoder" in probe["protocol"] and "L-BFGS" in probe["protocol"]
    before = [p.clone() for p in enc.parameters()]
    small = E.label_subset(data["y_train"], "20", seed=0)
    ft = E.fine_tune(enc, data, small, epochs=3, lr=1e-2, device="cpu")
    assert ft["n_labels"] == 20 and 0 <= ft["test_acc"] <= 1 and "20 labelled" in ft["protocol"]
    assert all(torch.equal(a, b) for a, b in zip(before, enc.parameters(), strict=True))


def test_bad_options_are_named():
    with pytest.raises(ConfigError, match="method"):
        build_method("byol")
    with pytest.raises(ConfigError, match="batch_size"):
        Pretrainer(build_method("simclr", widths=WIDTHS), _data(), method="simclr",
                   batch_size=1, verbose=False)  # fmt: skip
    with pytest.raises(TypeError, match="lrr"):
        Pretrainer(build_method("simclr", widths=WIDTHS), _data(), lrr=1)
