"""Inverted dropout checked from its definition, not against a rebuilt copy of our own mask:
p is the keep probability, kept entries are scaled by 1/p, test mode is the identity."""

import numpy as np
import pytest

from helpers import torch
from visionblocks.layers import dropout_backward, dropout_forward

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _x(rng, n=400):
    return rng.uniform(1.0, 2.0, size=(n, 500))  # never 0, so out == 0 marks a dropped unit


@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_kept_units_are_scaled_by_one_over_p_and_kept_with_probability_p(rng, p):
    x = _x(rng)
    out, cache = dropout_forward(x, {"mode": "train", "p": p, "rng": np.random.default_rng(1)})
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / p, rtol=1e-15)
    n = kept.size
    assert abs(kept.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)  # binomial, 5 standard errors
    assert abs(out.mean() / x.mean() - 1) < 0.01  # inverted dropout keeps the expectation
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(dropout_backward(dout, cache), dout * kept / p, rtol=1e-15)


def test_test_mode_and_keep_probability_one_are_the_identity(rng):
    x = _x(rng, 10)
    for param in ({"mode": "test", "p": 0.3}, {"mode": "train", "p": 1.0}):
        out, cache = dropout_forward(x, param)
        np.testing.assert_array_equal(out, x)
        dout = rng.standard_normal(x.shape)
        np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_seeds_fix_masks_and_a_generator_draws_fresh_ones(rng):
    x = _x(rng, 50)

    def mask(**kw):
        return dropout_forward(x, {"mode": "train", "p": 0.5, **kw})[0] != 0

    np.testing.assert_array_equal(mask(seed=1), mask(seed=1))
    assert (mask(seed=1) != mask(seed=2)).mean() > 0.4  # independent masks differ in ~half
    gen = np.random.default_rng(7)
    assert (mask(rng=gen) != mask(rng=gen)).mean() > 0.4


@needs_torch
def test_the_torch_twin_follows_the_same_definition(rng):
    from visionblocks.torchkit import functional as TF

    x = torch.as_tensor(_x(rng))
    gen = torch.Generator().manual_seed(0)
    out = TF.dropout(x, {"mode": "train", "p": 0.3, "generator": gen})
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.3, rtol=1e-15, atol=0)
    assert abs(kept.double().mean().item() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / kept.numel())
    assert TF.dropout(x, {"mode": "test", "p": 0.3}) is x
