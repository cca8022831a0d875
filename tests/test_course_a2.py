"""CS231n 2024 assignment 2 (BatchNormalization.ipynb, Dropout.ipynb), replayed.

As in ``test_course_a1``: the notebooks' calls, shapes and ``np.random.seed(231)`` draws (as a
local ``RandomState(231)``), their fixed expected arrays, and their gradient checks with the
error each notebook says to expect ("around e-N" asserted as < 10 ** (1 - N)). Where a gradient
check's model draws its weights from the global stream, ``course_init`` redraws them as the
course's model does (the errors then match the notebook's printed ones). Nothing
here needs CIFAR-10. The convolutional notebook's checks are in ``test_course_a2_conv``.
"""

# ruff: noqa: B023  (the notebooks' closures over loop variables run at once, in the loop)

import numpy as np
import pytest

from course import course_init
from course import course_rs as _rs
from course import grads_num as _grads_num
from visionblocks.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from visionblocks.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
)
from visionblocks.models import FullyConnectedNet


# --------------------------------------------------------------------------- batch norm
def _two_layer_activations(rs, N=200, D1=50, D2=60, D3=3, W=None):
    """The notebooks' a = relu(X W1) W2, drawing X (then W1, W2 unless given) from rs."""
    X = rs.randn(N, D1)
    W1, W2 = W if W is not None else (rs.randn(D1, D2), rs.randn(D2, D3))
    return np.maximum(0, X.dot(W1)).dot(W2), (W1, W2)


def test_batchnorm_train_time_statistics():
    rs = _rs()
    a, _ = _two_layer_activations(rs)
    a_norm, _ = batchnorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), 0, atol=1e-10)  # "close to zero"
    np.testing.assert_allclose(a_norm.std(axis=0), 1, atol=1e-6)  # "close to one"
    gamma, beta = np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])
    a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(a_norm.std(axis=0), gamma, rtol=1e-6)


def test_batchnorm_test_time_statistics_after_50_training_passes():
    rs = _rs()
    N, D1, D2, D3 = 200, 50, 60, 3
    W = (rs.randn(D1, D2), rs.randn(D2, D3))
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        a, _ = _two_layer_activations(rs, N, D1, D2, D3, W)
        batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a, _ = _two_layer_activations(rs, N, D1, D2, D3, W)
    a_norm, _ = batchnorm_forward(a, gamma, beta, bn_param)
    # "close to zero and one, but noisier than training-time forward passes"
    np.testing.assert_allclose(a_norm.mean(axis=0), 0, atol=0.15)
    np.testing.assert_allclose(a_norm.std(axis=0), 1, atol=0.15)


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
def test_batchnorm_backward_numerical_gradients(backward):
    rs = _rs()
    N, D = 4, 5
    x = 5 * rs.randn(N, D) + 12
    gamma, beta, dout = rs.randn(D), rs.randn(D), rs.randn(N, D)
    bn_param = {"mode": "train"}
    num = _grads_num(lambda *a: batchnorm_forward(*a, bn_param)[0], [x, gamma, beta], dout)
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    for n, a in zip(num, backward(dout, cache)):
        assert rel_error(n, a) < 1e-8  # "relative errors between 1e-13 and 1e-8"


def test_batchnorm_backward_alt_matches_the_graph_version():
    rs = _rs()
    N, D = 100, 500
    x = 5 * rs.randn(N, D) + 12
    gamma, beta, dout = rs.randn(D), rs.randn(D), rs.randn(N, D)
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert rel_error(a, b) < 1e-8


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_fully_connected_net_with_normalization_numerical_gradients(normalization):
    rs = _rs()
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = rs.randn(N, D)
    y = rs.randint(C, size=(N,))
    for reg in [0, 3.14]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64,
                                  normalization=normalization)  # fmt: skip
        course_init(model, rs, 5e-2)
        _, grads = model.loss(X, y)
        for name in sorted(grads):
            grad_num = eval_numerical_gradient(
                lambda _: model.loss(X, y)[0],
                model.params[name],
                verbose=False,
                h=1e-5,
            )
            err = rel_error(grad_num, grads[name])
            if normalization == "layernorm":  # not in the notebook: the plain net's bound
                assert err < 1e-4, (reg, name)
            elif name in ("b1", "b2"):  # feed a batch norm: the true gradient is 0, only noise
                assert np.abs(grads[name]).max() < 1e-10 and np.abs(grad_num).max() < 1e-8
            else:  # "1e-4~1e-10 for W, 1e-08~1e-10 for b, 1e-08~1e-09 for beta and gammas"
                assert err < (1e-3 if name.startswith("W") else 1e-7), (reg, name)


# --------------------------------------------------------------------------- layer norm
def test_layernorm_train_time_statistics():
    rs = _rs()
    a, _ = _two_layer_activations(rs, N=4)
    a_norm, _ = layernorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(a_norm.std(axis=1), 1, atol=1e-5)
    gamma, beta = np.asarray([3.0, 3.0, 3.0]), np.asarray([5.0, 5.0, 5.0])
    a_norm, _ = layernorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=1), beta[0], atol=1e-10)
    np.testing.assert_allclose(a_norm.std(axis=1), gamma[0], rtol=1e-5)


def test_layernorm_backward_numerical_gradients():
    rs = _rs()
    N, D = 4, 5
    x = 5 * rs.randn(N, D) + 12
    gamma, beta, dout = rs.randn(D), rs.randn(D), rs.randn(N, D)
    ln_param = {}
    num = _grads_num(lambda *a: layernorm_forward(*a, ln_param)[0], [x, gamma, beta], dout)
    _, cache = layernorm_forward(x, gamma, beta, ln_param)
    for n, a in zip(num, layernorm_backward(dout, cache)):
        assert rel_error(n, a) < 1e-8  # "relative errors between 1e-12 and 1e-8"


# ------------------------------------------------------------------------------ dropout
def test_dropout_forward_statistics():
    rs = _rs()
    x = rs.randn(500, 500) + 10
    for p in [0.25, 0.4, 0.7]:
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert out.mean() == pytest.approx(x.mean(), abs=0.2)  # inverted dropout keeps the mean
        assert (out == 0).mean() == pytest.approx(1 - p, abs=0.01)  # p keeps, as in the course
        np.testing.assert_array_equal(out_test, x)


def test_dropout_backward_numerical_gradient():
    rs = _rs()
    x = rs.randn(10, 10) + 10
    dout = rs.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    _, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(
        lambda xx: dropout_forward(xx, dropout_param)[0], x, dout
    )
    assert rel_error(dx, dx_num) < 1e-10  # "around e-10 or less"


def test_fully_connected_net_with_dropout_numerical_gradients():
    rs = _rs()
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = rs.randn(N, D)
    y = rs.randint(C, size=(N,))
    for dropout_keep_ratio in [1, 0.75, 0.5]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, dropout_keep_ratio=dropout_keep_ratio,
                                  seed=123)  # fmt: skip
        course_init(model, rs, 5e-2)
        loss, grads = model.loss(X, y)
        assert model.loss(X, y)[0] == loss  # a seeded model draws the same mask every pass
        for name in sorted(grads):
            grad_num = eval_numerical_gradient(
                lambda _: model.loss(X, y)[0],
                model.params[name],
                verbose=False,
                h=1e-5,
            )
            # "around e-6 or less; fine if for keep ratio 1 you have W2 on the order of e-5"
            assert rel_error(grad_num, grads[name]) < 1e-4, (dropout_keep_ratio, name)
