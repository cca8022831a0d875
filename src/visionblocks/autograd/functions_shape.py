"""The primitives that reduce, reshape, transpose or index: forward and local gradient each.

The elementwise and matrix primitives and the ``Function`` base are in ``functions.py``.
"""

from __future__ import annotations

import numpy as np

from visionblocks.autograd.functions import Function
from visionblocks.errors import ShapeError

__all__ = ["Max", "Sum", "Mean", "Reshape", "Transpose", "GetItem"]


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
        return np.reshape(dout, shape)  # (*input shape with reduced axes of size 1)


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
        return self.out if self.keepdims else np.reshape(self.out, self._out_shape(a))  # axes gone

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
            return np.reshape(a, self.shape)  # (*self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {a.shape} to {self.shape}") from None

    def backward(self, dout):
        return (np.reshape(dout, self.shapes[0]),)  # back to the input's shape


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
        return np.transpose(a, axes)  # axis k of the output is axis axes[k] of a

    def backward(self, dout):
        return (np.transpose(dout, self.inverse),)  # the inverse permutation: a's layout


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
