"""Empty batches, one rule everywhere: a per-row result over no rows is an empty result; a mean
over no examples (a loss) is a one-line error, in both engines."""

import numpy as np
import pytest

from helpers import torch
from visionblocks.classic import KNearestNeighbor, LinearSVM, softmax_loss_vectorized
from visionblocks.classic.linear_classifier import append_bias
from visionblocks.errors import ShapeError
from visionblocks.layers import softmax_loss, svm_loss

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


@pytest.fixture
def knn(rng):
    model = KNearestNeighbor()
    model.train(rng.standard_normal((20, 5)), np.arange(20) % 3)
    return model


@pytest.mark.parametrize("num_loops", [0, 1, 2])
@pytest.mark.parametrize("shape", [(0, 5), (0, 1, 1, 5)])
def test_knn_predicts_no_labels_for_no_rows(knn, num_loops, shape):
    y = knn.predict(np.zeros(shape), k=3, num_loops=num_loops)
    assert y.shape == (0,) and y.dtype.kind == "i"


def test_knn_kneighbors_and_distances_of_no_rows_are_empty(knn):
    for metric in ("l2", "l1"):
        knn.metric = metric
        dists, idx = knn.kneighbors(np.zeros((0, 5)), 3)
        assert dists.shape == idx.shape == (0, 3) and idx.dtype == np.int64
    for f in (knn.compute_distances_two_loops, knn.compute_distances_one_loop,
              knn.compute_distances_no_loops):  # fmt: skip
        assert f(np.zeros((0, 5))).shape == (0, 20)
    assert knn.predict_labels(np.zeros((0, 20)), k=2).shape == (0,)


def test_knn_still_refuses_an_empty_training_set():
    with pytest.raises(ShapeError, match="at least one"):
        KNearestNeighbor().train(np.zeros((0, 5)), np.zeros(0, dtype=int))


def test_linear_classifier_predicts_no_labels_for_no_rows(rng):
    clf = LinearSVM(seed=0)
    clf.train(append_bias(rng.standard_normal((30, 4))), np.arange(30) % 3, num_iters=2,
              verbose=False)  # fmt: skip
    assert append_bias(np.zeros((0, 1, 2, 2))).shape == (0, 5)
    assert clf.predict(append_bias(np.zeros((0, 4)))).shape == (0,)


@pytest.mark.parametrize("loss", [svm_loss, softmax_loss])
def test_layer_losses_refuse_an_empty_batch(loss):
    with pytest.raises(ShapeError, match="at least one example"):
        loss(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_classic_losses_refuse_an_empty_batch():
    with pytest.raises(ShapeError, match="at least one example"):
        softmax_loss_vectorized(np.zeros((4, 3)), np.zeros((0, 4)), np.zeros(0, dtype=int), 0.0)


@needs_torch
@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
def test_torch_losses_refuse_an_empty_batch(name):
    from visionblocks.torchkit import functional as TF

    with pytest.raises(ShapeError, match="at least one example"):
        getattr(TF, name)(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
