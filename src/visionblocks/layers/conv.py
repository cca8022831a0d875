"""2-D convolution (cross-correlation, as in every deep-learning library): naive loops and fast.

``out[n, f, i, j] = b[f] + sum_{c, a, b} x_pad[n, c, i * stride + a, j * stride + b] *
w[f, c, a, b]``, with ``H_out = 1 + (H + 2 * pad - HH) / stride`` (likewise W_out).

The naive pair is the readable oracle. The fast pair copies the windows of a channels-last view
into one im2col matrix and does each direction with a single float32 (or float64) BLAS matrix
multiply; see ``visionblocks.layers.im2col`` for the memory layout it returns.
"""

from __future__ import annotations

import numpy as np

from visionblocks.layers.im2col import (
    check_conv_args,
    col2im_nhwc,
    conv_stride1_dw,
    conv_stride1_nhwc,
    im2col_nhwc,
    pad_nhwc,
)

__all__ = [
    "conv_backward_fast",
    "conv_backward_naive",
    "conv_forward_fast",
    "conv_forward_naive",
]


def conv_forward_naive(x, w, b, conv_param):
    """Convolution forward pass with explicit loops over examples, filters and positions.

    Args:
        x: (N, C, H, W) input.
        w: (F, C, HH, WW) filters.
        b: (F,) biases.
        conv_param: dict with 'stride' (default 1) and 'pad' (zeros on each side, default 0).

    Returns:
        out: (N, F, H_out, W_out) output.
        cache: (x, w, b, conv_param).

    Raises:
        ShapeError: channels of x and w differ, or the output size is not an integer.
    """
    stride, pad, h_out, w_out = check_conv_args(x, w, b, conv_param)
    n, f = x.shape[0], w.shape[0]
    hh, ww = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H + 2p, W + 2p)
    out = np.zeros((n, f, h_out, w_out), dtype=np.result_type(x, w))
    for i in range(n):
        for k in range(f):
            for r in range(h_out):
                for s in range(w_out):
                    patch = xp[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(patch * w[k]) + b[k]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Convolution backward pass with explicit loops.

    Args:
        dout: (N, F, H_out, W_out) upstream gradient.
        cache: from ``conv_forward_naive``.

    Returns:
        dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,).
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param.get("stride", 1), conv_param.get("pad", 0)
    n, f = x.shape[0], w.shape[0]
    hh, ww = w.shape[2:]
    _, _, h_out, w_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H + 2p, W + 2p)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(n):
        for k in range(f):
            for r in range(h_out):
                for s in range(w_out):
                    rows = slice(r * stride, r * stride + hh)
                    cols = slice(s * stride, s * stride + ww)
                    dw[k] += dout[i, k, r, s] * xp[i, :, rows, cols]
                    dxp[i, :, rows, cols] += dout[i, k, r, s] * w[k]
    dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]
    return dx, dw, db.astype(b.dtype, copy=False)


#: Bytes of im2col matrix built at a time on the strided path: a block of images whose windows
#: fit in the caches, so the copy and the matrix multiply that reads it stay out of main memory.
CHUNK_BYTES = 4 << 20


def _image_blocks(n, bytes_per_image):
    """Splits n images into consecutive (start, stop) blocks of about ``CHUNK_BYTES``."""
    step = max(1, min(n, CHUNK_BYTES // max(1, bytes_per_image)))
    return [(s, min(s + step, n)) for s in range(0, n, step)], step


#: The row-window kernel needs rows of at least this many values (WW * C) to keep its matrix
#: multiplies efficient; thinner inputs (the first layer of a grey-scale net) use im2col.
ROW_KERNEL_MIN_K = 32


def _row_kernel(stride, c, ww):
    """Whether a convolution takes the stride-1 row-window path."""
    return stride == 1 and ww * c >= ROW_KERNEL_MIN_K


def _column_sums(d):
    """Column sums (F,) of a tall (M, F) matrix, as a BLAS matrix-vector product."""
    return np.ones(d.shape[0], dtype=d.dtype) @ d


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass on channels-last windows and BLAS matrix multiplies.

    Equal to ``conv_forward_naive``. Stride 1 with WW * C >= ``ROW_KERNEL_MIN_K`` uses
    ``conv_stride1_nhwc`` (a WW-fold window copy and HH matrix multiplies per block of images);
    otherwise full im2col blocks are copied and multiplied once each. The output is an ordinary
    (N, F, H_out, W_out) array whose memory is channels-last, so the next fast layer reads it
    without a copy.

    Args:
        x: (N, C, H, W) input, any memory layout (channels-last is fastest).
        w: (F, C, HH, WW) filters.
        b: (F,) biases.
        conv_param: dict with 'stride' (default 1) and 'pad' (default 0).

    Returns:
        out: (N, F, H_out, W_out) output.
        cache: (padded channels-last input, w, geometry) for ``conv_backward_fast``.
    """
    stride, pad, h_out, w_out = check_conv_args(x, w, b, conv_param)
    n, c, f = x.shape[0], x.shape[1], w.shape[0]
    hh, ww = w.shape[2:]
    dtype = np.result_type(x, w)
    w = w.astype(dtype, copy=False)
    xp = pad_nhwc(x.transpose(0, 2, 3, 1).astype(dtype, copy=False), pad)  # (N, Hp, Wp, C)
    if _row_kernel(stride, c, ww):
        out = conv_stride1_nhwc(xp, w)  # (N*Ho*Wo, F)
    else:
        w_mat = w.transpose(2, 3, 1, 0).reshape(-1, f)  # (HH*WW*C, F)
        rows = h_out * w_out  # output positions per image
        blocks, step = _image_blocks(n, rows * w_mat.shape[0] * dtype.itemsize)
        buf = np.empty(step * rows * w_mat.shape[0], dtype=dtype)
        out = np.empty((n * rows, f), dtype=dtype)
        for s, e in blocks:
            cols = im2col_nhwc(xp[s:e], hh, ww, stride, out=buf)  # (block*Ho*Wo, HH*WW*C)
            np.matmul(cols, w_mat, out=out[s * rows : e * rows])  # (block*Ho*Wo, F)
    out += b.astype(dtype, copy=False)
    out = out.reshape(n, h_out, w_out, f).transpose(0, 3, 1, 2)  # (N, F, Ho, Wo), NHWC memory
    return out, (xp, w, x.shape, pad, stride)


def conv_backward_fast(dout, cache):
    """Convolution backward pass.

    On the row-window path the filter gradient comes from ``conv_stride1_dw`` and the input
    gradient is itself a stride-1 convolution (of dout zero-padded by HH - 1 - pad, with the
    flipped filters of the transposed channels), done by the forward kernel, when pad < HH, WW
    and F <= 2 C (else col2im is cheaper). The im2col path rebuilds im2col blocks for
    ``cols.T @ dout`` and scatters ``dout @ w.T`` back with col2im.

    Args:
        dout: (N, F, H_out, W_out) upstream gradient, any memory layout (channels-last is
            fastest).
        cache: from ``conv_forward_fast``.

    Returns:
        dx: (N, C, H, W) (channels-last memory), dw: (F, C, HH, WW), db: (F,).
    """
    xp, w, x_shape, pad, stride = cache
    f, c, hh, ww = w.shape
    n, _, h, wd = x_shape
    _, _, h_out, w_out = dout.shape
    d2 = dout.transpose(0, 2, 3, 1).astype(w.dtype, copy=False).reshape(-1, f)  # (N*Ho*Wo, F)
    db = _column_sums(d2)
    if _row_kernel(stride, c, ww):
        dw = conv_stride1_dw(xp, d2, hh, ww)  # (F, C, HH, WW)
        if pad < min(hh, ww) and f <= 2 * c:
            d4 = d2.reshape(n, h_out, w_out, f)  # (N, Ho, Wo, F)
            dpad = pad_nhwc(d4, hh - 1 - pad, ww - 1 - pad)  # (N, H + HH - 1, W + WW - 1, F)
            w_flip = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]  # (C, F, HH, WW)
            dx = conv_stride1_nhwc(dpad, w_flip).reshape(n, h, wd, c)  # (N, H, W, C)
            return dx.transpose(0, 3, 1, 2), np.ascontiguousarray(dw), db  # dx (N, C, H, W)
        w_mat = w.transpose(2, 3, 1, 0).reshape(-1, f)  # (HH*WW*C, F)
        dxp = col2im_nhwc(d2 @ w_mat.T, xp.shape, hh, ww, 1)  # (N, Hp, Wp, C)
    else:
        w_mat = w.transpose(2, 3, 1, 0).reshape(-1, f)  # (HH*WW*C, F)
        rows = h_out * w_out
        blocks, step = _image_blocks(n, rows * w_mat.shape[0] * w.itemsize)
        buf = np.empty(step * rows * w_mat.shape[0], dtype=w.dtype)
        dw_mat = np.zeros_like(w_mat)
        dxp = np.empty(xp.shape, dtype=w.dtype)
        for s, e in blocks:
            cols = im2col_nhwc(xp[s:e], hh, ww, stride, out=buf)  # (block*Ho*Wo, HH*WW*C)
            d_block = d2[s * rows : e * rows]  # (block*Ho*Wo, F)
            dw_mat += cols.T @ d_block  # (HH*WW*C, block*Ho*Wo) @ (block*Ho*Wo, F)
            dcols = d_block @ w_mat.T  # (block*Ho*Wo, F) @ (F, HH*WW*C)
            dxp[s:e] = col2im_nhwc(dcols, (e - s, *xp.shape[1:]), hh, ww, stride)
        dw = dw_mat.reshape(hh, ww, c, f).transpose(3, 2, 0, 1)  # (F, C, HH, WW)
    dx = dxp[:, pad : pad + h, pad : pad + wd, :].transpose(0, 3, 1, 2)  # (N, C, H, W)
    return dx, np.ascontiguousarray(dw), db
