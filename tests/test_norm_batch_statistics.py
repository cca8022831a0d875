"""Batch norm's batch statistics: refused over < 2 values, and running statistics checked
against an independent computation (biased variance, the CS231n momentum convention)."""

import numpy as np
import pytest

from helpers import torch
from visionblocks.data import load_dataset
from visionblocks.errors import ShapeError
from visionblocks.layers import batchnorm_forward, spatial_batchnorm_forward
from visionblocks.models import FullyConnectedNet
from visionblocks.solver import Solver

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


@pytest.mark.parametrize("n", [0, 1])
def test_batchnorm_refuses_train_statistics_of_fewer_than_two_examples(n):
    x = np.ones((n, 3))
    bn_param = {"mode": "train"}
    with pytest.raises(ShapeError, match=f"at least 2 values per feature.*got {n}"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert "running_var" not in bn_param  # nothing was updated
    out, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "test"})  # test mode is fine
    assert out.shape == (n, 3)


@pytest.mark.parametrize("shape", [(0, 2, 3, 3), (1, 2, 1, 1)])
def test_spatial_batchnorm_refuses_fewer_than_two_values_per_channel(shape):
    with pytest.raises(ShapeError, match="at least 2 values per feature"):
        spatial_batchnorm_forward(np.ones(shape), np.ones(2), np.zeros(2), {"mode": "train"})
    out, _ = spatial_batchnorm_forward(np.ones((1, 2, 2, 1)), np.ones(2), np.zeros(2), {})
    assert out.shape == (1, 2, 2, 1)  # one image of two positions: two values per channel


@needs_torch
@pytest.mark.parametrize("n", [0, 1])
def test_torch_twins_refuse_the_same(n):
    from visionblocks.torchkit import functional as TF

    g, b = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ShapeError, match="at least 2 values per feature"):
        TF.batchnorm(torch.ones(n, 3, dtype=torch.float64), g, b, {"mode": "train"})
    with pytest.raises(ShapeError, match="at least 2 values per channel"):
        TF.spatial_batchnorm(torch.ones(n, 3, 1, 1, dtype=torch.float64), g, b, {})


def test_solver_refuses_batch_size_1_for_a_batchnorm_model():
    data = load_dataset("digits", num_train=20, seed=0)
    model = FullyConnectedNet([8], input_dim=64, normalization="batchnorm", seed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 2 for a model with batch norm"):
        Solver(model, data, batch_size=1, verbose=False)
    Solver(FullyConnectedNet([8], input_dim=64, seed=0), data, batch_size=1, verbose=False)


def test_running_statistics_match_an_independent_computation():
    rng = np.random.default_rng(3)
    momentum, bn_param = 0.7, {"mode": "train", "momentum": 0.7}
    mean, var, unbiased = np.zeros(4), np.ones(4), np.ones(4)  # the documented start
    for _ in range(5):
        x = rng.normal(2.0, 3.0, size=(6, 4))
        batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
        sq = ((x - x.sum(axis=0) / 6) ** 2).sum(axis=0)
        mean = momentum * mean + (1 - momentum) * x.sum(axis=0) / 6
        var = momentum * var + (1 - momentum) * sq / 6  # biased: divide by N
        unbiased = momentum * unbiased + (1 - momentum) * sq / 5  # torch's running_var
    np.testing.assert_allclose(bn_param["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], var, rtol=1e-12)
    assert np.all(np.abs(unbiased / var - 1) > 0.05)  # so the check above tells them apart
    # spatial batch norm: the same statistics over N * H * W values per channel
    x = rng.normal(1.0, 2.0, size=(2, 3, 2, 2))
    sp = {"mode": "train", "momentum": 0.5}
    spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), sp)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 3)  # (N*H*W, C)
    np.testing.assert_allclose(sp["running_mean"], 0.5 * rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sp["running_var"], 0.5 + 0.5 * rows.var(axis=0), rtol=1e-12)
