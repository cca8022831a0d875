"""Numerical gradients by central differences and the relative error, as the course names them."""

from __future__ import annotations

import numpy as np


def rel_error(x, y):
    """Maximum element-wise relative error max(|x - y| / max(1e-8, |x| + |y|))."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _central_difference(f, x, ix, h):
    """(f(x + h e_ix) - f(x - h e_ix)) / 2h, perturbing x[ix] in place and restoring it."""
    old = x[ix]
    x[ix] = old + h
    pos = np.array(f(x), copy=True)
    x[ix] = old - h
    neg = np.array(f(x), copy=True)
    x[ix] = old
    return pos, neg


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Central-difference gradient of a scalar ``f`` at ``x`` (modified in place, then restored).

    Args:
        f: function of one array returning a scalar.
        x: array at which to evaluate the gradient.
        verbose: print each coordinate's gradient.
        h: step size.

    Returns:
        grad: array of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _central_difference(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Central-difference gradient of sum(f(x) * df) for an array-valued ``f``.

    Args:
        f: function of one array returning an array.
        x: array at which to evaluate (modified in place, restored).
        df: upstream gradient, shape of f(x).
        h: step size.

    Returns:
        grad: array of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        pos, neg = _central_difference(f, x, it.multi_index, h)
        grad[it.multi_index] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=True):
    """Compares ``analytic_grad`` with central differences at ``num_checks`` random coordinates.

    Returns:
        errors: (num_checks,) relative errors, one per sampled coordinate.
    """
    rng = np.random.default_rng(seed)
    errors = np.empty(num_checks)
    for i in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        fxph, fxmh = _central_difference(f, x, ix, h)
        numeric = float(fxph - fxmh) / (2 * h)
        analytic = analytic_grad[ix]
        errors[i] = abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
        if verbose:
            print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {errors[i]:e}")
    return errors
