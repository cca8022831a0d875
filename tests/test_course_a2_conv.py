"""CS231n 2024 assignment 2, ConvolutionalNetworks.ipynb, replayed (see ``test_course_a2``).

The fast-layer comparison uses 10 images where the notebook uses 100 (the naive loops are
slow); the overfitting check trains on 100 embedded digits instead of 100 CIFAR-10 images.
"""

# ruff: noqa: B023  (the notebooks' closures over loop variables run at once, in the loop)

import numpy as np
import pytest

from course import course_init
from course import course_rs as _rs
from course import grads_num as _grads_num
from visionblocks.data import load_dataset
from visionblocks.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from visionblocks.layers import (
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from visionblocks.models import ThreeLayerConvNet
from visionblocks.solver import Solver


# ----------------------------------------------------------------------- conv and pool
def test_conv_forward_naive_expected_output():
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    correct_out = np.array(
        [[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
          [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
          [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
         [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
          [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
          [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]]
    )  # fmt: skip
    assert rel_error(out, correct_out) < 1e-7  # "around e-8"


def test_conv_backward_naive_numerical_gradients():
    rs = _rs()
    x, w, b = rs.randn(4, 3, 5, 5), rs.randn(2, 3, 3, 3), rs.randn(2)
    dout = rs.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    num = _grads_num(lambda *a: conv_forward_naive(*a, conv_param)[0], [x, w, b], dout)
    _, cache = conv_forward_naive(x, w, b, conv_param)
    for n, a in zip(num, conv_backward_naive(dout, cache)):
        assert rel_error(n, a) < 1e-7  # "around e-8 or less"


def test_max_pool_naive_expected_output_and_backward():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    pool_param = {"pool_width": 2, "pool_height": 2, "stride": 2}
    out, _ = max_pool_forward_naive(x, pool_param)
    correct_out = np.array(
        [[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
          [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
          [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
         [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
          [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
          [[0.32631579, 0.34105263], [0.38526316, 0.4]]]]
    )  # fmt: skip
    assert rel_error(out, correct_out) < 1e-7  # "on the order of e-8"
    rs = _rs()
    x, dout = rs.randn(3, 2, 8, 8), rs.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = eval_numerical_gradient_array(lambda x: max_pool_forward_naive(x, pool_param)[0], x,
                                           dout)  # fmt: skip
    _, cache = max_pool_forward_naive(x, pool_param)
    assert rel_error(max_pool_backward_naive(dout, cache), dx_num) < 1e-11  # "e-12"


def test_fast_layers_match_the_naive_ones():
    rs = _rs()
    x, w, b = rs.randn(10, 3, 31, 31), rs.randn(25, 3, 3, 3), rs.randn(25)
    dout = rs.randn(10, 25, 16, 16)
    conv_param = {"stride": 2, "pad": 1}
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
    assert rel_error(out_naive, out_fast) < 1e-9
    for a, f in zip(conv_backward_naive(dout, cache_naive), conv_backward_fast(dout, cache_fast)):
        assert rel_error(a, f) < 1e-9
    rs = _rs()  # the pooling cell reseeds
    x, dout = rs.randn(10, 3, 32, 32), rs.randn(10, 3, 16, 16)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
    assert rel_error(out_naive, out_fast) == 0.0
    dx_naive = max_pool_backward_naive(dout, cache_naive)
    assert rel_error(dx_naive, max_pool_backward_fast(dout, cache_fast)) == 0.0


def test_conv_sandwich_layers_numerical_gradients():
    rs = _rs()
    x, w, b = rs.randn(2, 3, 16, 16), rs.randn(3, 3, 3, 3), rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    f = conv_relu_pool_forward
    num = _grads_num(lambda *a: f(*a, conv_param, pool_param)[0], [x, w, b], dout)
    _, cache = f(x, w, b, conv_param, pool_param)
    for n, a in zip(num, conv_relu_pool_backward(dout, cache)):
        assert rel_error(n, a) < 1e-7  # "around e-8 or less"
    rs = _rs()  # the conv_relu cell reseeds
    x, w, b = rs.randn(2, 3, 8, 8), rs.randn(3, 3, 3, 3), rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    num = _grads_num(lambda *a: conv_relu_forward(*a, conv_param)[0], [x, w, b], dout)
    _, cache = conv_relu_forward(x, w, b, conv_param)
    for n, a in zip(num, conv_relu_backward(dout, cache)):
        assert rel_error(n, a) < 1e-7


# ------------------------------------------------------------------- spatial norms
def test_spatial_batchnorm_train_and_test_time_statistics():
    rs = _rs()
    N, C, H, W = 2, 3, 4, 5
    x = 4 * rs.randn(N, C, H, W) + 10
    out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)
    gamma, beta = np.asarray([3, 4, 5]), np.asarray([6, 7, 8])
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), gamma, rtol=1e-5)
    rs = _rs()  # the test-time cell reseeds
    N, C, H, W = 10, 4, 11, 12
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(50):
        spatial_batchnorm_forward(2.3 * rs.randn(N, C, H, W) + 13, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a_norm, _ = spatial_batchnorm_forward(2.3 * rs.randn(N, C, H, W) + 13, gamma, beta, bn_param)
    np.testing.assert_allclose(a_norm.mean(axis=(0, 2, 3)), 0, atol=0.1)  # noisier
    np.testing.assert_allclose(a_norm.std(axis=(0, 2, 3)), 1, atol=0.1)


def test_spatial_batchnorm_backward_numerical_gradients():
    rs = _rs()
    N, C, H, W = 2, 3, 4, 5
    x = 5 * rs.randn(N, C, H, W) + 12
    gamma, beta, dout = rs.randn(C), rs.randn(C), rs.randn(N, C, H, W)
    bn_param = {"mode": "train"}
    f = spatial_batchnorm_forward
    num = _grads_num(lambda *a: f(*a, bn_param)[0], [x, gamma, beta], dout)
    _, cache = f(x, gamma, beta, bn_param)
    for n, a in zip(num, spatial_batchnorm_backward(dout, cache)):
        assert rel_error(n, a) < 1e-6  # "between 1e-12 and 1e-06"


def test_spatial_groupnorm_statistics_and_numerical_gradients():
    rs = _rs()
    N, C, H, W, G = 2, 6, 4, 5, 2
    x = 4 * rs.randn(N, C, H, W) + 10
    gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
    out_g = out.reshape((N * G, -1))
    np.testing.assert_allclose(out_g.mean(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(out_g.std(axis=1), 1, atol=1e-5)
    rs = _rs()  # the backward cell reseeds
    x = 5 * rs.randn(N, C, H, W) + 12
    gamma, beta, dout = rs.randn(1, C, 1, 1), rs.randn(1, C, 1, 1), rs.randn(N, C, H, W)
    gn_param = {}
    f = spatial_groupnorm_forward
    num = _grads_num(lambda x, g, b: f(x, g, b, G, gn_param)[0], [x, gamma, beta], dout)
    _, cache = f(x, gamma, beta, G, gn_param)
    for n, a in zip(num, spatial_groupnorm_backward(dout, cache)):
        assert rel_error(n, a) < 1e-7  # "between 1e-12 and 1e-07"


# ------------------------------------------------------------------ ThreeLayerConvNet
def test_three_layer_convnet_initial_loss():
    rs = _rs()
    model = ThreeLayerConvNet(seed=231)
    N = 50
    X, y = rs.randn(N, 3, 32, 32), rs.randint(10, size=N)
    loss, _ = model.loss(X, y)
    assert loss == pytest.approx(np.log(10), abs=0.01)  # "about log(10)"
    model.reg = 0.5
    assert model.loss(X, y)[0] > loss  # "a bit higher with regularization"


def test_three_layer_convnet_numerical_gradients():
    rs = _rs()
    num_inputs, input_dim, num_classes = 2, (3, 16, 16), 10
    X = rs.randn(num_inputs, *input_dim)
    y = rs.randint(num_classes, size=num_inputs)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim, hidden_dim=7,
                              dtype=np.float64)  # fmt: skip
    course_init(model, rs, 1e-3)
    _, grads = model.loss(X, y)
    for name in sorted(grads):
        grad_num = eval_numerical_gradient(
            lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6
        )
        # "up to the order of e-2" (with the notebook's weights, W2 gives its 1.82e-02)
        assert rel_error(grad_num, grads[name]) < 1e-1, name


def test_three_layer_convnet_overfits_small_data():
    data = load_dataset("digits", seed=0)
    num_train = 100  # the notebook's 100 CIFAR-10 images, here 100 digits
    small_data = {"X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                  "X_val": data["X_val"], "y_val": data["y_val"]}  # fmt: skip
    model = ThreeLayerConvNet(input_dim=(1, 8, 8), weight_scale=1e-2, seed=231)
    # the notebook's recipe, but a learning rate of 1e-2 (8 x 8 digits give weaker gradients)
    solver = Solver(model, small_data, num_epochs=15, batch_size=50, update_rule="adam",
                    optim_config={"learning_rate": 1e-2}, verbose=False)  # fmt: skip
    solver.train()
    assert solver.train_acc_history[-1] >= 0.95  # "very high training accuracy"
    assert solver.train_acc_history[-1] > solver.val_acc_history[-1] + 0.1  # and overfitting
