"""Upsampling layers of segmentation networks: transposed convolution and max-unpooling.

A transposed convolution is the adjoint of a convolution with the same weights: each input pixel
scatters a weighted copy of the filter into the output, ``H_out = (H - 1) * stride - 2 * pad +
HH``. Its weights have PyTorch's ``conv_transpose2d`` layout (C_in, F, HH, WW). Max-unpooling puts
each value back at the position its max pooling took it from and zeros elsewhere.
"""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError
from visionblocks.layers.im2col import _positive_int, col2im_nhwc, im2col_nhwc, pad_nhwc

__all__ = [
    "conv_transpose_backward",
    "conv_transpose_forward",
    "max_unpool_backward",
    "max_unpool_forward",
]


def _check_transpose_args(x, w, b, conv_param):
    as_float_array("x", x, ndim=4)
    as_float_array("w", w, ndim=4)
    as_float_array("b", b, ndim=1)
    stride = _positive_int("conv_param['stride']", conv_param.get("stride", 1))
    pad = _positive_int("conv_param['pad']", conv_param.get("pad", 0), minimum=0)
    if x.shape[1] != w.shape[0]:
        raise ShapeError(
            f"channels mismatch: x has {x.shape[1]} channels (x.shape {x.shape}) but the "
            f"transposed-conv weights (C_in, F, HH, WW) expect {w.shape[0]} (w.shape {w.shape})"
        )
    if b.shape != (w.shape[1],):
        raise ShapeError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
    full_h = (x.shape[2] - 1) * stride + w.shape[2]
    full_w = (x.shape[3] - 1) * stride + w.shape[3]
    if min(full_h, full_w) - 2 * pad < 1:
        raise ShapeError(f"pad {pad} crops away the whole {full_h}x{full_w} output")
    return stride, pad, full_h, full_w


def conv_transpose_forward(x, w, b, conv_param):
    """Transposed convolution forward pass (one matrix multiply and a col2im scatter-add).

    Args:
        x: (N, C, H, W) input.
        w: (C, F, HH, WW) weights, PyTorch's conv_transpose2d layout.
        b: (F,) biases.
        conv_param: dict with 'stride' (default 1) and 'pad' (cropped from each side, default 0).

    Returns:
        out: (N, F, H_out, W_out) with H_out = (H - 1) * stride - 2 * pad + HH (likewise W_out).
        cache: for ``conv_transpose_backward``.

    Raises:
        ShapeError: channels of x and w differ, or pad leaves no output.
    """
    stride, pad, full_h, full_w = _check_transpose_args(x, w, b, conv_param)
    n, c, h, wd = x.shape
    _, f, hh, ww = w.shape
    dtype = np.result_type(x, w)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c).astype(dtype, copy=False)  # (N*H*W, C)
    w_mat = w.transpose(0, 2, 3, 1).reshape(c, -1).astype(dtype, copy=False)  # (C, HH*WW*F)
    cols = rows @ w_mat  # (N*H*W, HH*WW*F)
    full = col2im_nhwc(cols, (n, full_h, full_w, f), hh, ww, stride)  # (N, Hf, Wf, F)
    out = full[:, pad : full_h - pad, pad : full_w - pad, :] + b  # (N, H_out, W_out, F)
    cache = (rows, w_mat, x.shape, w.shape, pad, stride)
    return out.transpose(0, 3, 1, 2), cache  # (N, F, H_out, W_out)


def conv_transpose_backward(dout, cache):
    """Transposed convolution backward pass: an im2col of dout and two matrix multiplies.

    Args:
        dout: (N, F, H_out, W_out) upstream gradient.
        cache: from ``conv_transpose_forward``.

    Returns:
        dx: (N, C, H, W), dw: (C, F, HH, WW), db: (F,).
    """
    rows, w_mat, x_shape, w_shape, pad, stride = cache
    n, c, h, wd = x_shape
    _, f, hh, ww = w_shape
    d_nhwc = dout.transpose(0, 2, 3, 1).astype(rows.dtype, copy=False)  # (N, H_out, W_out, F)
    dfull = pad_nhwc(d_nhwc, pad)  # (N, Hf, Wf, F), the uncropped output
    dcols = im2col_nhwc(dfull, hh, ww, stride)  # (N*H*W, HH*WW*F)
    dx = (dcols @ w_mat.T).reshape(n, h, wd, c).transpose(0, 3, 1, 2)  # (N, C, H, W)
    dw = (rows.T @ dcols).reshape(c, hh, ww, f).transpose(0, 3, 1, 2)  # (C, F, HH, WW)
    db = dout.sum(axis=(0, 2, 3))
    return dx, np.ascontiguousarray(dw), db


def max_unpool_forward(x, indices, unpool_param):
    """Max-unpooling: scatters each value to the flat position its max pooling recorded.

    Args:
        x: (N, C, H_in, W_in) pooled values.
        indices: (N, C, H_in, W_in) integer positions ``row * W + col`` within each output
            plane, as from ``max_pool_indices`` or torch's ``return_indices=True``; unique
            within a plane (true for non-overlapping pooling windows).
        unpool_param: dict with 'output_size' (H, W), or else the pooling's 'pool_height',
            'pool_width' and 'stride' (defaults 2), giving H = (H_in - 1) * stride + pool_height.

    Returns:
        out: (N, C, H, W), zero except at the indices.
        cache: (indices as (N, C, H_in * W_in), x shape).
    """
    as_float_array("x", x, ndim=4)
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    if indices.shape != x.shape:
        raise ShapeError(f"indices must have the shape of x {x.shape}, got {indices.shape}")
    n, c, h_in, w_in = x.shape
    if "output_size" in unpool_param:
        h, w = (int(s) for s in unpool_param["output_size"])
    else:
        ph = _positive_int("unpool_param['pool_height']", unpool_param.get("pool_height", 2))
        pw = _positive_int("unpool_param['pool_width']", unpool_param.get("pool_width", 2))
        stride = _positive_int("unpool_param['stride']", unpool_param.get("stride", 2))
        h, w = (h_in - 1) * stride + ph, (w_in - 1) * stride + pw
    flat_idx = indices.reshape(n, c, -1)  # (N, C, H_in*W_in)
    if flat_idx.size and (flat_idx.min() < 0 or flat_idx.max() >= h * w):
        raise ValueError(
            f"indices must lie in [0, {h * w}) for a {h}x{w} output, got values in "
            f"[{flat_idx.min()}, {flat_idx.max()}]"
        )
    out = np.zeros((n, c, h * w), dtype=x.dtype)
    np.put_along_axis(out, flat_idx, x.reshape(n, c, -1), axis=2)  # x as (N, C, H_in*W_in)
    return out.reshape(n, c, h, w), (flat_idx, x.shape)  # (N, C, H, W)


def max_unpool_backward(dout, cache):
    """Max-unpooling backward pass: gathers dout at the indices.

    Args:
        dout: (N, C, H, W) upstream gradient.
        cache: from ``max_unpool_forward``.

    Returns:
        dx: (N, C, H_in, W_in).
    """
    flat_idx, x_shape = cache
    n, c = x_shape[:2]
    d_flat = dout.reshape(n, c, -1)  # (N, C, H*W)
    return np.take_along_axis(d_flat, flat_idx, axis=2).reshape(x_shape)  # (N, C, H_in, W_in)
