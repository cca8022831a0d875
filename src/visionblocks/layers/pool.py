"""Spatial pooling: max (naive and fast), average and global average pooling over (N, C, H, W).

``pool_param`` holds 'pool_height', 'pool_width' and 'stride' (defaults 2, 2, 2); windows do not
pad, and ``H_out = 1 + (H - pool_height) / stride`` must be an integer. In a window with several
equal maxima the gradient goes to the first one in row-major order, as in PyTorch.

The fast versions loop over the pool_height * pool_width window offsets (not over positions):
each step is one element-wise operation on a strided view of the whole batch, in whatever memory
layout the input has. Where the windows tile the input (stride == window), the backward pass
writes each input element once instead of accumulating.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.layers.im2col import _positive_int, window_output_size

__all__ = [
    "avg_pool_backward",
    "avg_pool_forward",
    "global_avg_pool_backward",
    "global_avg_pool_forward",
    "max_pool_backward_fast",
    "max_pool_backward_naive",
    "max_pool_forward_fast",
    "max_pool_forward_naive",
    "max_pool_indices",
]


def _pool_geometry(x, pool_param):
    """Checks x and pool_param; returns (ph, pw, stride, H_out, W_out)."""
    as_float_array("x", x, ndim=4)
    ph = _positive_int("pool_param['pool_height']", pool_param.get("pool_height", 2))
    pw = _positive_int("pool_param['pool_width']", pool_param.get("pool_width", 2))
    stride = _positive_int("pool_param['stride']", pool_param.get("stride", 2))
    h_out = window_output_size(x.shape[2], ph, stride, 0, "input height")
    w_out = window_output_size(x.shape[3], pw, stride, 0, "input width")
    return ph, pw, stride, h_out, w_out


def _offset_views(x, ph, pw, stride, h_out, w_out):
    """Yields (k, view) for each window offset (a, b), k = a * pw + b.

    Each view is the (N, C, H_out, W_out) strided slice ``x[:, :, a::stride, b::stride]``
    cut to the output size, so ``view[n, c, i, j] = x[n, c, i * stride + a, j * stride + b]``.
    """
    h_span, w_span = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
    for a in range(ph):
        for b in range(pw):
            yield a * pw + b, x[:, :, a : a + h_span : stride, b : b + w_span : stride]


def _tiles(x_shape, ph, pw, stride, h_out, w_out):
    """True when the windows cover the input exactly once (stride == window, no remainder)."""
    return ph == pw == stride and x_shape[2] == h_out * ph and x_shape[3] == w_out * pw


def max_pool_forward_naive(x, pool_param):
    """Max pooling forward pass with explicit loops.

    Args:
        x: (N, C, H, W) input.
        pool_param: dict with 'pool_height', 'pool_width', 'stride'.

    Returns:
        out: (N, C, H_out, W_out) output.
        cache: (x, pool_param).

    Raises:
        ShapeError: the window is larger than the input or does not fit it.
    """
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    n, c = x.shape[:2]
    out = np.zeros((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Max pooling backward pass with explicit loops: each window's gradient to its first max.

    Args:
        dout: (N, C, H_out, W_out) upstream gradient.
        cache: from ``max_pool_forward_naive``.

    Returns:
        dx: (N, C, H, W).
    """
    x, pool_param = cache
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    for k in range(n):
        for ch in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[k, ch, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[k, ch, i * stride + a, j * stride + b] += dout[k, ch, i, j]
    return dx


def max_pool_forward_fast(x, pool_param):
    """Max pooling forward pass, vectorised over the batch: one step per window offset.

    Args:
        x: (N, C, H, W) input, any memory layout (the output keeps it).
        pool_param: dict with 'pool_height', 'pool_width', 'stride'.

    Returns:
        out: (N, C, H_out, W_out) output.
        cache: (argmax offsets (N, C, H_out, W_out) uint8-or-wider, geometry) for backward.
    """
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    offsets = _offset_views(x, ph, pw, stride, h_out, w_out)
    _, first = next(offsets)
    out = first.copy(order="K")
    arg = np.zeros_like(out, dtype=np.uint8 if ph * pw <= 256 else np.int32)
    for k, view in offsets:
        better = view > out  # strictly greater: ties keep the first maximum
        # k exceeds every earlier offset, so "arg = k where better" is a maximum (and it is
        # much faster than a masked assignment)
        np.maximum(arg, np.multiply(better, k, dtype=arg.dtype), out=arg)
        np.maximum(out, view, out=out)
    return out, (arg, x.shape, ph, pw, stride)


def max_pool_backward_fast(dout, cache):
    """Max pooling backward pass, vectorised: one masked write per window offset.

    Args:
        dout: (N, C, H_out, W_out) upstream gradient.
        cache: from ``max_pool_forward_fast``.

    Returns:
        dx: (N, C, H, W) in the memory layout of dout.
    """
    arg, x_shape, ph, pw, stride = cache
    h_out, w_out = arg.shape[2:]
    tiles = _tiles(x_shape, ph, pw, stride, h_out, w_out)
    dx = np.empty_like(dout, shape=x_shape) if tiles else np.zeros_like(dout, shape=x_shape)
    for k, view in _offset_views(dx, ph, pw, stride, h_out, w_out):
        if tiles:
            np.multiply(dout, arg == k, out=view)
        else:
            view += dout * (arg == k)
    return dx


def max_pool_indices(cache):
    """Flat argmax positions of a fast max pooling, as ``torch`` returns with return_indices.

    Args:
        cache: from ``max_pool_forward_fast``.

    Returns:
        indices: (N, C, H_out, W_out) int64, each ``row * W + col`` within its (H, W) plane;
        the input ``max_unpool_forward`` takes.
    """
    arg, x_shape, _, pw, stride = cache
    h_out, w_out = arg.shape[2:]
    a, b = np.divmod(arg.astype(np.int64), pw)  # window offsets (N, C, H_out, W_out)
    rows = np.arange(h_out)[:, None] * stride + a  # (N, C, H_out, W_out)
    cols = np.arange(w_out)[None, :] * stride + b  # (N, C, H_out, W_out)
    return np.ascontiguousarray(rows * x_shape[3] + cols)


def avg_pool_forward(x, pool_param):
    """Average pooling forward pass (no padding), vectorised over window offsets.

    Args:
        x: (N, C, H, W) input.
        pool_param: dict with 'pool_height', 'pool_width', 'stride'.

    Returns:
        out: (N, C, H_out, W_out) output.
        cache: (x shape, geometry).
    """
    ph, pw, stride, h_out, w_out = _pool_geometry(x, pool_param)
    offsets = _offset_views(x, ph, pw, stride, h_out, w_out)
    _, first = next(offsets)
    out = first.copy(order="K")
    for _, view in offsets:
        out += view
    out *= 1.0 / (ph * pw)
    return out, (x.shape, ph, pw, stride)


def avg_pool_backward(dout, cache):
    """Average pooling backward pass: each window spreads dout / (ph * pw) over its elements.

    Args:
        dout: (N, C, H_out, W_out) upstream gradient.
        cache: from ``avg_pool_forward``.

    Returns:
        dx: (N, C, H, W).
    """
    x_shape, ph, pw, stride = cache
    h_out, w_out = dout.shape[2:]
    share = dout * (1.0 / (ph * pw))
    if _tiles(x_shape, ph, pw, stride, h_out, w_out):
        dx = np.empty_like(dout, shape=x_shape)
        for _, view in _offset_views(dx, ph, pw, stride, h_out, w_out):
            view[...] = share
        return dx
    dx = np.zeros_like(dout, shape=x_shape)
    for _, view in _offset_views(dx, ph, pw, stride, h_out, w_out):
        view += share
    return dx


def global_avg_pool_forward(x):
    """Global average pooling: the mean of each channel over all positions.

    Args:
        x: (N, C, H, W) input.

    Returns:
        out: (N, C) channel means.
        cache: x shape.
    """
    as_float_array("x", x, ndim=4)
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    """Global average pooling backward pass.

    Args:
        dout: (N, C) upstream gradient.
        cache: from ``global_avg_pool_forward``.

    Returns:
        dx: (N, C, H, W) with every position of a channel getting dout / (H * W).
    """
    n, c, h, w = cache
    dx = np.empty((n, h, w, c), dtype=dout.dtype)  # channels-last, like the fast conv
    dx[...] = dout[:, None, None, :] * (1.0 / (h * w))
    return dx.transpose(0, 3, 1, 2)  # (N, C, H, W)
