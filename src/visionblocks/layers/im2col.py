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


def pad_nhwc(x_nhwc, pad):
    """Zero-pads the two spatial axes of a channels-last array.

    Args:
        x_nhwc: (N, H, W, C) array of any memory layout.
        pad: zeros added on each side of H and W.

    Returns:
        (N, H + 2 * pad, W + 2 * pad, C) array; ``x_nhwc`` itself when pad is 0.
    """
    if pad == 0:
        return x_nhwc
    n, h, w, c = x_nhwc.shape
    xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x_nhwc.dtype)
    xp[:, pad : pad + h, pad : pad + w, :] = x_nhwc
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


def im2col_nhwc(xp, hh, ww, stride):
    """Copies every window of a channels-last input into the rows of a matrix.

    Args:
        xp: (N, Hp, Wp, C) padded input.
        hh, ww: window height and width.
        stride: step between windows.

    Returns:
        cols: (N * H_out * W_out, HH * WW * C) C-contiguous, columns ordered (a, b, c).
    """
    view = windows_nhwc(xp, hh, ww, stride)  # (N, H_out, W_out, HH, WW, C)
    n, h_out, w_out, _, _, c = view.shape
    cols = np.empty(view.shape, dtype=xp.dtype)
    for a in range(hh):  # HH copies of (N, H_out, W_out, WW, C) keep numpy's inner loops long
        cols[:, :, :, a] = view[:, :, :, a]
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
