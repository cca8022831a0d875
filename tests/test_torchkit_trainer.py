"""The torch Trainer: reproducibility, the run directory, exact resume, safety stops, options."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.data import load_dataset  # noqa: E402
from visionblocks.errors import ConfigError, TrainingDivergedError  # noqa: E402
from visionblocks.torchkit import Trainer  # noqa: E402
from visionblocks.torchkit import models as tm  # noqa: E402
from visionblocks.torchkit.optim import make_lr_schedule, make_optimizer, one_cycle  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", num_train=300, seed=0)


def _model(keep=0.8, normalization="batchnorm"):
    return tm.FullyConnectedNet([32], input_dim=64, num_classes=10, dropout_keep_ratio=keep,
                                normalization=normalization, init="he", seed=0)  # fmt: skip


def _trainer(model, data, **kw):
    opts = dict(update_rule="adam", lr=2e-3, batch_size=50, epochs=3, verbose=False, seed=0,
                device="cpu")  # fmt: skip
    return Trainer(model, data, **{**opts, **kw})


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_same_training(digits):
    a, b = _model(), _model()
    _trainer(a, digits, augment=["crop", "flip"]).train()
    _trainer(b, digits, augment=["crop", "flip"]).train()
    for k, v in _state(a).items():
        torch.testing.assert_close(v, _state(b)[k], rtol=0, atol=0)


def test_histories_run_directory_and_best_weights(digits, tmp_path):
    model = _model()
    t = _trainer(model, digits, out_dir=tmp_path, lr=1e-2, schedule="cosine", warmup_epochs=1)
    t.train()
    assert len(t.loss_history) == 3 * (300 // 50) and len(t.val_acc_history) == 3
    assert t.best_val_acc == max(t.val_acc_history) and t.best_val_acc > 0.5
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    assert {"loss", "train_acc", "val_acc", "lr", "seconds", "images_per_sec"} <= set(lines[0])
    best = np.load(tmp_path / "best.npz", allow_pickle=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(best[f"params/{k}"], v.numpy())
    assert t.check_accuracy(digits["X_val"], digits["y_val"]) == pytest.approx(t.best_val_acc)


def test_keep_last_ends_with_the_last_epochs_weights(digits, tmp_path):
    # lr large enough that validation accuracy moves from epoch to epoch
    best = _trainer(_model(), digits, lr=5e-2, epochs=4)
    best.train()
    model = _model()
    last = _trainer(model, digits, lr=5e-2, epochs=4, keep="last", out_dir=tmp_path)
    last.train()
    assert last.val_acc_history == best.val_acc_history  # the same training...
    assert last.best_val_acc == last.val_acc_history[-1]  # ...keeping the last epoch
    assert last.check_accuracy(digits["X_val"], digits["y_val"]) == last.val_acc_history[-1]
    saved = np.load(tmp_path / "best.npz", allow_pickle=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(saved[f"params/{k}"], v.numpy())


@pytest.mark.parametrize("rule", ["sgd_momentum", "adamw"])
def test_resume_reaches_exactly_the_uninterrupted_weights(digits, tmp_path, rule):
    full = _model()
    _trainer(full, digits, update_rule=rule, epochs=3, augment=["crop", "erase"],
             out_dir=tmp_path / "full", weight_decay=1e-3).train()  # fmt: skip
    part = _model()
    _trainer(part, digits, update_rule=rule, epochs=2, augment=["crop", "erase"],
             out_dir=tmp_path / "part", weight_decay=1e-3).train()  # fmt: skip
    resumed = _model(keep=0.8)
    t = _trainer(resumed, digits, update_rule=rule, epochs=3, augment=["crop", "erase"],
                 out_dir=tmp_path / "part", weight_decay=1e-3, resume=True)  # fmt: skip
    assert t.epoch == 2
    t.train()
    last_full = np.load(tmp_path / "full" / "last.npz")
    last_part = np.load(tmp_path / "part" / "last.npz")
    for k in last_full.files:
        if k.startswith(("params/", "best/", "optim/")):
            np.testing.assert_array_equal(last_full[k], last_part[k], err_msg=k)
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "part" / "metrics.jsonl").open()]
    assert epochs == [1, 2, 3]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_weights(digits, tmp_path):
    model = _model(keep=1, normalization=None)
    t = _trainer(model, digits, update_rule="sgd", lr=1e9, epochs=2, out_dir=tmp_path)
    before = _state(model)
    with pytest.raises(TrainingDivergedError, match="Lower the learning rate"):
        t.train()
    for k, v in _state(model).items():
        torch.testing.assert_close(v, before[k])


@pytest.mark.parametrize(
    "kw, error, message",
    [
        ({"update_rule": "adamax"}, ConfigError, "unknown update rule 'adamax'"),
        ({"lr": -1.0}, ConfigError, "lr must be >= 0"),
        ({"batch_size": 5000}, ConfigError, "larger than the 300 training examples"),
        ({"augment": ["rotate"]}, ConfigError, "unknown augmentation"),
        ({"schedule": "linear"}, ConfigError, "unknown schedule"),
        ({"label_smoothing": 1.0}, ConfigError, "label_smoothing"),
        ({"momentun": 0.9}, TypeError, "unrecognised Trainer arguments: momentun"),
        ({"keep": "first"}, ConfigError, "keep must be 'best' or 'last'"),
    ],
)
def test_bad_options_are_refused(digits, kw, error, message):
    with pytest.raises(error, match=message):
        _trainer(_model(), digits, **kw)


def _one_full_batch_sgd_step(digits, **kw):
    """A float64 net, its weights before, and the Trainer after one full-batch SGD step."""
    model = tm.FullyConnectedNet([16], input_dim=64, num_classes=10, dtype=np.float64,
                                 init="he", seed=0)  # fmt: skip
    before = _state(model)
    t = _trainer(model, digits, epochs=1, batch_size=300, update_rule="sgd", lr=0.5,
                 keep="last", **kw)  # fmt: skip
    return model, before, t.train()


def _full_batch_grads(model, state, digits, label_smoothing=0.0):
    """The loss and gradients of ``state`` on the 300 training digits, computed directly."""
    model.load_state_dict(state)
    x = torch.as_tensor(digits["X_train"], dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(
        model(x), torch.as_tensor(digits["y_train"]), label_smoothing=label_smoothing
    )
    model.zero_grad()
    loss.backward()
    return float(loss.detach()), {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize("clip", [1e-2, 1e3])  # active, and too large to act
def test_grad_clip_scales_the_global_gradient_norm_down_to_the_limit(digits, clip):
    model, before, t = _one_full_batch_sgd_step(digits, grad_clip=clip)
    after = _state(model)
    _, grads = _full_batch_grads(model, before, digits)
    norm = float(torch.sqrt(sum((g**2).sum() for g in grads.values())))
    scale = min(1.0, clip / norm)  # one factor for all parameters: the global norm
    assert norm > 1e-2  # so the small limit really clips
    steps = {k: (before[k] - after[k]) / 0.5 for k in grads}  # the applied (clipped) gradient
    for k, g in grads.items():
        atol = 1e-6 * scale * float(g.abs().max())  # the Trainer's loss is float32
        torch.testing.assert_close(steps[k], scale * g, rtol=1e-5, atol=atol)
    applied = float(torch.sqrt(sum((s**2).sum() for s in steps.values())))
    assert applied == pytest.approx(min(clip, norm), rel=1e-5)


def test_label_smoothing_loss_is_the_closed_form(digits):
    eps = 0.3
    model, before, t = _one_full_batch_sgd_step(digits, label_smoothing=eps)
    after = _state(model)
    model.load_state_dict(before)
    with torch.no_grad():
        scores = model(torch.as_tensor(digits["X_train"], dtype=torch.float64)).numpy()
    logp = scores - scores.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))  # (N, C) log-probabilities
    y = digits["y_train"]
    # targets (1 - eps) * one_hot + eps / C: loss = -(1 - eps) log p_y - eps * mean_c log p_c
    want = np.mean(-(1 - eps) * logp[np.arange(len(y)), y] - eps * logp.mean(1))
    assert t.loss_history[0] == pytest.approx(want, rel=1e-6)  # the Trainer's loss is float32
    assert abs(want - np.mean(-logp[np.arange(len(y)), y])) > 0.01  # 10^4 x the tolerance
    _, grads = _full_batch_grads(model, before, digits, label_smoothing=eps)
    for k, g in grads.items():
        atol = 1e-6 * float(g.abs().max())
        torch.testing.assert_close((before[k] - after[k]) / 0.5, g, rtol=1e-5, atol=atol)


def test_bf16_channels_last_and_clipping_train_a_resnet(digits):
    model = tm.ResNet((1, 8, 8), 10, widths=(8, 16), blocks=(1, 1), seed=0)
    t = _trainer(model, digits, epochs=1, bf16=True, channels_last=True, grad_clip=1.0,
                 label_smoothing=0.1, update_rule="nesterov", lr=0.05)  # fmt: skip
    t.train()
    assert np.isfinite(t.loss_history).all() and 0.0 <= t.val_acc_history[0] <= 1.0


def test_resnet_shapes_and_seed():
    a, b = tm.ResNet((1, 28, 28), 10, seed=1), tm.ResNet((1, 28, 28), 10, seed=1)
    torch.testing.assert_close(a.stem[0].weight, b.stem[0].weight)
    assert a(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="widths and blocks"):
        tm.ResNet(widths=(8, 16), blocks=(1,))


def test_schedules():
    f = one_cycle(1.0, 100)
    assert f(0) == pytest.approx(1 / 25) and f(29) == pytest.approx(1.0)  # as OneCycleLR
    assert f(99) == pytest.approx(1 / 25e4) and max(f(s) for s in range(100)) <= 1.0
    decay = make_lr_schedule(None, 1.0, 100, lr_decay=0.5, steps_per_epoch=10)
    assert decay(9) == 1.0 and decay(10) == 0.5
    warm = make_lr_schedule("cosine", 1.0, 100, warmup_steps=10)
    assert warm(0) == 0.0 and warm(5) == pytest.approx(0.5 * warm(10))


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop",
                                  "adam", "adamw"])  # fmt: skip
def test_every_optimizer_lowers_a_quadratic(name):
    w = torch.nn.Parameter(torch.ones(3))
    opt = make_optimizer(name, [w], 0.1, weight_decay=0.0)
    for _ in range(20):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum().detach()) < 3.0


def test_training_leaves_the_callers_random_state_alone(digits):
    trainer = _trainer(_model(), digits, epochs=1)  # building modules draws from torch's RNG
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer.train()
    torch.testing.assert_close(torch.rand(3), expected)


def test_a_float64_twin_trains_on_float64_inputs(digits):
    model = tm.FullyConnectedNet([8], input_dim=64, num_classes=10, dtype=np.float64, seed=0)
    t = _trainer(model, digits, epochs=1).train()
    assert t.X_train.dtype == torch.float64 and np.isfinite(t.loss_history).all()


def test_tta_flip_averages_the_mirror_probabilities(digits):
    model = tm.ResNet((1, 8, 8), 10, widths=(8,), blocks=(1,), seed=0)
    t = _trainer(model, digits, epochs=1, tta_flip=True, augment=["flip"])
    t.train()
    X = digits["X_val"][:50]
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32)
        probs = model(x).softmax(1) + model(x.flip(-1)).softmax(1)
    np.testing.assert_array_equal(t.predict(X), probs.argmax(1).numpy())
    # a mirror-symmetric batch is scored exactly as without test-time augmentation
    sym = np.concatenate([X[..., :4], X[..., :4][..., ::-1]], axis=-1)
    t.tta_flip = False
    plain = t.predict(sym)
    t.tta_flip = True
    np.testing.assert_array_equal(t.predict(sym), plain)


def test_tta_flip_needs_images(digits):
    flat = {k: (v.reshape(len(v), -1) if k.startswith("X_") else v) for k, v in digits.items()}
    with pytest.raises(ConfigError, match="tta_flip mirrors images"):
        _trainer(_model(), flat, tta_flip=True)


def test_rng_state_round_trip_restores_the_next_draws():
    from visionblocks.torchkit import checkpoint as ckpt

    cpu = torch.device("cpu")
    with torch.random.fork_rng():
        state, cuda = ckpt.get_rng_state(cpu)
        assert cuda is None  # the device generator is saved only on CUDA
        first = torch.rand(5)
        saved = torch.from_numpy(ckpt.to_array(state))  # as a checkpoint stores it
        torch.rand(7)
        ckpt.set_rng_state(saved, None, cpu)
        torch.testing.assert_close(torch.rand(5), first, rtol=0, atol=0)
    assert ckpt.seeded_cuda_state(cpu, 3) is None


def test_resume_checks_the_checkpoints_shapes(digits, tmp_path):
    from visionblocks.checkpoint import CheckpointError

    _trainer(_model(), digits, epochs=1, out_dir=tmp_path).train()
    other = tm.FullyConnectedNet([16], input_dim=64, num_classes=10, dropout_keep_ratio=0.8,
                                 normalization="batchnorm", init="he", seed=0)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"shape \(64, 32\).*wants \(64, 16\)|shape"):
        _trainer(other, digits, epochs=2, out_dir=tmp_path, resume=True)


def test_resume_restores_the_per_rank_generators_and_histories(digits, tmp_path):
    t = _trainer(_model(), digits, epochs=2, out_dir=tmp_path, augment=["crop"])
    t.train()
    resumed = _trainer(_model(), digits, epochs=2, out_dir=tmp_path, augment=["crop"],
                       resume=True)  # fmt: skip
    assert resumed.epoch == 2 and resumed.val_acc_history == t.val_acc_history
    torch.testing.assert_close(resumed.torch_rng, t.torch_rng, rtol=0, atol=0)
    torch.testing.assert_close(resumed.aug_gen.get_state(), t.aug_gen.get_state(), rtol=0, atol=0)
    assert resumed.rng.bit_generator.state == t.rng.bit_generator.state
