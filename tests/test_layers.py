"""Behaviour of the basic layers beyond their gradients: modes, statistics and bad input."""

import numpy as np
import pytest

from visionblocks.errors import ShapeError
from visionblocks.gradcheck import rel_error
from visionblocks.layers import (
    affine_forward,
    affine_norm_relu_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_forward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    sigmoid_forward,
    softmax_loss,
    svm_loss,
)


def test_affine_flattens_any_input_shape(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    w, b = rng.standard_normal((60, 7)), rng.standard_normal(7)
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(2, 60) @ w + b)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape",
    [((4, 6), (5, 3), (3,)), ((4, 6), (6, 3), (2,)), ((6,), (6, 3), (3,))],
)
def test_affine_rejects_mismatched_shapes(x_shape, w_shape, b_shape):
    with pytest.raises(ShapeError, match="shape"):
        affine_forward(np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape))


def test_layers_reject_integer_and_non_array_input():
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        relu_forward(np.arange(4))
    with pytest.raises(TypeError, match="x must be a numpy array"):
        relu_forward([1.0, 2.0])


def test_relu_gradient_is_zero_at_zero():
    _, cache = relu_forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(relu_backward(np.ones(3), cache), [0.0, 0.0, 1.0])


def test_sigmoid_is_stable_for_huge_inputs():
    out, _ = sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


def test_batchnorm_train_output_is_standardised(rng):
    x = 5 * rng.standard_normal((200, 3)) + 12
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 4.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-4)


def test_batchnorm_running_statistics_reach_data_statistics(rng):
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(4), np.zeros(4)
    for _ in range(200):
        x = 2 * rng.standard_normal((100, 4)) + 3
        batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 3, atol=0.1)
    np.testing.assert_allclose(bn_param["running_var"], 4, rtol=0.1)
    bn_param["mode"] = "test"
    out, _ = batchnorm_forward(2 * rng.standard_normal((5000, 4)) + 3, gamma, beta, bn_param)
    assert abs(out.mean()) < 0.1 and abs(out.std() - 1) < 0.1


def test_batchnorm_backward_and_alt_agree(rng):
    x = rng.standard_normal((8, 5))
    _, cache = batchnorm_forward(x, rng.standard_normal(5), rng.standard_normal(5), {})
    dout = rng.standard_normal((8, 5))
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert rel_error(a, b) < 1e-9


def test_batchnorm_rejects_wrong_gamma_and_mode(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ShapeError, match="gamma"):
        batchnorm_forward(x, np.ones(2), np.zeros(3), {})
    with pytest.raises(ValueError, match="mode"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"})


def test_layernorm_normalises_each_example(rng):
    x = 3 * rng.standard_normal((4, 50)) + 7
    out, _ = layernorm_forward(x, np.ones(50), np.zeros(50), {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=1), 1, rtol=1e-4)


def test_dropout_keeps_the_expected_fraction_and_the_mean(rng):
    x = rng.standard_normal((500, 500)) + 10
    for p in (0.3, 0.6, 0.9):
        out, _ = dropout_forward(x, {"p": p, "mode": "train", "rng": rng})
        assert abs((out != 0).mean() - p) < 0.01
        assert abs(out.mean() - x.mean()) < 0.1
        test_out, _ = dropout_forward(x, {"p": p, "mode": "test"})
        assert test_out is x


def test_dropout_seed_repeats_the_mask(rng):
    x = rng.standard_normal((10, 10))
    a, _ = dropout_forward(x, {"p": 0.5, "seed": 7})
    b, _ = dropout_forward(x, {"p": 0.5, "seed": 7})
    np.testing.assert_array_equal(a, b)


def test_dropout_rejects_a_drop_probability():
    with pytest.raises(ValueError, match="keep probability"):
        dropout_forward(np.ones(3), {"p": 0.0})


def test_softmax_loss_is_stable_and_correct_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, dx = softmax_loss(x, np.array([0, 2]))
    assert np.isfinite(loss) and loss == pytest.approx(np.log(3) / 2)
    assert np.all(np.isfinite(dx))


def test_svm_loss_of_equal_scores_is_num_classes_minus_one():
    loss, _ = svm_loss(np.zeros((4, 10)), np.arange(4))
    assert loss == pytest.approx(9.0)


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss])
def test_losses_reject_bad_labels(loss_fn):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 4\)"):
        loss_fn(x, np.array([0, 1, 4]))
    with pytest.raises(TypeError, match="integer class labels"):
        loss_fn(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        loss_fn(x, np.array([0, 1]))


def test_affine_norm_relu_rejects_unknown_norm(rng):
    with pytest.raises(ValueError, match="norm must be one of"):
        affine_norm_relu_forward(
            np.ones((2, 3)), np.ones((3, 2)), np.ones(2), np.ones(2), np.ones(2), {}, "groupnorm"
        )
