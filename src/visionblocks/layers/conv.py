"""2-D convolution (cross-correlation, as in every deep-learning library): naive loops and fast.

``out[n, f, i, j] = b[f] + sum_{c, a, b} x_pad[n, c, i * stride + a, j * stride + b] *
w[f, c, a, b]``, with ``H_out = 1 + (H + 2 * pad - HH) / stride`` (likewise W_out).

The naive pair is the readable oracle. The fast pair copies the windows of a channels-last view
into one im2col matrix and does each direction with a single float32 (or float64) BLAS matrix
multiply; see ``visionblocks.layers.im2col`` for the memory layout it returns.
"""

from __future__ import annotations

import numpy as np

from visionblocks.layers.im2col import check_conv_args, col2im_nhwc, im2col_nhwc, pad_nhwc


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


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass as one im2col copy and one matrix multiply.

    Equal to ``conv_forward_naive``. The output is an ordinary (N, F, H_out, W_out) array whose
    memory is channels-last, so the next fast layer reads it without a copy.

    Args:
        x: (N, C, H, W) input, any memory layout (channels-last is fastest).
        w: (F, C, HH, WW) filters.
        b: (F,) biases.
        conv_param: dict with 'stride' (default 1) and 'pad' (default 0).

    Returns:
        out: (N, F, H_out, W_out) output.
        cache: (cols, w, x shape, conv_param) for ``conv_backward_fast``.
    """
    stride, pad, h_out, w_out = check_conv_args(x, w, b, conv_param)
    n, f = x.shape[0], w.shape[0]
    hh, ww = w.shape[2:]
    dtype = np.result_type(x, w)
    xp = pad_nhwc(x.transpose(0, 2, 3, 1), pad)  # (N, H, W, C) view -> (N, Hp, Wp, C)
    cols = im2col_nhwc(xp.astype(dtype, copy=False), hh, ww, stride)  # (N*Ho*Wo, HH*WW*C)
    w_mat = w.transpose(2, 3, 1, 0).reshape(-1, f).astype(dtype, copy=False)  # (HH*WW*C, F)
    out = cols @ w_mat  # (N*Ho*Wo, F)
    out += b.astype(dtype, copy=False)
    out = out.reshape(n, h_out, w_out, f).transpose(0, 3, 1, 2)  # (N, F, Ho, Wo), NHWC memory
    return out, (cols, w, w_mat, xp.shape, x.shape, pad, stride)


def conv_backward_fast(dout, cache):
    """Convolution backward pass: two matrix multiplies and a col2im scatter-add.

    Args:
        dout: (N, F, H_out, W_out) upstream gradient, any memory layout (channels-last is
            fastest).
        cache: from ``conv_forward_fast``.

    Returns:
        dx: (N, C, H, W) (channels-last memory), dw: (F, C, HH, WW), db: (F,).
    """
    cols, w, w_mat, padded_shape, x_shape, pad, stride = cache
    f, c, hh, ww = w.shape
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*Ho*Wo, F); free for NHWC memory
    d2 = d2.astype(cols.dtype, copy=False)
    db = d2.sum(axis=0)
    dw = cols.T @ d2  # (HH*WW*C, N*Ho*Wo) @ (N*Ho*Wo, F) -> (HH*WW*C, F)
    dw = dw.reshape(hh, ww, c, f).transpose(3, 2, 0, 1)  # (F, C, HH, WW)
    dcols = d2 @ w_mat.T  # (N*Ho*Wo, F) @ (F, HH*WW*C) -> (N*Ho*Wo, HH*WW*C)
    dxp = col2im_nhwc(dcols, padded_shape, hh, ww, stride)  # (N, Hp, Wp, C)
    h, wd = x_shape[2:]
    dx = dxp[:, pad : pad + h, pad : pad + wd, :].transpose(0, 3, 1, 2)  # (N, C, H, W)
    return dx, np.ascontiguousarray(dw, dtype=w.dtype), db.astype(w.dtype, copy=False)
