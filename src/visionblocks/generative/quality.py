"""Sample-quality measures that need no downloaded weights (NumPy only): the Fréchet distance
in the feature space of our own classifier (the offline stand-in for FID on MNIST-like data),
precision / recall / density / coverage on k-NN radii (Naeem et al. 2020) and the classifier
"inception score" analogue with the class histogram of the samples.

The features come from any extractor ``extract(images) -> (B, d)`` (e.g. the penultimate layer
of a classifier trained on the same data set): ``sample_quality(extract, real, fake)`` computes
every measure at once. The matrix square root of the Fréchet distance is taken by symmetric
eigendecompositions only (``tr sqrt(S1 S2) = tr sqrt(sqrt(S1) S2 sqrt(S1))``), so SciPy is not
needed.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError

__all__ = [
    "class_histogram",
    "extract_features",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_of_features",
    "inception_score",
    "knn_radii",
    "prdc",
    "sample_quality",
    "sqrtm_psd",
]


def _features(name, x, dim=None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ShapeError(f"{name} must be (N, d) features with N >= 2, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ShapeError(f"{name} has {x.shape[1]} features per row, expected {dim}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf")
    return x


def sqrtm_psd(a) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix.

    Args:
        a: (d, d) symmetric PSD (its symmetric part is used; negative rounding-error
            eigenvalues are taken as 0).

    Returns:
        (d, d) symmetric PSD ``r`` with ``r @ r = a``.
    """
    a = np.asarray(a, dtype=np.float64)
    w, v = np.linalg.eigh((a + a.T) / 2)  # (d,), (d, d)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, N - 1) of ``features``: (N, d) -> ((d,), (d, d))."""
    f = _features("features", features)
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """The Fréchet (2-Wasserstein squared) distance between two Gaussians:
    ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, with ``eps * I`` added to both
    covariances before the square root (so near-singular feature covariances stay stable).

    Args:
        mu1, mu2: (d,) means.
        sigma1, sigma2: (d, d) covariances (symmetric PSD).
        eps: the ridge added to both covariances (0 for none).

    Returns:
        float >= 0 (up to rounding).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ShapeError(f"frechet_distance needs means (d,) and covariances (d, d); got "
                         f"{mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")  # fmt: skip
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    s1 = s1 + eps * np.eye(d)
    s2 = s2 + eps * np.eye(d)
    root1 = sqrtm_psd(s1)  # (d, d)
    middle = root1 @ s2 @ root1  # (d, d), symmetric PSD, similar to S1 S2
    w = np.linalg.eigvalsh((middle + middle.T) / 2)  # (d,)
    tr_cross = float(np.sum(np.sqrt(np.clip(w, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_cross)


def frechet_distance_of_features(features1, features2, eps=1e-6) -> float:
    """``frechet_distance`` of the Gaussians fitted to two feature sets (N1, d) and (N2, d)."""
    f1 = _features("features1", features1)
    f2 = _features("features2", features2, f1.shape[1])
    return frechet_distance(*feature_statistics(f1), *feature_statistics(f2), eps=eps)


def _sq_distances(a, b) -> np.ndarray:
    """(n, d), (m, d) -> (n, m) squared Euclidean distances from the differences, so that
    ``d(x, y)`` and ``d(y, x)`` are bitwise equal (a point on a ball's edge stays on it)."""
    out = np.empty((len(a), len(b)))
    rows = max(1, _BLOCK // max(1, len(b) * a.shape[1]))
    for s in range(0, len(a), rows):
        diff = a[s : s + rows, None, :] - b[None, :, :]  # (r, m, d)
        out[s : s + rows] = np.einsum("ijk,ijk->ij", diff, diff)
    return out


_BLOCK = 1 << 21  # floats per block of differences (16 MiB)


def knn_radii(features, k=5, chunk=1024) -> np.ndarray:
    """Each point's distance to its k-th nearest neighbour in the same set (itself excluded).

    Args:
        features: (N, d), N > k.
        k: the neighbour count.
        chunk: rows per block of the distance matrix (memory ~ chunk * N floats).

    Returns:
        (N,) radii.
    """
    f = _features("features", features)
    if not 1 <= k < len(f):
        raise ValueError(f"k must be in [1, {len(f) - 1}] for {len(f)} points, got {k}")
    out = np.empty(len(f))
    for s in range(0, len(f), chunk):
        d2 = _sq_distances(f[s : s + chunk], f)  # (c, N)
        rows = np.arange(d2.shape[0])
        d2[rows, s + rows] = 0.0  # itself, exactly
        out[s : s + chunk] = np.sqrt(np.partition(d2, k, axis=1)[:, k])  # index 0 is itself
    return out


def prdc(real_features, fake_features, k=5, chunk=1024) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) on k-NN balls.

    A real point's ball has the radius of its k-th nearest real neighbour, a fake point's that
    of its k-th nearest fake neighbour.
    precision: fraction of fakes inside some real ball; recall: fraction of reals inside some
    fake ball; density: mean number of real balls holding a fake, over k (about 1 when the two
    sets come from one distribution); coverage: fraction of real balls holding some fake.

    Args:
        real_features: (N, d).
        fake_features: (M, d).
        k: the neighbour count (5, the paper's).
        chunk: rows per block of the distance matrices.

    Returns:
        dict with 'precision', 'recall', 'density', 'coverage'.
    """
    real = _features("real_features", real_features)
    fake = _features("fake_features", fake_features, real.shape[1])
    r_real = knn_radii(real, k, chunk)  # (N,)
    r_fake = knn_radii(fake, k, chunk)  # (M,)
    in_real_balls = np.empty(len(fake))  # how many real balls hold each fake
    for s in range(0, len(fake), chunk):
        d = np.sqrt(_sq_distances(fake[s : s + chunk], real))  # (c, N)
        in_real_balls[s : s + chunk] = (d <= r_real[None, :]).sum(axis=1)
    recalled = np.empty(len(real), dtype=bool)
    covered = np.empty(len(real), dtype=bool)
    for s in range(0, len(real), chunk):
        d = np.sqrt(_sq_distances(real[s : s + chunk], fake))  # (c, M)
        recalled[s : s + chunk] = (d <= r_fake[None, :]).any(axis=1)
        covered[s : s + chunk] = d.min(axis=1) <= r_real[s : s + chunk]
    return {"precision": float(np.mean(in_real_balls > 0)), "recall": float(recalled.mean()),
            "density": float(in_real_balls.sum() / (k * len(fake))),
            "coverage": float(covered.mean())}  # fmt: skip


def _probs(probs) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ShapeError(f"probs must be (N, K) class probabilities, got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1, atol=1e-6):
        raise ValueError("probs rows must be probabilities (>= 0, summing to 1)")
    return p


def inception_score(probs, splits=1) -> tuple[float, float]:
    """The "inception score" with our own classifier:
    ``exp(E_x KL(p(y | x) || p(y)))``, ``p(y)`` the mean of the rows over the split.

    1 when every sample gets the same class distribution; K when the samples are classified
    confidently and evenly over K classes.

    Args:
        probs: (N, K) the classifier's class probabilities for N samples.
        splits: score this many equal parts apart (the original protocol uses 10).

    Returns:
        (mean, std) over the splits (std 0 for one split).
    """
    p = _probs(probs)
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be in [1, {len(p)}], got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)  # (1, K)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)  # (n, K)
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probs) -> np.ndarray:
    """The fraction of samples the classifier puts in each class: (N, K) -> (K,) summing to 1."""
    p = _probs(probs)
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)


def extract_features(extract, images, batch_size=500) -> np.ndarray:
    """Features of ``images`` in batches: ``extract(batch) -> (B, d)``, stacked to (N, d)."""
    images = np.asarray(images)
    parts = [np.asarray(extract(images[s : s + batch_size]), dtype=np.float64)
             for s in range(0, len(images), batch_size)]  # fmt: skip
    out = np.concatenate(parts)
    if out.ndim != 2 or len(out) != len(images):
        raise ShapeError(f"extract must give (B, d) features per batch, got {out.shape} for "
                         f"{len(images)} images")  # fmt: skip
    return out


def sample_quality(extract, real, fake, classify=None, k=5, eps=1e-6) -> dict[str, float]:
    """Every measure at once, in the feature space of ``extract``.

    Args:
        extract: ``extract(images) -> (B, d)`` features (e.g. a classifier's penultimate layer).
        real: (N, ...) real images.
        fake: (M, ...) generated images, in the same format and range as ``real``.
        classify: optional ``classify(images) -> (B, K)`` probabilities for the inception
            score and the class histogram's largest share.
        k: the PRDC neighbour count.
        eps: the Fréchet distance's ridge.

    Returns:
        dict: 'fd', 'precision', 'recall', 'density', 'coverage' (and with ``classify``:
        'inception_score', 'top_class_share').
    """
    fr, ff = extract_features(extract, real), extract_features(extract, fake)
    out = {"fd": frechet_distance_of_features(fr, ff, eps), **prdc(fr, ff, k)}
    if classify is not None:
        probs = extract_features(classify, fake)
        out["inception_score"] = inception_score(probs)[0]
        out["top_class_share"] = float(class_histogram(probs).max())
    return out
