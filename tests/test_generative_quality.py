"""Sample-quality measures: the Fréchet distance against closed forms, PRDC on identical sets
and on noise, the inception-score analogue, and the all-in-one ``sample_quality``."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from visionblocks.errors import ShapeError
from visionblocks.generative import quality as Q


def _rotation(d, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_sqrtm_psd_squares_back():
    r = _rotation(5, 0)
    a = r @ np.diag([4.0, 1.0, 0.25, 9.0, 0.0]) @ r.T
    root = Q.sqrtm_psd(a)
    np.testing.assert_allclose(root @ root, a, atol=1e-12)
    np.testing.assert_allclose(root, root.T, atol=1e-14)


def test_fd_of_a_set_with_itself_is_zero(rng):
    a = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8))
    assert abs(Q.frechet_distance_of_features(a, a)) < 1e-6
    assert abs(Q.frechet_distance_of_features(a, a, eps=0)) < 1e-6
    few = rng.standard_normal((5, 20))  # singular covariance: eps keeps it stable
    assert abs(Q.frechet_distance_of_features(few, few)) < 1e-6


def test_fd_of_two_gaussians_equals_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([4.0, 1.0, 0.25]), np.array([1.0, 9.0, 0.25])
    # diagonal covariances: ||mu1 - mu2||^2 + sum (sqrt(a) - sqrt(b))^2 = 5 + (1 + 4 + 0)
    fd = Q.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), eps=0)
    assert fd == pytest.approx(10.0, abs=1e-10)
    # S2 = c S1 with S1 not diagonal: tr S1 (1 - sqrt c)^2
    r = _rotation(3, 1)
    s1 = r @ np.diag(a) @ r.T
    fd = Q.frechet_distance(mu1, s1, mu1, 4 * s1, eps=0)
    assert fd == pytest.approx(np.trace(s1) * (1 - 2) ** 2, abs=1e-10)
    # non-commuting covariances: against the defining sqrt(S1 S2), checked by squaring
    s2 = np.diag(b)
    m = Q.sqrtm_psd(s1) @ s2 @ Q.sqrtm_psd(s1)
    root = Q.sqrtm_psd(m)
    np.testing.assert_allclose(root @ root, m, atol=1e-10)
    expected = 5 + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert Q.frechet_distance(mu1, s1, mu2, s2, eps=0) == pytest.approx(expected, abs=1e-10)
    # the ridge: eps * I on both covariances
    with_eps = Q.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), eps=0.5)
    assert with_eps == pytest.approx(5 + np.sum((np.sqrt(a + 0.5) - np.sqrt(b + 0.5)) ** 2))


def test_fd_matches_scipy_when_it_is_there():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    s1, s2 = x @ x.T, y @ y.T
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    ref = mu1 - mu2
    ref = ref @ ref + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real
    assert Q.frechet_distance(mu1, s1, mu2, s2, eps=0) == pytest.approx(ref, rel=1e-8)


def test_fd_of_samples_approaches_the_population_value(rng):
    n = 20000
    a = rng.standard_normal((n, 2)) * [1.0, 2.0]
    b = rng.standard_normal((n, 2)) * [3.0, 2.0] + [2.0, 0.0]
    # 4 + (1 - 3)^2 + (2 - 2)^2 = 8
    assert Q.frechet_distance_of_features(a, b) == pytest.approx(8.0, rel=0.03)


def test_prdc_of_identical_sets(rng):
    x = rng.standard_normal((300, 4))
    out = Q.prdc(x, x, k=5)
    assert out["precision"] == 1 and out["recall"] == 1 and out["coverage"] == 1
    # each point lies in its own ball and in those of the k points it is a neighbour of:
    # N (k + 1) memberships over k N, so density = (k + 1) / k on distinct points
    assert out["density"] == pytest.approx(6 / 5)


def test_prdc_of_noise_against_data_is_zero_and_real_against_real_is_high():
    X = load_digits().data  # (1797, 64) pixels in [0, 16]
    order = np.random.default_rng(0).permutation(len(X))
    a, b = X[order[:400]], X[order[400:800]]
    noise = np.random.default_rng(1).uniform(0, 16, (400, 64))
    bad = Q.prdc(a, noise)
    assert bad["recall"] < 0.02 and bad["coverage"] < 0.02 and bad["precision"] < 0.02
    good = Q.prdc(a, b)
    assert min(good["precision"], good["recall"], good["coverage"]) > 0.85
    assert 0.8 < good["density"] < 1.2
    assert Q.frechet_distance_of_features(a, noise) > 20 * Q.frechet_distance_of_features(a, b)


def test_knn_radii_and_chunking_agree(rng):
    x = rng.standard_normal((50, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    expected = np.sort(d, axis=1)[:, 3]  # column 0 is the point itself
    np.testing.assert_allclose(Q.knn_radii(x, k=3), expected, atol=1e-10)
    np.testing.assert_allclose(Q.knn_radii(x, k=3, chunk=7), expected, atol=1e-10)
    y = rng.standard_normal((40, 3))
    assert Q.prdc(x, y, chunk=7) == Q.prdc(x, y)
    with pytest.raises(ValueError, match="k must be"):
        Q.knn_radii(x[:4], k=5)


def test_inception_score_and_class_histogram():
    confident = np.eye(4)[np.arange(40) % 4]  # every class equally, with certainty
    assert Q.inception_score(confident)[0] == pytest.approx(4.0)
    same = np.tile([0.7, 0.1, 0.1, 0.1], (40, 1))  # one distribution for every sample
    assert Q.inception_score(same)[0] == pytest.approx(1.0)
    mean, std = Q.inception_score(confident, splits=2)  # 5 of each class per split
    assert mean == pytest.approx(4.0) and std == pytest.approx(0.0)
    collapsed = np.eye(4)[np.zeros(40, int)]
    assert Q.inception_score(collapsed)[0] == pytest.approx(1.0)
    np.testing.assert_allclose(Q.class_histogram(confident), [0.25] * 4)
    with pytest.raises(ValueError, match="probabilities"):
        Q.inception_score(np.ones((3, 2)))


def test_sample_quality_with_any_extractor(rng):
    real = rng.random((120, 6))
    fake = rng.random((100, 6))

    def extract(x):
        return x[:, :4] * 2  # (B, 4) features

    def classify(x):
        e = np.exp(x[:, :3])
        return e / e.sum(axis=1, keepdims=True)

    out = Q.sample_quality(extract, real, fake, classify=classify)
    assert out["fd"] == pytest.approx(
        Q.frechet_distance_of_features(real[:, :4] * 2, fake[:, :4] * 2)
    )
    assert set(out) == {"fd", "precision", "recall", "density", "coverage", "inception_score",
                        "top_class_share"}  # fmt: skip
    with pytest.raises(ShapeError):
        Q.sample_quality(lambda x: x[:1], real, fake)
    with pytest.raises(ShapeError):
        Q.frechet_distance_of_features(real, fake[:, :3])
