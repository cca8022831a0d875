"""Convolution layers: fast equals naive, layouts and dtypes, clear errors, transposed conv."""

import numpy as np
import pytest

from helpers import torch
from visionblocks import layers as L
from visionblocks.errors import ShapeError
from visionblocks.layers import conv as conv_module
from visionblocks.layers import im2col as im2col_module
from visionblocks.layers.im2col import channels_last, col2im_nhwc, im2col_nhwc

SHAPES = [
    # (x shape, w shape, conv_param)
    ((2, 3, 7, 7), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
    ((3, 2, 9, 7), (5, 2, 3, 3), {"stride": 2, "pad": 1}),
    ((2, 4, 8, 6), (3, 4, 1, 1), {"stride": 1, "pad": 0}),
    ((1, 3, 10, 9), (2, 3, 5, 4), {"stride": 3, "pad": 2}),
    ((2, 1, 5, 5), (6, 1, 5, 5), {"stride": 1, "pad": 0}),
    ((2, 3, 6, 7), (3, 3, 3, 5), {"stride": 1, "pad": 1}),
]


@pytest.fixture(params=["row-window", "im2col"])
def conv_path(request, monkeypatch):
    """Runs a test on both fast paths: the stride-1 row-window kernel and im2col."""
    monkeypatch.setattr(
        conv_module, "ROW_KERNEL_MIN_K", 1 if request.param == "row-window" else 10**9
    )
    return request.param


@pytest.mark.parametrize("x_shape, w_shape, conv_param", SHAPES)
def test_fast_conv_equals_naive(rng, conv_path, x_shape, w_shape, conv_param):
    _check_fast_equals_naive(rng, x_shape, w_shape, conv_param)


def _check_fast_equals_naive(rng, x_shape, w_shape, conv_param):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out_n, cache_n = L.conv_forward_naive(x, w, b, conv_param)
    out_f, cache_f = L.conv_forward_fast(x, w, b, conv_param)
    np.testing.assert_allclose(out_f, out_n, rtol=0, atol=1e-9)
    dout = rng.standard_normal(out_n.shape)
    for got, want in zip(L.conv_backward_fast(dout, cache_f), L.conv_backward_naive(dout, cache_n)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("chunk_bytes", [1, 1000])
def test_fast_conv_in_blocks_of_images_equals_naive(rng, monkeypatch, conv_path, chunk_bytes):
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", chunk_bytes)  # 1 image, then 2 per block
    monkeypatch.setattr(im2col_module, "BLOCK_BYTES", chunk_bytes)
    _check_fast_equals_naive(rng, (5, 3, 4, 4), (6, 3, 3, 3), {"pad": 1})
    _check_fast_equals_naive(rng, (5, 2, 5, 5), (3, 2, 3, 3), {"stride": 2})
    _check_fast_equals_naive(rng, (3, 2, 5, 4), (5, 2, 2, 3), {"pad": 0})


def test_output_size_follows_the_classic_formula(rng):
    x = rng.standard_normal((2, 3, 32, 32))
    out, _ = L.conv_forward_fast(x, rng.standard_normal((7, 3, 5, 5)), np.zeros(7), {"pad": 2})
    assert out.shape == (2, 7, 32, 32)
    out, _ = L.conv_forward_fast(x, rng.standard_normal((7, 3, 4, 4)), np.zeros(7), {"stride": 2})
    assert out.shape == (2, 7, 15, 15)  # 1 + (32 - 4) / 2


def test_float32_stays_float32_and_output_is_channels_last(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out, cache = L.conv_forward_fast(x, w, np.zeros(4, np.float32), {"pad": 1})
    assert out.dtype == np.float32 and out.transpose(0, 2, 3, 1).flags.c_contiguous
    dx, dw, db = L.conv_backward_fast(np.ones_like(out), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    assert dw.flags.c_contiguous and dx.shape == x.shape


def test_any_input_layout_gives_the_same_result(rng):
    x = rng.standard_normal((2, 3, 6, 5))
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    want, _ = L.conv_forward_naive(x, w, b, {"pad": 1})
    for variant in (channels_last(x), np.asfortranarray(x), x[:, :, ::1, :]):
        np.testing.assert_allclose(
            L.conv_forward_fast(variant, w, b, {"pad": 1})[0], want, atol=1e-12
        )


def test_im2col_and_col2im_are_adjoint(rng):
    xp = rng.standard_normal((2, 7, 6, 3))
    cols = im2col_nhwc(xp, 3, 2, 2)  # windows: 1 + (7 - 3) / 2 = 3 rows, 1 + (6 - 2) / 2 = 3 cols
    assert cols.shape == (2 * 3 * 3, 3 * 2 * 3)
    d = rng.standard_normal(cols.shape)
    back = col2im_nhwc(d, xp.shape, 3, 2, 2)
    assert np.sum(cols * d) == pytest.approx(np.sum(xp * back), rel=1e-12)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_len, conv_param, message",
    [
        ((2, 3, 8, 8), (4, 2, 3, 3), 4, {"pad": 1}, "channels mismatch"),
        ((2, 3, 8, 8), (4, 3, 3, 3), 4, {"stride": 2, "pad": 1}, "not an integer"),
        ((2, 3, 4, 4), (4, 3, 7, 7), 4, {"pad": 1}, "larger than the input"),
        ((2, 3, 8, 8), (4, 3, 3, 3), 5, {"pad": 1}, "b must have shape"),
        ((3, 8, 8), (4, 3, 3, 3), 4, {"pad": 1}, "4 dimensions"),
    ],
)
def test_bad_shapes_raise_a_clear_error(rng, x_shape, w_shape, b_len, conv_param, message):
    x, w, b = (rng.standard_normal(s) for s in (x_shape, w_shape, b_len))
    for forward in (L.conv_forward_naive, L.conv_forward_fast):
        with pytest.raises(ShapeError, match=message):
            forward(x, w, b, conv_param)


@pytest.mark.parametrize("conv_param", [{"stride": 0}, {"pad": -1}, {"stride": 1.5}])
def test_bad_conv_param_is_rejected(rng, conv_param):
    x, w, b = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="conv_param"):
        L.conv_forward_fast(x, w, b, conv_param)


def test_integer_input_is_a_type_error(rng):
    w, b = rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(TypeError, match="floating"):
        L.conv_forward_fast(np.ones((1, 2, 5, 5), dtype=int), w, b, {})


def test_transposed_conv_is_the_adjoint_of_conv(rng):
    # <conv(x), y> == <x, conv_transpose(y)> with the same weights and no bias.
    x = rng.standard_normal((2, 3, 9, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    conv_param = {"stride": 2, "pad": 1}
    y_shape = L.conv_forward_fast(x, w, np.zeros(4), conv_param)[0].shape
    y = rng.standard_normal(y_shape)
    conv_x = L.conv_forward_fast(x, w, np.zeros(4), conv_param)[0]
    convt_y = L.conv_transpose_forward(y, w, np.zeros(3), conv_param)[0]
    assert convt_y.shape == x.shape  # y is 5x4: (5 - 1) * 2 - 2 + 3 = 9, (4 - 1) * 2 - 2 + 3 = 7
    assert np.sum(conv_x * y) == pytest.approx(np.sum(x * convt_y), rel=1e-12)


def test_transposed_conv_errors(rng):
    x = rng.standard_normal((1, 3, 2, 2))
    with pytest.raises(ShapeError, match="channels mismatch"):
        L.conv_transpose_forward(x, rng.standard_normal((2, 4, 3, 3)), np.zeros(4), {})
    with pytest.raises(ShapeError, match="crops away"):
        L.conv_transpose_forward(x, rng.standard_normal((3, 4, 1, 1)), np.zeros(4), {"pad": 1})


@pytest.mark.torch
def test_fast_conv_matches_torch_in_float32(rng):
    if torch is None:
        pytest.skip("torch not installed")
    x = rng.standard_normal((4, 8, 12, 12)).astype(np.float32)
    w = (0.1 * rng.standard_normal((16, 8, 3, 3))).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    out, _ = L.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    ref = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), padding=1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-5)
