"""Activation as a model parameter: every registered activation in FullyConnectedNet and ConvNet,
gradient-checked in float64 and equal to the torch twins; the lecture-6 activations' values."""

import math

import numpy as np
import pytest

from helpers import torch
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.layers import (
    ACTIVATIONS,
    elu_forward,
    gelu_forward,
    maxout_forward,
    prelu_forward,
    selu_forward,
)
from visionblocks.layers.activations import erf
from visionblocks.models import ConvNet, FullyConnectedNet

NAMES = ACTIVATIONS.names()


def _nudge_biases(model, rng):
    """Non-zero biases, so no unit sits exactly on a kink at the check's inputs."""
    for k in model.params:
        if k.startswith("b"):
            model.params[k] = model.params[k] + 0.1 * rng.standard_normal(model.params[k].shape)
    return model


def _check_grads(model, X, y, tol):
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, w in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], w, verbose=False)
        assert rel_error(numeric, grads[name]) < tol, name


@pytest.mark.parametrize("activation", NAMES)
def test_fc_net_with_each_activation_passes_a_gradient_check(activation, rng):
    X, y = rng.standard_normal((5, 12)), rng.integers(0, 4, 5)
    model = FullyConnectedNet([7, 6], input_dim=12, num_classes=4, normalization="layernorm",
                              reg=0.3, weight_scale=2e-1, dtype=np.float64, seed=1,
                              activation=activation)  # fmt: skip
    _check_grads(_nudge_biases(model, rng), X, y, 1e-6)


@pytest.mark.parametrize("activation", ["elu", "gelu", "prelu", "maxout"])
def test_convnet_with_each_activation_passes_a_gradient_check(activation, rng):
    X, y = rng.standard_normal((3, 2, 4, 4)), rng.integers(0, 3, 3)
    model = ConvNet(input_dim=(2, 4, 4), num_filters=(3,), convs_per_stage=1, hidden_dims=(5,),
                    num_classes=3, normalization=None, dtype=np.float64, seed=0,
                    activation=activation)  # fmt: skip
    _check_grads(_nudge_biases(model, rng), X, y, 1e-5)


def test_prelu_and_maxout_parameters_and_shapes():
    net = FullyConnectedNet([7], input_dim=5, num_classes=3, activation="prelu", seed=0)
    assert net.params["alpha1"].shape == (7,) and np.all(net.params["alpha1"] == 0.25)
    assert "alpha2" not in net.params  # the scores layer has no activation
    net = FullyConnectedNet([7], input_dim=5, num_classes=3, activation="maxout", seed=0)
    assert net.params["W1"].shape == (5, 14) and net.params["W2"].shape == (7, 3)
    conv = ConvNet(input_dim=(1, 4, 4), num_filters=(3,), hidden_dims=(4,), num_classes=2,
                   activation="prelu", seed=0)  # fmt: skip
    assert conv.params["alpha1"].shape == (3,) and conv.params["alpha3"].shape == (4,)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'swish'; known: relu"):
        FullyConnectedNet([4], input_dim=3, num_classes=2, activation="swish")
    with pytest.raises(ValueError, match="residual stages use relu"):
        ConvNet(input_dim=(1, 4, 4), num_filters=(4,), residual=True, activation="elu")


def test_relu_default_is_the_classic_net(rng):
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    a = FullyConnectedNet([4], input_dim=5, num_classes=3, dtype=np.float64, seed=2)
    b = FullyConnectedNet([4], input_dim=5, num_classes=3, dtype=np.float64, seed=2,
                          activation="relu")  # fmt: skip
    h = np.maximum(X @ a.params["W1"] + a.params["b1"], 0)
    np.testing.assert_allclose(a.loss(X), h @ a.params["W2"] + a.params["b2"])
    assert a.loss(X, y)[0] == b.loss(X, y)[0]


def test_activation_values_against_closed_forms():
    x = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0]])
    np.testing.assert_allclose(elu_forward(x)[0], np.where(x > 0, x, np.exp(x) - 1))
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    np.testing.assert_allclose(selu_forward(x)[0], scale * np.where(x > 0, x, alpha * np.expm1(x)))
    cdf = np.array([[0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x[0]]])
    np.testing.assert_allclose(gelu_forward(x)[0], x * cdf, rtol=1e-14, atol=1e-15)
    grid = np.linspace(-7, 7, 57)
    np.testing.assert_allclose(erf(grid), [math.erf(v) for v in grid], atol=3e-15)
    out, _ = prelu_forward(x, np.array([0.1]))
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.1 * x))
    out, _ = maxout_forward(np.array([[1.0, 5.0, -2.0, -3.0]]), 2)
    np.testing.assert_array_equal(out, [[5.0, -2.0]])
    with pytest.raises(ValueError, match="pieces"):
        maxout_forward(np.ones((2, 5)), 2)


@pytest.mark.torch
@pytest.mark.parametrize("activation", NAMES)
def test_twins_with_each_activation_match_numpy(activation, rng):
    from visionblocks.torchkit.bridge import numpy_grads
    from visionblocks.torchkit.models import twin_of

    X, y = rng.standard_normal((5, 2, 4, 4)), rng.integers(0, 3, 5)
    models = [
        FullyConnectedNet([6, 5], input_dim=32, num_classes=3, normalization="batchnorm",
                          reg=0.1, dtype=np.float64, seed=0, activation=activation),
        ConvNet(input_dim=(2, 4, 4), num_filters=(3, 4), convs_per_stage=1, hidden_dims=(5,),
                num_classes=3, reg=0.1, dtype=np.float64, seed=0, activation=activation),
    ]  # fmt: skip
    for np_model in models:
        _nudge_biases(np_model, rng)
        twin = twin_of(np_model)
        loss, grads = np_model.loss(X, y)
        twin.train()
        t_loss = twin.loss(torch.from_numpy(X), torch.from_numpy(y))
        t_loss.backward()
        assert float(t_loss.detach()) == pytest.approx(loss, rel=1e-10)
        t_grads = numpy_grads(twin)
        assert set(t_grads) == set(grads)
        for k in grads:
            np.testing.assert_allclose(t_grads[k], grads[k], rtol=1e-7, atol=1e-10, err_msg=k)
