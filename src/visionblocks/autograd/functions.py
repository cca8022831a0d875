"""The primitives of the autograd engine: each a forward on arrays and its local gradient.

A ``Function`` instance is one node's operation: ``forward(*arrays)`` computes the output and
keeps what its backward needs, ``backward(dout)`` returns one gradient per input (with the
input's shape: broadcasting is summed back out here). The ``Tensor`` methods and the lecture-4
gates (``gates.py``) both run these classes, so every local gradient is written once.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError

__all__ = [
    "Function",
    "unbroadcast",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Neg",
    "MatMul",
    "Exp",
    "Log",
    "Tanh",
    "Sigmoid",
    "ReLU",
    "Maximum",
    "Max",
    "Sum",
    "Mean",
    "Reshape",
    "Transpose",
    "GetItem",
]


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sums ``grad`` over the axes broadcasting added or stretched, giving an array of ``shape``.

    Args:
        grad: (*broadcast_shape) gradient of a broadcast result.
        shape: the input's shape before broadcasting.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))  # drop the leading axes broadcasting added
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)  # axes of size 1 stretched to n
    return grad.reshape(shape)


def _broadcast_check(name, a, b):
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {a.shape} and {b.shape} do not broadcast together"
        ) from None


class Function:
    """One operation of the graph.

    Attributes:
        name: the operation's name (drawn in the graph, used in errors).
        symbol: how the drawing labels the node ("+", "*", "exp", ...).
        needs: per input, whether its gradient is wanted (set before backward; all by default).
    """

    name = "function"
    symbol = "?"

    def __init__(self):
        self.needs = None
        self.shapes = ()

    def __call__(self, *xs):
        """Runs forward, remembering the input shapes for broadcasting in backward."""
        self.shapes = tuple(np.shape(x) for x in xs)
        return self.forward(*xs)

    def forward(self, *xs):  # pragma: no cover - every primitive overrides it
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - every primitive overrides it
        raise NotImplementedError

    def wants(self, i: int) -> bool:
        """Whether input ``i``'s gradient is needed."""
        return self.needs is None or self.needs[i]

    def __repr__(self):
        return f"{type(self).__name__}()"


class _Binary(Function):
    """A broadcasting elementwise operation of two inputs."""

    def __call__(self, a, b):
        _broadcast_check(self.name, np.asarray(a), np.asarray(b))
        return super().__call__(a, b)

    def reduce(self, ga, gb):
        """The gradients summed back to each input's shape (None where not wanted)."""
        ga = unbroadcast(ga, self.shapes[0]) if ga is not None else None
        gb = unbroadcast(gb, self.shapes[1]) if gb is not None else None
        return ga, gb


class Add(_Binary):
    """a + b: the add gate distributes the gradient unchanged to both inputs."""

    name, symbol = "add", "+"

    def forward(self, a, b):
        return a + b

    def backward(self, dout):
        return self.reduce(dout, dout)


class Sub(_Binary):
    """a - b."""

    name, symbol = "sub", "-"

    def forward(self, a, b):
        return a - b

    def backward(self, dout):
        return self.reduce(dout, -dout if self.wants(1) else None)


class Mul(_Binary):
    """a * b: the multiply gate swaps its inputs: da = b * dout, db = a * dout."""

    name, symbol = "mul", "*"

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, dout):
        ga = dout * self.b if self.wants(0) else None
        gb = dout * self.a if self.wants(1) else None
        return self.reduce(ga, gb)


class Div(_Binary):
    """a / b: da = dout / b, db = -dout * a / b**2."""

    name, symbol = "div", "/"

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, dout):
        ga = dout / self.b if self.wants(0) else None
        gb = -dout * self.a / (self.b * self.b) if self.wants(1) else None
        return self.reduce(ga, gb)


class Pow(_Binary):
    """a ** b: da = b a**(b-1) dout, db = a**b log(a) dout (needs a > 0)."""

    name, symbol = "pow", "**"

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, dout):
        ga = dout * self.b * self.a ** (self.b - 1) if self.wants(0) else None
        gb = dout * self.out * np.log(self.a) if self.wants(1) else None
        return self.reduce(ga, gb)


class Maximum(_Binary):
    """Elementwise max(a, b): the max gate routes the gradient to the larger input (a tie
    splits it evenly, as torch does)."""

    name, symbol = "maximum", "max"

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, dout):
        tie = 0.5 * dout * (self.a == self.b)
        ga = dout * (self.a > self.b) + tie if self.wants(0) else None
        gb = dout * (self.b > self.a) + tie if self.wants(1) else None
        return self.reduce(ga, gb)


class MatMul(Function):
    """a @ b with NumPy's rules (1-D operands promoted, batch axes broadcast)."""

    name, symbol = "matmul", "@"

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: operands must have >= 1 axis, got {a.shape} @ {b.shape}")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise ShapeError(
                f"matmul: shapes {a.shape} @ {b.shape}: inner dimensions "
                f"{a.shape[-1]} and {b.shape[0 if b.ndim == 1 else -2]} differ"
            )
        self.a2 = a[None, :] if a.ndim == 1 else a  # (1, n) for a vector
        self.b2 = b[:, None] if b.ndim == 1 else b  # (n, 1) for a vector
        self.out2_shape = None
        out = self.a2 @ self.b2
        self.out2_shape = out.shape
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    def backward(self, dout):
        dout2 = np.reshape(dout, self.out2_shape)  # (..., n, m) as computed
        ga = gb = None
        if self.wants(0):
            ga = dout2 @ np.swapaxes(self.b2, -1, -2)  # (..., n, k)
            ga = unbroadcast(ga, self.a2.shape).reshape(self.shapes[0])
        if self.wants(1):
            gb = np.swapaxes(self.a2, -1, -2) @ dout2  # (..., k, m)
            gb = unbroadcast(gb, self.b2.shape).reshape(self.shapes[1])
        return ga, gb


class Neg(Function):
    """-a."""

    name, symbol = "neg", "-"

    def forward(self, a):
        return -a

    def backward(self, dout):
        return (-dout,)


class Exp(Function):
    """exp(a): the local gradient is the output itself."""

    name, symbol = "exp", "exp"

    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, dout):
        return (dout * self.out,)


class Log(Function):
    """log(a): da = dout / a."""

    name, symbol = "log", "log"

    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, dout):
        return (dout / self.a,)


class Tanh(Function):
    """tanh(a): da = (1 - out**2) dout."""

    name, symbol = "tanh", "tanh"

    def forward(self, a):
        self.out = np.tanh(a)
        return self.out

    def backward(self, dout):
        return (dout * (1 - self.out * self.out),)


class Sigmoid(Function):
    """sigmoid(a) = 1 / (1 + exp(-a)), computed without overflow: da = out (1 - out) dout."""

    name, symbol = "sigmoid", "σ"

    def forward(self, a):
        e = np.exp(-np.abs(a))  # never overflows
        self.out = np.where(a >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, dout):
        return (dout * self.out * (1 - self.out),)


class ReLU(Function):
    """max(0, a): the gradient passes where a > 0."""

    name, symbol = "relu", "relu"

    def forward(self, a):
        self.mask = a > 0
        return a * self.mask

    def backward(self, dout):
        return (dout * self.mask,)


def _axes(axis, ndim):
    """``axis`` as a tuple of non-negative axes (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ShapeError(f"axis {ax} is out of range for an array with {ndim} axes")
    return tuple(sorted(ax % max(ndim, 1) for ax in axes))


class _Reduce(Function):
    """A reduction over ``axis`` (None: all), optionally keeping the reduced axes."""

    def __init__(self, axis=None, keepdims=False):
        super().__init__()
        self.axis, self.keepdims = axis, keepdims

    def kept(self, dout):
        """dout with the reduced axes restored as size 1, ready to broadcast."""
        if self.keepdims:
            return dout
        shape = list(self.shapes[0])
        for ax in _axes(self.axis, len(shape)):
            shape[ax] = 1
        return np.reshape(dout, shape)


class Sum(_Reduce):
    """a.sum(axis): the gradient is copied to every summed element."""

    name, symbol = "sum", "sum"

    def forward(self, a):
        return np.sum(a, axis=_axes(self.axis, a.ndim) or None, keepdims=self.keepdims)

    def backward(self, dout):
        return (np.broadcast_to(self.kept(dout), self.shapes[0]),)


class Mean(_Reduce):
    """a.mean(axis): the gradient divided by the number of elements averaged."""

    name, symbol = "mean", "mean"

    def forward(self, a):
        axes = _axes(self.axis, a.ndim)
        self.count = int(np.prod([a.shape[ax] for ax in axes]))
        return np.mean(a, axis=axes or None, keepdims=self.keepdims)

    def backward(self, dout):
        return (np.broadcast_to(self.kept(dout) / self.count, self.shapes[0]),)


class Max(_Reduce):
    """a.max(axis): the gradient goes to the maximum (split evenly between tied maxima, as
    torch.amax does)."""

    name, symbol = "max", "max"

    def forward(self, a):
        self.a = a
        self.out = np.max(a, axis=_axes(self.axis, a.ndim) or None, keepdims=True)
        return self.out if self.keepdims else np.reshape(self.out, self._out_shape(a))

    def _out_shape(self, a):
        axes = _axes(self.axis, a.ndim)
        return tuple(n for i, n in enumerate(a.shape) if i not in axes)

    def backward(self, dout):
        mask = self.a == self.out  # (*a.shape) where the maxima are
        axes = _axes(self.axis, self.a.ndim) or None
        return (mask * (self.kept(dout) / mask.sum(axis=axes, keepdims=True)),)


class Reshape(Function):
    """a.reshape(shape)."""

    name, symbol = "reshape", "reshape"

    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, a):
        try:
            return np.reshape(a, self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {a.shape} to {self.shape}") from None

    def backward(self, dout):
        return (np.reshape(dout, self.shapes[0]),)


class Transpose(Function):
    """a.transpose(axes) (reversed axes for None)."""

    name, symbol = "transpose", "T"

    def __init__(self, axes=None):
        super().__init__()
        self.axes = axes

    def forward(self, a):
        axes = tuple(range(a.ndim))[::-1] if self.axes is None else tuple(self.axes)
        if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
            raise ShapeError(f"transpose: axes {axes} do not permute the {a.ndim} axes")
        self.inverse = tuple(np.argsort([ax % a.ndim for ax in axes]))
        return np.transpose(a, axes)

    def backward(self, dout):
        return (np.transpose(dout, self.inverse),)


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


class GetItem(Function):
    """a[index], basic (slices, integers) or advanced (integer arrays: repeated positions add
    their gradients, as cross-entropy's a[rows, labels] needs)."""

    name, symbol = "getitem", "[]"

    def __init__(self, index):
        super().__init__()
        self.index = index

    def forward(self, a):
        try:
            return a[self.index]
        except IndexError as e:
            raise ShapeError(f"index {self.index!r} into shape {a.shape}: {e}") from None

    def backward(self, dout):
        grad = np.zeros(self.shapes[0], dtype=np.result_type(dout, np.float32))
        if _is_advanced(self.index):
            np.add.at(grad, self.index, dout)
        else:
            grad[self.index] = dout
        return (grad,)
