"""The primitives of the autograd engine: each a forward on arrays and its local gradient.

A ``Function`` instance is one node's operation: ``forward(*arrays)`` computes the output and
keeps what its backward needs, ``backward(dout)`` returns one gradient per input (with the
input's shape: broadcasting is summed back out here). The ``Tensor`` methods and the lecture-4
gates (``gates.py``) both run these classes, so every local gradient is written once. This
file has the elementwise and matrix primitives; ``functions_shape.py`` the reductions, reshape,
transpose and indexing.
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
    return grad.reshape(shape)  # (*shape)


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
            ga = unbroadcast(ga, self.a2.shape).reshape(self.shapes[0])  # a's shape
        if self.wants(1):
            gb = np.swapaxes(self.a2, -1, -2) @ dout2  # (..., k, m)
            gb = unbroadcast(gb, self.b2.shape).reshape(self.shapes[1])  # b's shape
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
