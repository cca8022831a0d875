"""Function forms of the primitives, and the composite ops built from them only.

The composites (``affine``, ``log_softmax``, ``softmax_cross_entropy``, ...) have no backward
of their own: their gradients come from the primitives they are written in, which is what
``tests/test_autograd_bridge.py`` checks against the hand-written layer pairs.
"""

from __future__ import annotations

import numpy as np

from visionblocks.autograd import functions as F
from visionblocks.autograd import functions_shape as S
from visionblocks.autograd.tensor import Tensor, apply
from visionblocks.errors import ShapeError

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "neg",
    "matmul",
    "exp",
    "log",
    "tanh",
    "sigmoid",
    "relu",
    "maximum",
    "max",
    "sum",
    "mean",
    "reshape",
    "transpose",
    "affine",
    "logsumexp",
    "log_softmax",
    "softmax",
    "softmax_cross_entropy",
]


def add(a, b) -> Tensor:
    """a + b (broadcast)."""
    return apply(F.Add(), a, b)


def sub(a, b) -> Tensor:
    """a - b (broadcast)."""
    return apply(F.Sub(), a, b)


def mul(a, b) -> Tensor:
    """a * b (broadcast)."""
    return apply(F.Mul(), a, b)


def div(a, b) -> Tensor:
    """a / b (broadcast)."""
    return apply(F.Div(), a, b)


def pow(a, b) -> Tensor:  # noqa: A001 - the primitive's name
    """a ** b (broadcast; b's gradient needs a > 0)."""
    return apply(F.Pow(), a, b)


def neg(a) -> Tensor:
    """-a."""
    return apply(F.Neg(), a)


def matmul(a, b) -> Tensor:
    """a @ b with NumPy's rules."""
    return apply(F.MatMul(), a, b)


def exp(a) -> Tensor:
    """exp(a) elementwise."""
    return apply(F.Exp(), a)


def log(a) -> Tensor:
    """log(a) elementwise (a > 0)."""
    return apply(F.Log(), a)


def tanh(a) -> Tensor:
    """tanh(a) elementwise."""
    return apply(F.Tanh(), a)


def sigmoid(a) -> Tensor:
    """1 / (1 + exp(-a)) elementwise, without overflow."""
    return apply(F.Sigmoid(), a)


def relu(a) -> Tensor:
    """max(0, a) elementwise."""
    return apply(F.ReLU(), a)


def maximum(a, b) -> Tensor:
    """Elementwise maximum of a and b (broadcast)."""
    return apply(F.Maximum(), a, b)


def max(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - the primitive's name
    """The maximum over ``axis`` (None: all elements)."""
    return apply(S.Max(axis, keepdims), a)


def sum(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - the primitive's name
    """The sum over ``axis`` (None: all elements)."""
    return apply(S.Sum(axis, keepdims), a)


def mean(a, axis=None, keepdims=False) -> Tensor:
    """The mean over ``axis`` (None: all elements)."""
    return apply(S.Mean(axis, keepdims), a)


def reshape(a, shape) -> Tensor:
    """a with a new shape of the same size."""
    return apply(S.Reshape(tuple(shape)), a)


def transpose(a, axes=None) -> Tensor:
    """a with its axes permuted (reversed for None)."""
    return apply(S.Transpose(axes), a)


# ------------------------------------------------------------------------ composites
def affine(x, w, b) -> Tensor:
    """x flattened per example, times w, plus b.

    Args:
        x: (N, d_1, ..., d_k) inputs with d_1 * ... * d_k == D.
        w: (D, M) weights.
        b: (M,) biases.

    Returns:
        (N, M) outputs.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 1:
        raise ShapeError(f"affine: x must be a batch (N, ...), got shape {x.shape}")
    flat = x if x.ndim == 2 else x.reshape(x.shape[0], -1)  # (N, D)
    return flat @ w + b


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, shifted by the (constant) maximum so exp cannot overflow.

    The shift is detached: its gradient is zero in exact arithmetic, so the primitives need not
    carry it.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    m = Tensor(np.max(x.data, axis=axis, keepdims=True))  # (..., 1, ...) constant shift
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else out.reshape(np.squeeze(m.data, axis=axis).shape)  # axis gone


def log_softmax(x, axis=-1) -> Tensor:
    """x - logsumexp(x) over ``axis``."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1) -> Tensor:
    """exp(log_softmax(x))."""
    return exp(log_softmax(x, axis=axis))


def softmax_cross_entropy(scores, y) -> Tensor:
    """Mean softmax cross-entropy of class scores, the loss of ``layers.softmax_loss``.

    Args:
        scores: (N, C) class scores.
        y: (N,) integer labels in [0, C).

    Returns:
        scalar tensor: -mean(log_softmax(scores)[n, y[n]]).
    """
    scores = scores if isinstance(scores, Tensor) else Tensor(scores)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ShapeError(f"scores must be (N, C) with N >= 1, got shape {scores.shape}")
    if y.shape != (scores.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ShapeError(
            f"y must be ({scores.shape[0]},) integer labels for scores {scores.shape}, "
            f"got shape {y.shape} dtype {y.dtype}"
        )
    if y.size and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"y must be labels in [0, {scores.shape[1]}), got {y.min()}..{y.max()}")
    picked = log_softmax(scores, axis=1)[np.arange(scores.shape[0]), y]  # (N,)
    return -mean(picked)
