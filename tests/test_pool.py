"""Pooling, spatial normalisation and max-unpooling: fast equals naive, ties, layouts, errors."""

import numpy as np
import pytest

from helpers import torch
from visionblocks import layers as L
from visionblocks.errors import ShapeError
from visionblocks.layers.im2col import channels_last

POOLS = [
    ((2, 3, 8, 8), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ((2, 3, 8, 8), {"pool_height": 3, "pool_width": 3, "stride": 1}),
    ((2, 3, 9, 8), {"pool_height": 3, "pool_width": 2, "stride": 2}),
    ((1, 2, 8, 12), {"pool_height": 4, "pool_width": 4, "stride": 4}),
]


@pytest.mark.parametrize("shape, pool_param", POOLS)
def test_fast_max_pool_equals_naive(rng, shape, pool_param):
    x = rng.standard_normal(shape)
    out_n, cache_n = L.max_pool_forward_naive(x, pool_param)
    out_f, cache_f = L.max_pool_forward_fast(x, pool_param)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.standard_normal(out_n.shape)
    np.testing.assert_allclose(
        L.max_pool_backward_fast(dout, cache_f),
        L.max_pool_backward_naive(dout, cache_n),
        rtol=0,
        atol=1e-12,
    )


def test_ties_send_the_gradient_to_the_first_maximum_once():
    x = np.zeros((1, 1, 4, 4))  # every window is a four-way tie
    dout = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    want = np.zeros((1, 1, 4, 4))
    want[0, 0, ::2, ::2] = dout[0, 0]
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _, cache = L.max_pool_forward_fast(x, pool)
    np.testing.assert_array_equal(L.max_pool_backward_fast(dout, cache), want)
    _, cache = L.max_pool_forward_naive(x, pool)
    np.testing.assert_array_equal(L.max_pool_backward_naive(dout, cache), want)


def test_pooling_keeps_the_memory_layout_and_dtype(rng):
    x = channels_last(rng.standard_normal((2, 4, 6, 6)).astype(np.float32))
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    for forward, backward in (
        (L.max_pool_forward_fast, L.max_pool_backward_fast),
        (L.avg_pool_forward, L.avg_pool_backward),
    ):
        out, cache = forward(x, pool)
        assert out.dtype == np.float32 and out.transpose(0, 2, 3, 1).flags.c_contiguous
        dx = backward(np.ones_like(out), cache)
        assert dx.dtype == np.float32 and dx.transpose(0, 2, 3, 1).flags.c_contiguous
        assert dx.shape == x.shape


def test_avg_and_global_avg_pool_values(rng):
    x = rng.standard_normal((2, 3, 4, 6))
    out, _ = L.avg_pool_forward(x, {"pool_height": 2, "pool_width": 3, "stride": 1})
    assert out.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(out[1, 2, 0, 1], x[1, 2, 0:2, 1:4].mean())
    g, cache = L.global_avg_pool_forward(x)
    np.testing.assert_allclose(g, x.mean(axis=(2, 3)))
    dx = L.global_avg_pool_backward(np.ones((2, 3)), cache)
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 24))


@pytest.mark.parametrize(
    "shape, pool_param, message",
    [
        ((2, 3, 3, 3), {"pool_height": 4, "pool_width": 2, "stride": 1}, "larger than the input"),
        ((2, 3, 7, 8), {"pool_height": 2, "pool_width": 2, "stride": 2}, "not an integer"),
        ((2, 3, 8), {"pool_height": 2, "pool_width": 2, "stride": 2}, "4 dimensions"),
    ],
)
def test_bad_pool_shapes_raise(rng, shape, pool_param, message):
    x = rng.standard_normal(shape)
    for forward in (L.max_pool_forward_naive, L.max_pool_forward_fast, L.avg_pool_forward):
        with pytest.raises(ShapeError, match=message):
            forward(x, pool_param)


def test_bad_pool_param_is_rejected(rng):
    with pytest.raises(ValueError, match="stride"):
        L.max_pool_forward_fast(rng.standard_normal((1, 1, 4, 4)), {"stride": 0})


def test_max_unpool_inverts_max_pool_at_the_maxima(rng):
    x = rng.random((2, 3, 6, 4)) + 0.1  # positive, so the unpooled zeros never win
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = L.max_pool_forward_fast(x, pool)
    up, _ = L.max_unpool_forward(out, L.max_pool_indices(cache), pool)
    assert up.shape == x.shape
    mask = up != 0
    np.testing.assert_array_equal(up[mask], x[mask])
    assert mask.sum() == out.size
    back, _ = L.max_pool_forward_fast(up, pool)  # pooling again gives the same maxima back
    np.testing.assert_array_equal(back, out)


def test_max_unpool_rejects_bad_indices(rng):
    x = rng.standard_normal((1, 1, 2, 2))
    with pytest.raises(ValueError, match="must lie in"):
        L.max_unpool_forward(x, np.full((1, 1, 2, 2), 16), {"output_size": (4, 4)})
    with pytest.raises(ShapeError, match="shape of x"):
        L.max_unpool_forward(x, np.zeros((1, 1, 2), dtype=int), {})
    with pytest.raises(TypeError, match="integer"):
        L.max_unpool_forward(x, np.zeros((1, 1, 2, 2)), {})


@pytest.mark.torch
def test_max_pool_indices_match_torch(rng):
    if torch is None:
        pytest.skip("torch not installed")
    x = rng.standard_normal((2, 3, 9, 9))
    pool = {"pool_height": 3, "pool_width": 3, "stride": 3}
    _, cache = L.max_pool_forward_fast(x, pool)
    _, idx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 3, return_indices=True)
    np.testing.assert_array_equal(L.max_pool_indices(cache), idx.numpy())


def test_spatial_batchnorm_normalises_each_channel_and_tracks_running_stats(rng):
    x = 3.0 * rng.standard_normal((8, 3, 5, 5)) + 2.0
    bn_param = {"mode": "train"}
    out, _ = L.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    assert bn_param["running_mean"].shape == (3,)
    bn_param["mode"] = "test"
    test_out, _ = L.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert test_out.shape == x.shape


def test_spatial_groupnorm_checks_groups_and_accepts_4d_gamma(rng):
    x = rng.standard_normal((2, 6, 3, 3))
    g, b = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    out, cache = L.spatial_groupnorm_forward(x, g, b, 3, {})
    grouped = ((out - b) / g).reshape(2, 3, -1)  # (N, G, C/G*H*W)
    np.testing.assert_allclose(grouped.mean(axis=2), 0.0, atol=1e-10)
    _, dg, db = L.spatial_groupnorm_backward(np.ones_like(out), cache)
    assert dg.shape == db.shape == (1, 6, 1, 1)
    with pytest.raises(ShapeError, match="divisor"):
        L.spatial_groupnorm_forward(x, g, b, 4, {})


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_spatial_batchnorm_is_batchnorm_over_positions(rng, dtype, tol):
    x = (2.0 * rng.standard_normal((4, 3, 5, 6)) + 1.0).astype(dtype)
    g, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 3)  # (N*H*W, C)
    p_rows, p_spatial = {"momentum": 0.8}, {"momentum": 0.8}
    want, cache_rows = L.batchnorm_forward(rows, g, b, p_rows)
    out, cache = L.spatial_batchnorm_forward(x, g, b, p_spatial)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1).reshape(-1, 3), want, atol=tol)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(p_spatial[key], p_rows[key], atol=tol)
    dout = rng.standard_normal(x.shape).astype(dtype)
    drows = L.batchnorm_backward_alt(dout.transpose(0, 2, 3, 1).reshape(-1, 3), cache_rows)
    dx, dg, db = L.spatial_batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx.transpose(0, 2, 3, 1).reshape(-1, 3), drows[0], atol=tol)
    np.testing.assert_allclose(dg, drows[1], atol=10 * tol)
    np.testing.assert_allclose(db, drows[2], atol=10 * tol)
    p_rows["mode"] = p_spatial["mode"] = "test"
    want, _ = L.batchnorm_forward(rows, g, b, p_rows)
    out, _ = L.spatial_batchnorm_forward(x, g, b, p_spatial)
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1).reshape(-1, 3), want, atol=tol)
    with pytest.raises(ValueError, match="mode"):
        L.spatial_batchnorm_forward(x, g, b, {"mode": "eval"})
