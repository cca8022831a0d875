"""Element-wise activations as forward/backward pairs: relu, leaky relu, sigmoid, tanh, ELU,
SELU, GELU, PReLU (learned slopes) and maxout."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array

__all__ = [
    "elu_backward",
    "elu_forward",
    "gelu_backward",
    "gelu_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "maxout_backward",
    "maxout_forward",
    "prelu_backward",
    "prelu_forward",
    "relu_backward",
    "relu_forward",
    "selu_backward",
    "selu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]


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


def elu_forward(x, alpha=1.0):
    """ELU (Clevert et al. 2016): out = x where x > 0, alpha * (exp(x) - 1) elsewhere.

    Args:
        x: any-shape float array.
        alpha: the value approached for large negative inputs is -alpha.

    Returns:
        out: same shape as x.
        cache: (x, out, alpha).
    """
    as_float_array("x", x)
    neg = alpha * np.expm1(np.minimum(x, 0))  # minimum: no overflow for large positive x
    out = np.where(x > 0, x, neg)
    return out, (x, out, alpha)


def elu_backward(dout, cache):
    """ELU backward: dx = dout where x > 0, dout * (out + alpha) elsewhere."""
    x, out, alpha = cache
    return np.where(x > 0, dout, dout * (out + alpha))


#: SELU's constants (Klambauer et al. 2017), which keep zero mean and unit variance fixed.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu_forward(x):
    """SELU: out = scale * elu(x, alpha) with the self-normalising constants.

    Returns:
        out: same shape as x.
        cache: the ELU cache.
    """
    out, cache = elu_forward(x, SELU_ALPHA)
    return SELU_SCALE * out, cache


def selu_backward(dout, cache):
    """SELU backward: scale times the ELU gradient."""
    return elu_backward(SELU_SCALE * dout, cache)


def erf(x):
    """The error function, element-wise, to float64 rounding (NumPy has none of its own).

    Uses erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1 * 3 * ... * (2n+1)), a
    series of positive terms (no cancellation), with |x| clipped at 6 where erf is 1 to
    double precision.

    Args:
        x: any-shape float array.

    Returns:
        same shape as x.
    """
    x = np.asarray(x)
    z = np.clip(np.abs(x), 0.0, 6.0).astype(np.float64)
    term = z.copy()
    total = z.copy()
    z2 = z * z
    for n in range(1, 200):
        term = term * (2.0 * z2 / (2 * n + 1))
        total += term
        if not np.any(term > 1e-17 * total):
            break
    out = 2.0 / np.sqrt(np.pi) * np.exp(-z2) * total
    return (np.sign(x) * np.minimum(out, 1.0)).astype(x.dtype, copy=False)


def gelu_forward(x):
    """GELU (Hendrycks & Gimpel 2016): out = x * Phi(x), Phi the standard normal CDF.

    Args:
        x: any-shape float array.

    Returns:
        out: same shape as x.
        cache: (x, Phi(x)).
    """
    as_float_array("x", x)
    cdf = 0.5 * (1.0 + erf(x / np.sqrt(2.0)))
    return x * cdf, (x, cdf)


def gelu_backward(dout, cache):
    """GELU backward: dx = dout * (Phi(x) + x * phi(x)), phi the standard normal density."""
    x, cdf = cache
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return dout * (cdf + x * pdf)


def _channel_shape(x, a):
    """a (C,) reshaped to broadcast along axis 1 of x (N, C, ...)."""
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))  # (C,) -> (1, C, 1, ..., 1)


def prelu_forward(x, alpha):
    """PReLU (He et al. 2015): leaky ReLU whose negative slope is learned, one per channel.

    Args:
        x: (N, C) or (N, C, H, W) float array.
        alpha: (C,) slopes (or (1,) shared by every channel).

    Returns:
        out: same shape as x.
        cache: (x, alpha).
    """
    as_float_array("x", x)
    as_float_array("alpha", alpha, ndim=1)
    if x.ndim < 2 or alpha.shape[0] not in (1, x.shape[1]):
        raise ValueError(
            f"alpha must have shape (1,) or (C,) = ({x.shape[1] if x.ndim > 1 else '?'},) for "
            f"x of shape {x.shape}, got {alpha.shape}"
        )
    a = _channel_shape(x, alpha)
    return np.where(x > 0, x, a * x), (x, alpha)


def prelu_backward(dout, cache):
    """PReLU backward.

    Returns:
        dx: same shape as dout.
        dalpha: shape of alpha, the sum of dout * x over the negative inputs of each channel.
    """
    x, alpha = cache
    neg = x <= 0
    dx = np.where(neg, _channel_shape(x, alpha) * dout, dout)
    per_channel = np.where(neg, dout * x, 0.0)
    axes = (0, *range(2, x.ndim))
    dalpha = per_channel.sum(axis=axes)  # (C,)
    if alpha.shape[0] == 1:
        dalpha = dalpha.sum(keepdims=True)  # (1,)
    return dx, dalpha.astype(alpha.dtype, copy=False)


def maxout_forward(x, pieces=2):
    """Maxout (Goodfellow et al. 2013): the maximum over groups of ``pieces`` channels.

    Channels ``k * pieces ... (k + 1) * pieces - 1`` of x form output channel k.

    Args:
        x: (N, C * pieces) or (N, C * pieces, H, W) float array.
        pieces: channels per group (>= 1).

    Returns:
        out: (N, C) or (N, C, H, W).
        cache: (x shape, winner mask, pieces).
    """
    as_float_array("x", x)
    if x.ndim < 2 or pieces < 1 or x.shape[1] % pieces:
        raise ValueError(
            f"maxout needs x (N, C * pieces, ...) with pieces >= 1 dividing the channels; got "
            f"x of shape {x.shape} and pieces={pieces}"
        )
    groups = x.reshape(x.shape[0], x.shape[1] // pieces, pieces, *x.shape[2:])  # (N, C, k, ...)
    winner = groups.argmax(axis=2)  # (N, C, ...): the first maximum of each group
    out = np.take_along_axis(groups, winner[:, :, None], axis=2)[:, :, 0]  # (N, C, ...)
    return out, (x.shape, winner, pieces)


def maxout_backward(dout, cache):
    """Maxout backward: each output's gradient goes to the input that won its group.

    Returns:
        dx: (N, C * pieces, ...).
    """
    shape, winner, pieces = cache
    n, c = shape[0], shape[1] // pieces
    dgroups = np.zeros((n, c, pieces, *shape[2:]), dtype=dout.dtype)  # (N, C, k, ...)
    np.put_along_axis(dgroups, winner[:, :, None], dout[:, :, None], axis=2)
    return dgroups.reshape(shape)  # (N, C, k, ...) -> (N, C * k, ...)
