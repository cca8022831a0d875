"""ThreeLayerConvNet and ConvNet: gradients, initial loss, overfitting, shapes, config runs."""

import json

import numpy as np
import pytest

from visionblocks.cli import main
from visionblocks.config import config_from_dict
from visionblocks.errors import ConfigError, ShapeError
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.models import ConvNet, ThreeLayerConvNet
from visionblocks.runs import build_model
from visionblocks.solver import Solver

CONVNETS = {
    "batchnorm": {},
    "plain": {"normalization": None},
    "groupnorm": {"normalization": "groupnorm", "groups": 2},
    "residual": {"residual": True, "global_pool": True},
    "dropout": {"dropout_keep": 0.7},
}


def _check_gradients(model, X, y):
    """Compares every gradient with central differences; a gradient that is zero in theory (a
    bias just before a normalisation) is checked in absolute terms."""
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, value in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], value, verbose=False, h=1e-5)
        if max(np.abs(num).max(), np.abs(grads[name]).max()) < 1e-9:
            continue
        assert rel_error(num, grads[name]) < 1e-5, name


def test_three_layer_convnet_gradients(rng):
    model = ThreeLayerConvNet((2, 6, 6), 3, 3, 7, 4, 0.1, reg=0.05, dtype=np.float64, seed=0)
    X, y = rng.standard_normal((3, 2, 6, 6)), rng.integers(0, 4, 3)
    _check_gradients(model, X, y)


@pytest.mark.parametrize("kind", sorted(CONVNETS))
def test_convnet_gradients(rng, kind):
    kw = CONVNETS[kind]
    model = ConvNet((1, 4, 4), (2, 4), 2, (5,), 3, reg=0.05, dtype=np.float64, seed=1, **kw)
    model.dropout_param["seed"] = 3  # the same dropout mask on every call
    X, y = rng.standard_normal((3, 1, 4, 4)), rng.integers(0, 3, 3)
    _check_gradients(model, X, y)


def test_three_layer_convnet_starts_at_log_num_classes(rng):
    model = ThreeLayerConvNet((3, 16, 16), weight_scale=1e-3, reg=0.0, seed=0)
    assert set(model.params) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert model.params["W1"].shape == (32, 3, 7, 7) and model.params["W1"].dtype == np.float32
    X = rng.standard_normal((20, 3, 16, 16)).astype(np.float32)
    loss, _ = model.loss(X, rng.integers(0, 10, 20))
    assert loss == pytest.approx(np.log(10), abs=1e-3)
    model.reg = 1.0
    assert model.loss(X, rng.integers(0, 10, 20))[0] > loss + 0.1


def _digits(n):
    from visionblocks.data import load_dataset

    d = load_dataset("digits", num_val=100, seed=0)
    return {k: d[k][:n] for k in ("X_train", "y_train")} | {
        "X_val": d["X_val"],
        "y_val": d["y_val"],
    }


def test_three_layer_convnet_overfits_100_images():
    data = _digits(100)
    model = ThreeLayerConvNet((1, 8, 8), 16, 3, 64, 10, weight_scale=1e-2, seed=0, init="he")
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=25, num_epochs=20, verbose=False)  # fmt: skip
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < 0.1


def test_convnet_overfits_100_images_in_float32():
    data = _digits(100)
    model = ConvNet((1, 8, 8), (8, 16), 1, (32,), 10, seed=0)
    assert all(v.dtype == np.float32 for v in model.params.values())
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=25, num_epochs=20, verbose=False)  # fmt: skip
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert model.buffers() and model.loss(data["X_val"][:5]).dtype == np.float32


def test_he_init_and_param_names():
    model = ConvNet((1, 28, 28), (8, 16), 2, (32,), 10, seed=0, residual=True)
    names = sorted(model.params)
    assert "Wproj1" in names and "Wproj3" in names and "W6" in names and "W7" not in names
    assert model.params["W6"].shape == (32, 10) and model.params["W5"].shape == (16 * 7 * 7, 32)
    std = model.params["W2"].std()
    assert std == pytest.approx(np.sqrt(2 / (8 * 9)), rel=0.1)
    again = ConvNet((1, 28, 28), (8, 16), 2, (32,), 10, seed=0, residual=True)
    np.testing.assert_array_equal(again.params["W2"], model.params["W2"])


def test_batchnorm_running_statistics_are_buffers(rng):
    model = ConvNet((1, 8, 8), (4,), 1, (), 3, seed=0)
    X = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    model.loss(X, rng.integers(0, 3, 6))
    assert set(model.buffers()) == {"running_mean1", "running_var1"}
    scores = model.loss(X)
    other = ConvNet((1, 8, 8), (4,), 1, (), 3, seed=0)
    other.load_buffers(model.buffers())
    np.testing.assert_allclose(other.loss(X), scores)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: ThreeLayerConvNet((3, 9, 9)), ShapeError, "even"),
        (lambda: ThreeLayerConvNet((3, 8, 8), filter_size=4), ShapeError, "odd"),
        (lambda: ConvNet((1, 28, 28), (4, 8, 16)), ShapeError, "halve evenly"),
        (lambda: ConvNet((1, 8, 8), (4,), 3, residual=True), ValueError, "even convs"),
        (
            lambda: ConvNet((1, 8, 8), (6,), normalization="groupnorm", groups=4),
            ValueError,
            "divide",
        ),
        (lambda: ConvNet((1, 8, 8), (4,), normalization="layernorm"), ValueError, "normalization"),
    ],
)
def test_bad_architectures_are_rejected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_input_shapes_are_rejected(rng):
    model = ThreeLayerConvNet((3, 8, 8), 4, 3, 10, seed=0)
    with pytest.raises(ShapeError, match=r"\(3, 8, 8\)"):
        model.loss(rng.standard_normal((2, 1, 8, 8)).astype(np.float32))  # channels mismatch
    with pytest.raises(TypeError, match="floating"):
        model.loss(np.zeros((2, 3, 8, 8), dtype=np.uint8))
    flat = rng.standard_normal((2, 3 * 8 * 8)).astype(np.float32)
    assert model.loss(flat).shape == (2, 10)  # rows of C * H * W values are accepted


def test_registry_builds_from_the_model_options():
    data = {"X_train": np.zeros((2, 1, 28, 28), np.float32), "class_names": list("abcdefghij")}
    arch = {"num_filters": [8, 16], "convs_per_stage": 1, "hidden_dims": [32]}
    cfg = config_from_dict({"model": {"name": "convnet", **arch, "normalization": "none"}})
    model = build_model(cfg, data)
    assert isinstance(model, ConvNet) and model.normalization is None
    assert model.params["W3"].shape == (16 * 7 * 7, 32)
    cfg = config_from_dict({"model": "threelayer", "arch": {"num_filters": 4, "filter_size": 3}})
    assert build_model(cfg, data).params["W1"].shape == (4, 1, 3, 3)
    with pytest.raises(ConfigError, match="unknown option\\(s\\) filters"):
        config_from_dict({"model": "convnet", "arch": {"filters": [8]}})
    with pytest.raises(ConfigError, match="ConvNet: input 28x28 does not halve evenly"):
        build_model(config_from_dict({"model": "convnet", "num_filters": [8, 8, 8]}), data)


def test_cli_trains_a_convnet_from_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "convnet.toml"
    cfg.write_text(
        'data = "digits"\nmodel = "convnet"\nepochs = 1\nbatch_size = 50\nnum_train = 200\n'
        f'out = "{tmp_path / "run"}"\n[arch]\nnum_filters = [4]\nconvs_per_stage = 1\n'
        "hidden_dims = [16]\n"
    )
    assert main(["train", "--config", str(cfg)]) == 0
    assert "test accuracy: 0." in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["name"] == "convnet" and saved["model"]["num_filters"] == [4]
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # rebuilds the model with its buffers
