"""``Tensor``: a NumPy array that records the computational graph it was computed by.

Every operation on tensors runs one primitive of ``functions.py`` and, when a gradient is
wanted, keeps the node (its function and input tensors). ``backward()`` walks the graph in
reverse topological order (iteratively, so deep graphs hit no recursion limit), calling each
node's local gradient and adding the gradients of a value used more than once.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from visionblocks.autograd import functions as F
from visionblocks.autograd import functions_shape as S
from visionblocks.errors import ShapeError

__all__ = ["Tensor", "tensor", "no_grad", "is_grad_enabled", "apply", "topological_order"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations record the graph now (False inside ``no_grad()``)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context in which operations compute values only: no graph is recorded."""
    before = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = before


def _as_data(value, like=None) -> np.ndarray:
    """A floating array for ``value``; Python numbers take the dtype of ``like``."""
    if isinstance(value, Tensor):
        return value.data
    if like is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(value, dtype=like.dtype)
    data = np.asarray(value)
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float64)
    return data


class Tensor:
    """An array plus, when it requires a gradient, the node that computed it.

    Attributes:
        data: the value, a floating NumPy array of any shape.
        grad: the gradient of the last ``backward()`` output with respect to this tensor
            (same shape as data), or None. Leaves accumulate over backward calls (call
            ``zero_grad()``); interior nodes hold the last pass's gradient, for drawing.
        requires_grad: whether gradients flow to this tensor.
        name: an optional label for drawings and messages.
        op: the ``Function`` that computed it (None for a leaf).
        parents: the input tensors of ``op``.
    """

    __array_ufunc__ = None  # ndarray (op) Tensor calls Tensor's reflected operator; np.exp(t) is
    # a TypeError rather than a silent array without a graph (use ag.exp)

    def __init__(self, data, requires_grad=False, name=None):
        self.data = _as_data(data)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.name = name
        self.op = None
        self.parents = ()

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor of one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """The same value, cut from the graph."""
        return Tensor(self.data, name=self.name)

    def zero_grad(self) -> None:
        self.grad = None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        label = f", name={self.name!r}" if self.name else ""
        op = f", op={self.op.name}" if self.op is not None else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4)}{label}{op}{grad})"

    # ---------------------------------------------------------------- the backward
    def backward(self, grad=None) -> None:
        """Computes the gradient of this tensor with respect to every tensor it depends on.

        Args:
            grad: dL/dself, an array of this tensor's shape; may be omitted for one element
                (it is then 1).

        Raises:
            RuntimeError: this tensor does not require a gradient.
            ShapeError: a non-scalar without ``grad``, or ``grad`` of the wrong shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require a gradient: no input was made "
                "with requires_grad=True (or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() without grad= needs a single-element output, got shape "
                    f"{self.shape}; pass grad= an array of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = _as_data(grad, like=self.data)
            if grad.shape != self.shape:
                raise ShapeError(f"backward grad has shape {grad.shape}, expected {self.shape}")
        order = topological_order(self)
        grads = {id(self): grad}
        given = {id(grad)}  # the caller's array, and arrays already handed to a leaf: copied
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.is_leaf:
                if node.grad is not None:
                    node.grad = node.grad + g
                elif not g.flags.writeable or id(g) in given:
                    node.grad = np.array(g)
                else:
                    node.grad = g
                given.add(id(node.grad))
                continue
            node.grad = g
            for parent, pg in zip(node.parents, node.op.backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    # ----------------------------------------------------------------- operations
    def __add__(self, other):
        return apply(F.Add(), self, other)

    def __radd__(self, other):
        return apply(F.Add(), other, self)

    def __sub__(self, other):
        return apply(F.Sub(), self, other)

    def __rsub__(self, other):
        return apply(F.Sub(), other, self)

    def __mul__(self, other):
        return apply(F.Mul(), self, other)

    def __rmul__(self, other):
        return apply(F.Mul(), other, self)

    def __truediv__(self, other):
        return apply(F.Div(), self, other)

    def __rtruediv__(self, other):
        return apply(F.Div(), other, self)

    def __pow__(self, other):
        return apply(F.Pow(), self, other)

    def __rpow__(self, other):
        return apply(F.Pow(), other, self)

    def __matmul__(self, other):
        return apply(F.MatMul(), self, other)

    def __rmatmul__(self, other):
        return apply(F.MatMul(), other, self)

    def __neg__(self):
        return apply(F.Neg(), self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data.astype(np.intp)
        elif isinstance(index, tuple):
            index = tuple(i.data.astype(np.intp) if isinstance(i, Tensor) else i for i in index)
        return apply(S.GetItem(index), self)

    def exp(self):
        return apply(F.Exp(), self)

    def log(self):
        return apply(F.Log(), self)

    def tanh(self):
        return apply(F.Tanh(), self)

    def sigmoid(self):
        return apply(F.Sigmoid(), self)

    def relu(self):
        return apply(F.ReLU(), self)

    def maximum(self, other):
        return apply(F.Maximum(), self, other)

    def sum(self, axis=None, keepdims=False):
        return apply(S.Sum(axis, keepdims), self)

    def mean(self, axis=None, keepdims=False):
        return apply(S.Mean(axis, keepdims), self)

    def max(self, axis=None, keepdims=False):
        return apply(S.Max(axis, keepdims), self)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return apply(S.Reshape(tuple(shape)), self)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        return apply(S.Transpose(tuple(axes) if axes else None), self)


def tensor(data, requires_grad=False, name=None) -> Tensor:
    """A leaf tensor (``requires_grad=True`` for an input whose gradient you want)."""
    return Tensor(data, requires_grad=requires_grad, name=name)


def apply(function: F.Function, *inputs) -> Tensor:
    """Runs ``function`` on the inputs' values and records the node when a gradient is wanted.

    Args:
        function: a fresh ``Function`` instance (it keeps this node's saved values).
        inputs: tensors, arrays or numbers (numbers take the dtype of the first tensor).
    """
    like = next((x.data for x in inputs if isinstance(x, Tensor)), None)
    tensors = [x if isinstance(x, Tensor) else Tensor(_as_data(x, like)) for x in inputs]
    out = Tensor(function(*(t.data for t in tensors)))
    if is_grad_enabled() and any(t.requires_grad for t in tensors):
        function.needs = tuple(t.requires_grad for t in tensors)
        out.requires_grad = True
        out.op = function
        out.parents = tuple(tensors)
    return out


def topological_order(root, parents=None) -> list:
    """Every node ``root`` depends on, each after its inputs (``root`` last).

    Args:
        root: the output node.
        parents: ``parents(node) -> inputs``; default: a tensor's parents that require a
            gradient (the nodes backward visits).

    Iterative depth-first search: a graph thousands of nodes deep needs no recursion.
    """
    if parents is None:
        parents = _grad_parents
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent in reversed(list(parents(node))):
            if id(parent) not in seen:
                stack.append((parent, False))
    return order


def _grad_parents(node: Tensor):
    return [p for p in node.parents if p.requires_grad]
