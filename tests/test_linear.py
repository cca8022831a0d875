"""Tests of the linear SVM / softmax losses and the SGD-trained linear classifiers."""

import numpy as np
import pytest

from visionblocks.classic import (
    LinearSVM,
    Softmax,
    append_bias,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from visionblocks.errors import ShapeError
from visionblocks.gradcheck import KINK_TOL, TOL, eval_numerical_gradient, rel_error

PAIRS = {
    "svm": (svm_loss_naive, svm_loss_vectorized),
    "softmax": (softmax_loss_naive, softmax_loss_vectorized),
}


def _problem(rng, n=25, d=8, c=5, scale=1e-1):
    W = scale * rng.standard_normal((d, c))
    X = append_bias(rng.standard_normal((n, d - 1)))
    y = rng.integers(0, c, n)
    return W, X, y


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_naive_and_vectorized_agree(rng, name, reg):
    naive, vec = PAIRS[name]
    W, X, y = _problem(rng)
    loss_n, dW_n = naive(W, X, y, reg)
    loss_v, dW_v = vec(W, X, y, reg)
    assert abs(loss_n - loss_v) < 1e-12 * max(1.0, abs(loss_n))
    assert rel_error(dW_n, dW_v) < 1e-10
    assert dW_v.shape == W.shape


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("which", [0, 1])
def test_losses_pass_numerical_gradient_check(rng, name, which):
    fn = PAIRS[name][which]
    W, X, y = _problem(rng)
    _, dW = fn(W, X, y, 0.1)
    numeric = eval_numerical_gradient(lambda w: fn(w, X, y, 0.1)[0], W.copy(), verbose=False)
    assert rel_error(numeric, dW) < (KINK_TOL if name == "svm" else TOL)


def test_svm_gradient_check_matches_hand_example():
    W = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    X = np.array([[1.0, 1.0]])
    y = np.array([0])
    # scores [1.5, 2, -1]; margins vs class 0: 2 - 1.5 + 1 = 1.5 and -1 - 1.5 + 1 < 0
    loss, dW = svm_loss_vectorized(W, X, y, 0.0)
    assert loss == pytest.approx(1.5)
    np.testing.assert_allclose(dW, [[-1, 1, 0], [-1, 1, 0]])


@pytest.mark.parametrize("c", [3, 10])
def test_loss_at_tiny_random_weights(rng, c):
    W, X, y = _problem(rng, n=500, d=30, c=c, scale=1e-5)
    for fn in PAIRS["softmax"]:
        assert fn(W, X, y, 0.0)[0] == pytest.approx(np.log(c), rel=1e-3)
    for fn in PAIRS["svm"]:
        assert fn(W, X, y, 0.0)[0] == pytest.approx(c - 1, rel=1e-3)


def test_regularisation_term_is_reg_times_sum_of_squares(rng):
    W, X, y = _problem(rng)
    for naive, vec in PAIRS.values():
        for fn in (naive, vec):
            l0, g0 = fn(W, X, y, 0.0)
            l1, g1 = fn(W, X, y, 0.5)
            assert l1 - l0 == pytest.approx(0.5 * np.sum(W * W))
            np.testing.assert_allclose(g1 - g0, 2 * 0.5 * W, atol=1e-12)


def test_softmax_is_numerically_stable(rng):
    W, X, y = _problem(rng, scale=1e3)
    loss, dW = softmax_loss_vectorized(W, X, y, 0.0)
    loss_n, _ = softmax_loss_naive(W, X, y, 0.0)
    assert np.isfinite(loss) and np.isfinite(dW).all()
    assert loss == pytest.approx(loss_n)


@pytest.mark.parametrize("fn", [svm_loss_naive, svm_loss_vectorized, softmax_loss_vectorized])
def test_losses_reject_bad_input(rng, fn):
    W, X, y = _problem(rng)
    with pytest.raises(ShapeError, match="features per example"):
        fn(W, X[:, :-1], y, 0.0)
    with pytest.raises(ShapeError, match=r"y must have shape \(25,\)"):
        fn(W, X, y[:-1], 0.0)
    with pytest.raises(TypeError, match="integer class labels"):
        fn(W, X, y.astype(np.float64), 0.0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\)"):
        fn(W, X, y + 5, 0.0)
    with pytest.raises(ValueError, match="reg"):
        fn(W, X, y, -1.0)


def _blobs(rng, n=300, c=3, d=5):
    centers = 4 * rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_classifier_learns_and_is_seeded(rng, cls):
    X, y = _blobs(rng)
    Xb = append_bias(X)
    a, b = cls(seed=3), cls(seed=3)
    hist = a.train(Xb, y, learning_rate=1e-2, reg=1e-4, num_iters=300, batch_size=32)
    b.train(Xb, y, learning_rate=1e-2, reg=1e-4, num_iters=300, batch_size=32)
    np.testing.assert_array_equal(a.W, b.W)
    assert len(hist) == 300 and np.mean(hist[-20:]) < np.mean(hist[:20])
    assert a.W.shape == (6, 3)
    assert np.mean(a.predict(Xb) == y) > 0.95
    c = cls(seed=3)
    c.train(Xb, y, 1e-2, 1e-4, 300, 32, False, momentum=0.9, lr_decay=0.9)
    assert np.mean(c.predict(Xb) == y) > 0.95


def test_classifier_rejects_bad_input(rng):
    X, y = _blobs(rng)
    clf = Softmax(seed=0)
    with pytest.raises(RuntimeError, match="train"):
        clf.predict(append_bias(X))
    with pytest.raises(TypeError, match="integer class labels"):
        clf.train(append_bias(X), y.astype(np.float32))
    with pytest.raises(ShapeError, match=r"y must have shape"):
        clf.train(append_bias(X), y[:10])
    clf.train(append_bias(X), y, num_iters=5)
    with pytest.raises(ShapeError, match="append_bias"):
        clf.predict(X)


def test_append_bias():
    X = np.arange(12, dtype=np.float32).reshape(2, 1, 2, 3)
    Xb = append_bias(X)
    assert Xb.shape == (2, 7) and Xb.dtype == np.float32
    np.testing.assert_array_equal(Xb[:, -1], 1)
    np.testing.assert_array_equal(Xb[:, :-1], X.reshape(2, 6))
