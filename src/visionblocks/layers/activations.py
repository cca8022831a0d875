"""Element-wise activations: relu, leaky relu, sigmoid and tanh as forward/backward pairs."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array


def relu_forward(x):
    """ReLU: out = max(0, x).

    Args:
        x: any-shape float array.

    Returns:
        out: same shape as x.
        cache: x.
    """
    as_float_array("x", x)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """ReLU backward; the gradient at exactly 0 is taken as 0 (as PyTorch does).

    Returns:
        dx: same shape as dout.
    """
    x = cache
    return dout * (x > 0)


def leaky_relu_forward(x, alpha=0.01):
    """Leaky ReLU: out = x where x > 0, alpha * x elsewhere.

    Args:
        x: any-shape float array.
        alpha: slope for negative inputs.

    Returns:
        out: same shape as x.
        cache: (x, alpha).
    """
    as_float_array("x", x)
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    """Leaky ReLU backward.

    Returns:
        dx: same shape as dout.
    """
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def sigmoid(x):
    """Numerically stable logistic function, no overflow for large |x|."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def sigmoid_forward(x):
    """Sigmoid: out = 1 / (1 + exp(-x)).

    Returns:
        out: same shape as x.
        cache: out (the backward pass needs only the output).
    """
    as_float_array("x", x)
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """Sigmoid backward: dx = dout * s * (1 - s)."""
    s = cache
    return dout * s * (1.0 - s)


def tanh_forward(x):
    """Hyperbolic tangent.

    Returns:
        out: same shape as x.
        cache: out.
    """
    as_float_array("x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Tanh backward: dx = dout * (1 - tanh(x)^2)."""
    t = cache
    return dout * (1.0 - t * t)
