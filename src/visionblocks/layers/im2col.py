"""Shape checks and the im2col / col2im kernels that the fast convolutions are built on.

The kernels work on channels-last (N, H, W, C) views. A convolution's public layout is NCHW, but
an NCHW array whose memory is channels-last is just ``y.transpose(0, 3, 1, 2)`` of an NHWC
array: the fast layers return such views, element-wise layers keep their memory order, and the
next convolution reads them back without a copy. Patches then hold runs of C contiguous values,
and one matrix multiply per direction does the arithmetic.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def window_output_size(size, window, stride, pad, what="input"):
    """Output length ``1 + (size + 2 * pad - window) / stride`` of a sliding window.

    Args:
        size: input length (H or W).
        window: window length (HH or WW).
        stride: step between windows.
        pad: zero padding on each side.
        what: names the dimension in error messages.

    Raises:
        ShapeError: the window is larger than the padded input, or the windows do not tile it
            (the quotient is not an integer).
    """
    padded = size + 2 * pad
    if window > padded:
        raise ShapeError(
            f"window {window} is larger than the {what} ({size} + 2 * pad {pad} = {padded})"
        )
    if (padded - window) % stride:
        raise ShapeError(
            f"{what} does not fit the window: 1 + ({size} + 2 * {pad} - {window}) / {stride} "
            f"= 1 + {padded - window}/{stride} is not an integer; change pad or stride"
        )
    return 1 + (padded - window) // stride


def check_conv_args(x, w, b, conv_param):
    """Checks a convolution's arguments and returns (stride, pad, H_out, W_out).

    Args:
        x: (N, C, H, W) input.
        w: (F, C, HH, WW) filters.
        b: (F,) biases.
        conv_param: dict with 'stride' (default 1) and 'pad' (default 0).
    """
    as_float_array("x", x, ndim=4)
    as_float_array("w", w, ndim=4)
    as_float_array("b", b, ndim=1)
    stride = _positive_int("conv_param['stride']", conv_param.get("stride", 1))
    pad = _positive_int("conv_param['pad']", conv_param.get("pad", 0), minimum=0)
    if x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"channels mismatch: x has {x.shape[1]} channels (x.shape {x.shape}) but w expects "
            f"{w.shape[1]} (w.shape {w.shape})"
        )
    if b.shape != (w.shape[0],):
        raise ShapeError(f"b must have shape ({w.shape[0]},) to match w {w.shape}, got {b.shape}")
    h_out = window_output_size(x.shape[2], w.shape[2], stride, pad, "input height")
    w_out = window_output_size(x.shape[3], w.shape[3], stride, pad, "input width")
    return stride, pad, h_out, w_out


def channels_last(x):
    """The same (N, C, H, W) values with channels-last memory; no copy when already so.

    Args:
        x: (N, C, H, W) array.

    Returns:
        (N, C, H, W) array whose ``transpose(0, 2, 3, 1)`` is C-contiguous.
    """
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # (N, C, H, W)


def pad_nhwc(x_nhwc, pad_h, pad_w=None):
    """Zero-pads the two spatial axes of a channels-last array.

    Args:
        x_nhwc: (N, H, W, C) array of any memory layout.
        pad_h: zeros added above and below.
        pad_w: zeros added left and right (default pad_h).

    Returns:
        (N, H + 2 * pad_h, W + 2 * pad_w, C) array; ``x_nhwc`` itself when both pads are 0.
    """
    pad_w = pad_h if pad_w is None else pad_w
    if pad_h == pad_w == 0:
        return x_nhwc
    n, h, w, c = x_nhwc.shape
    xp = np.zeros((n, h + 2 * pad_h, w + 2 * pad_w, c), dtype=x_nhwc.dtype)
    xp[:, pad_h : pad_h + h, pad_w : pad_w + w, :] = x_nhwc
    return xp


def windows_nhwc(xp, hh, ww, stride):
    """A read-only strided view of every window, without copying.

    Args:
        xp: (N, Hp, Wp, C) padded input, any memory layout.
        hh, ww: window height and width.
        stride: step between windows.

    Returns:
        (N, H_out, W_out, HH, WW, C) view with ``view[n, i, j, a, b, c] =
        xp[n, i * stride + a, j * stride + b, c]``.
    """
    n, hp, wp, c = xp.shape
    h_out, w_out = (hp - hh) // stride + 1, (wp - ww) // stride + 1
    sn, sh, sw, sc = xp.strides
    return as_strided(
        xp,
        shape=(n, h_out, w_out, hh, ww, c),
        strides=(sn, sh * stride, sw * stride, sh, sw, sc),
        writeable=False,
    )


def im2col_nhwc(xp, hh, ww, stride, out=None):
    """Copies every window of a channels-last input into the rows of a matrix.

    Args:
        xp: (N, Hp, Wp, C) padded input, any memory layout.
        hh, ww: window height and width.
        stride: step between windows.
        out: optional flat buffer of at least N * H_out * W_out * HH * WW * C elements of
            xp's dtype to write into (reused between calls, it saves the page faults of a
            fresh allocation).

    Returns:
        cols: (N * H_out * W_out, HH * WW * C) C-contiguous, columns ordered (a, b, c).
    """
    view = windows_nhwc(xp, hh, ww, stride)  # (N, H_out, W_out, HH, WW, C)
    n, h_out, w_out, _, _, c = view.shape
    if out is None:
        cols = np.empty(view.shape, dtype=xp.dtype)
    else:
        cols = out[: view.size].reshape(view.shape)  # (N, H_out, W_out, HH, WW, C)
    np.copyto(cols, view)  # one strided copy; numpy's iterator keeps runs of WW * C values
    return cols.reshape(n * h_out * w_out, hh * ww * c)  # (N*H_out*W_out, HH*WW*C)


def col2im_nhwc(dcols, padded_shape, hh, ww, stride):
    """Adjoint of ``im2col_nhwc``: adds each row of window gradients back onto the input.

    Args:
        dcols: (N * H_out * W_out, HH * WW * C) gradient with respect to the im2col matrix.
        padded_shape: (N, Hp, Wp, C) shape of the padded input.
        hh, ww: window height and width.
        stride: step between windows.

    Returns:
        dxp: (N, Hp, Wp, C) gradient with respect to the padded input.
    """
    n, hp, wp, c = padded_shape
    h_out, w_out = (hp - hh) // stride + 1, (wp - ww) // stride + 1
    d6 = dcols.reshape(n, h_out, w_out, hh, ww, c)  # (N, H_out, W_out, HH, WW, C)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    h_span, w_span = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
    for a in range(hh):
        for b in range(ww):
            dxp[:, a : a + h_span : stride, b : b + w_span : stride, :] += d6[:, :, :, a, b, :]
    return dxp


#: Bytes of window copies made at a time by the stride-1 kernels: a block of images small enough
#: that the copy and the matrix multiplies that read it stay in the caches.
BLOCK_BYTES = 1 << 20


def _row_windows(xp, ww):
    """Read-only view (N, Hp, W_out, WW, C) of the width-WW windows along each row of xp."""
    n, hp, wp, c = xp.shape
    sn, sh, sw, sc = xp.strides
    return as_strided(xp, (n, hp, wp - ww + 1, ww, c), (sn, sh, sw, sw, sc), writeable=False)


def _row_blocks(xp, ww):
    """Yields (start, stop, rows) per block of images, ``rows`` (block, Hp * W_out, WW * C) being
    the copied width-WW windows of every row: ``rows[i, h * W_out + j] = xp[start + i, h,
    j:j + WW, :].ravel()``. One buffer is reused, so each ``rows`` is valid until the next."""
    n, hp, wp, c = xp.shape
    w_out = wp - ww + 1
    per_image = hp * w_out * ww * c
    step = max(1, min(n, BLOCK_BYTES // (per_image * xp.itemsize)))
    buf = np.empty(step * per_image, dtype=xp.dtype)
    windows = _row_windows(xp, ww)  # (N, Hp, W_out, WW, C)
    for s in range(0, n, step):
        e = min(s + step, n)
        rows = buf[: (e - s) * per_image].reshape(e - s, hp, w_out, ww, c)  # (block, Hp, Wo, WW, C)
        np.copyto(rows, windows[s:e])
        yield s, e, rows.reshape(e - s, hp * w_out, ww * c)  # (block, Hp*W_out, WW*C)


def conv_stride1_nhwc(xp, w):
    """Stride-1 cross-correlation of a padded channels-last input, without a full im2col.

    Only the WW columns of each window are copied (a WW-fold copy, not HH * WW-fold): for each
    filter row a, the windows of output rows are a shifted slice of those row windows, so the
    output is the sum of HH batched matrix multiplies with K = WW * C.

    Args:
        xp: (N, Hp, Wp, C) padded input.
        w: (F, C, HH, WW) filters.

    Returns:
        out: (N * H_out * W_out, F) with H_out = Hp - HH + 1 and W_out = Wp - WW + 1, rows
        ordered (n, i, j).
    """
    n, hp, wp, c = xp.shape
    f, _, hh, ww = w.shape
    h_out, w_out = hp - hh + 1, wp - ww + 1
    m = h_out * w_out
    w_rows = [w[:, :, a, :].transpose(2, 1, 0).reshape(ww * c, f) for a in range(hh)]  # (WW*C, F)
    out = np.empty((n, m, f), dtype=xp.dtype)
    tmp = None
    for s, e, rows in _row_blocks(xp, ww):
        o = out[s:e]  # (block, Ho*Wo, F)
        np.matmul(rows[:, :m], w_rows[0], out=o)
        for a in range(1, hh):
            tmp = np.empty_like(o) if tmp is None or tmp.shape != o.shape else tmp
            np.matmul(rows[:, a * w_out : a * w_out + m], w_rows[a], out=tmp)
            o += tmp
    return out.reshape(n * m, f)  # (N*Ho*Wo, F)


def conv_stride1_dw(xp, d, hh, ww):
    """Filter gradient of ``conv_stride1_nhwc``.

    Args:
        xp: (N, Hp, Wp, C) padded input of the forward pass.
        d: (N * H_out * W_out, F) upstream gradient, rows ordered (n, i, j).
        hh, ww: filter height and width.

    Returns:
        dw: (F, C, HH, WW).
    """
    n, hp, wp, c = xp.shape
    f = d.shape[1]
    w_out = wp - ww + 1
    m = (hp - hh + 1) * w_out
    d3 = d.reshape(n, m, f)  # (N, Ho*Wo, F)
    dw_rows = np.zeros((hh, ww * c, f), dtype=d.dtype)
    for s, e, rows in _row_blocks(xp, ww):
        for a in range(hh):
            xa = rows[:, a * w_out : a * w_out + m]  # (block, Ho*Wo, WW*C)
            dw_rows[a] += np.matmul(xa.transpose(0, 2, 1), d3[s:e]).sum(axis=0)  # (WW*C, F)
    return dw_rows.reshape(hh, ww, c, f).transpose(3, 2, 0, 1)  # (F, C, HH, WW)
