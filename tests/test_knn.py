"""Tests of KNearestNeighbor: the three distance paths, the exact fast search, votes, errors."""

import numpy as np
import pytest

from visionblocks.classic import KNearestNeighbor
from visionblocks.classic.knn import _smallest, vote
from visionblocks.errors import ShapeError


def _data(rng, num_train=60, num_test=15, dim=12):
    X = rng.standard_normal((num_train, dim))
    y = rng.integers(0, 4, num_train)
    Xt = rng.standard_normal((num_test, dim))
    X[7] = X[3]  # duplicated training rows: equal distances
    X[11] = X[3]
    Xt[2] = X[3]  # a test row at distance 0 from three training rows
    return X, y, Xt


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_three_distance_functions_agree(rng, metric):
    X, y, Xt = _data(rng)
    knn = KNearestNeighbor(metric=metric, max_memory_mb=0.01)  # forces many small chunks
    knn.train(X, y)
    d2 = knn.compute_distances_two_loops(Xt)
    d1 = knn.compute_distances_one_loop(Xt)
    d0 = knn.compute_distances_no_loops(Xt)
    assert d2.shape == (15, 60)
    np.testing.assert_allclose(d1, d2, atol=1e-6, rtol=0)
    np.testing.assert_allclose(d0, d2, atol=1e-6, rtol=0)
    if metric == "l2":
        ref = np.sqrt(((Xt[:, None, :] - X[None]) ** 2).sum(-1))  # (test, train)
    else:
        ref = np.abs(Xt[:, None, :] - X[None]).sum(-1)
    np.testing.assert_allclose(d2, ref, atol=1e-12)


def test_no_loop_l2_never_broadcasts_over_features(monkeypatch, rng):
    X, y, Xt = _data(rng)
    knn = KNearestNeighbor()
    knn.train(X, y)
    seen = []
    real_sub = np.subtract

    def spy(a, b, *args, **kwargs):
        seen.append(np.broadcast_shapes(np.shape(a), np.shape(b)))
        return real_sub(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "subtract", spy)
    knn.compute_distances_no_loops(Xt)
    assert all(len(s) < 3 for s in seen)


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_predict_paths_agree_and_fast_search_is_exact(rng, metric, k):
    X, y, Xt = _data(rng)
    knn = KNearestNeighbor(metric=metric, max_memory_mb=0.02)
    knn.train(X, y)
    dists = knn.compute_distances_two_loops(Xt)
    preds = [knn.predict(Xt, k=k, num_loops=n) for n in (0, 1, 2)]
    np.testing.assert_array_equal(preds[0], preds[2])
    np.testing.assert_array_equal(preds[1], preds[2])
    np.testing.assert_array_equal(preds[2], knn.predict_labels(dists, k=k))
    d, idx = knn.kneighbors(Xt, k)
    ref = np.argsort(dists, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(d, np.take_along_axis(dists, ref, axis=1), atol=1e-9)
    assert list(idx[2, : min(k, 3)]) == [3, 7, 11][: min(k, 3)]  # ties in training order


def test_fast_search_is_exact_with_many_ties_and_float32_rounding(rng):
    # binary images: a few distinct distances, so ties straddle every candidate boundary
    X = rng.integers(0, 2, (300, 16)).astype(np.float64)
    y = rng.integers(0, 3, 300)
    Xt = rng.integers(0, 2, (40, 16)).astype(np.float64) + 1e-9  # below float32 resolution
    knn = KNearestNeighbor(max_memory_mb=0.05)
    knn.train(X, y)
    ref = np.argsort(knn.compute_distances_two_loops(Xt), axis=1, kind="stable")
    fallbacks = []
    for extra in (0, 2, None):
        _, idx = knn.kneighbors(Xt, 5, extra=extra)
        np.testing.assert_array_equal(idx, ref[:, :5])
        fallbacks.append(knn.num_exact_fallbacks)
    assert fallbacks[0] > 0  # ties across the candidate boundary forced the exact path


@pytest.mark.parametrize("n, m", [(1000, 5), (1000, 40), (999, 7), (70, 3), (40, 3)])
def test_block_selection_keeps_the_m_smallest(rng, n, m):
    scores = rng.integers(0, 50, (20, n)).astype(np.float32)  # many ties
    cand, worst = _smallest(scores, m)
    assert cand.shape == (20, m)
    assert all(len(set(row)) == m for row in cand)
    kept = np.take_along_axis(scores, cand, axis=1)
    np.testing.assert_array_equal(np.sort(kept, axis=1), np.sort(scores, axis=1)[:, :m])
    np.testing.assert_array_equal(worst, kept.max(axis=1))


def test_fast_search_on_a_larger_training_set(rng):
    X = rng.random((3000, 10))
    Xt = rng.random((24, 10))
    knn = KNearestNeighbor(max_memory_mb=0.3)
    knn.train(X, rng.integers(0, 5, 3000))
    ref = np.argsort(knn.compute_distances_two_loops(Xt), axis=1, kind="stable")
    for k in (1, 4, 25):
        np.testing.assert_array_equal(knn.kneighbors(Xt, k)[1], ref[:, :k])


def test_kneighbors_matches_scikit_learn(rng):
    neighbors = pytest.importorskip("sklearn.neighbors")
    X = rng.random((500, 30)).astype(np.float32)
    Xt = rng.random((50, 30)).astype(np.float32)
    knn = KNearestNeighbor()
    knn.train(X, np.zeros(500, dtype=np.int64))
    d, idx = knn.kneighbors(Xt, 6)
    ref = neighbors.NearestNeighbors(n_neighbors=6, algorithm="brute").fit(X.astype(np.float64))
    d_ref, idx_ref = ref.kneighbors(Xt.astype(np.float64))
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_allclose(d, d_ref, atol=1e-9)


def test_predict_labels_breaks_ties_by_smaller_label():
    knn = KNearestNeighbor()
    knn.train(np.zeros((5, 1)), np.array([2, 1, 0, 1, 2]))
    dists = np.array(
        [
            [1.0, 2.0, 3.0, 4.0, 5.0],  # k=2: labels 2, 1 tie -> 1
            [5.0, 4.0, 3.0, 2.0, 1.0],  # k=2: labels 2, 1 tie -> 1
            [1.0, 1.0, 1.0, 9.0, 9.0],  # k=3: labels 2, 1, 0 all tie -> 0
            [0.0, 0.0, 9.0, 9.0, 9.0],  # k=1 at equal distance: the earlier training row
        ]
    )
    assert list(knn.predict_labels(dists, k=2)[:2]) == [1, 1]
    assert knn.predict_labels(dists, k=3)[2] == 0
    assert knn.predict_labels(dists, k=1)[3] == 2
    assert knn.predict_labels(dists, k=5)[0] == 1  # counts 2:2, 1:2, 0:1 -> 1


def test_vote_majority_and_ties():
    labels = np.array([[3, 3, 1], [0, 2, 2], [4, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(vote(labels, 5), [3, 2, 0, 0])


def test_accepts_image_batches(rng):
    X = rng.random((20, 1, 4, 4))
    knn = KNearestNeighbor()
    knn.train(X, np.arange(20) % 2)
    np.testing.assert_array_equal(knn.predict(X, k=1), np.arange(20) % 2)


def test_bad_input_gets_clear_errors(rng):
    X, y, Xt = _data(rng)
    knn = KNearestNeighbor()
    with pytest.raises(RuntimeError, match="train"):
        knn.predict(Xt)
    with pytest.raises(TypeError, match="integer class labels"):
        knn.train(X, y.astype(np.float64))
    with pytest.raises(ShapeError, match=r"y must have shape \(60,\)"):
        knn.train(X, y[:-1])
    with pytest.raises(TypeError, match="floating dtype"):
        knn.train(X.astype(np.int64), y)
    knn.train(X, y)
    with pytest.raises(ShapeError, match="12 values"):
        knn.predict(Xt[:, :5])
    with pytest.raises(ValueError, match=r"k must be in \[1, 60\]"):
        knn.predict(Xt, k=61)
    with pytest.raises(ValueError, match="k must be"):
        knn.predict(Xt, k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        knn.predict(Xt, k=2.0)
    with pytest.raises(ValueError, match="num_loops"):
        knn.predict(Xt, k=1, num_loops=3)
    with pytest.raises(ShapeError, match="dists must have shape"):
        knn.predict_labels(np.zeros((3, 5)), k=1)
    bad = Xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        knn.predict(bad)
    with pytest.raises(ValueError, match="metric"):
        KNearestNeighbor(metric="cosine")
