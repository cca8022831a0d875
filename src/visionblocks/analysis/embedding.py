"""Feature embeddings: penultimate features, PCA by SVD, t-SNE, and nearest neighbours."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ConfigError


def pca(X, n_components=2):
    """Principal component analysis by the SVD of the centred data.

    Args:
        X: (N, D) data.
        n_components: number of components kept (<= min(N, D)).

    Returns:
        Z: (N, n_components) projections, each column's sign fixed so its largest-magnitude
            loading is positive.
        components: (n_components, D) principal directions (unit rows).
        explained_variance_ratio: (n_components,) share of the total variance per component.
    """
    as_float_array("X", X, ndim=2)
    if not 0 < n_components <= min(X.shape):
        raise ConfigError(f"n_components must be in [1, {min(X.shape)}], got {n_components}")
    Xc = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    components = vt[:n_components]
    signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    var = s**2
    return Xc @ components.T, components, var[:n_components] / var.sum()


def tsne(X, n_components=2, perplexity=30.0, seed=0, pca_dims=50, verbose=0):
    """t-SNE through scikit-learn, after reducing to ``pca_dims`` with our PCA.

    Args:
        X: (N, D) data.
        verbose: scikit-learn's progress output (0 none, 1 the phases, 2 every 50 iterations).

    Returns:
        (N, n_components) embedding.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ConfigError("t-SNE needs scikit-learn: pip install scikit-learn") from None
    as_float_array("X", X, ndim=2)
    if X.shape[1] > pca_dims and X.shape[0] > pca_dims:
        X = pca(X, pca_dims)[0]
    perplexity = min(perplexity, (X.shape[0] - 1) / 3)
    model = TSNE(
        n_components, perplexity=perplexity, init="pca", random_state=seed, verbose=verbose
    )
    return model.fit_transform(X.astype(np.float64))


def model_features(model, X, batch_size=256):
    """The model's penultimate features for X, in batches.

    Args:
        model: a model with ``features(X) -> (N, F)``.
        X: (N, ...) inputs.

    Returns:
        (N, F) features.
    """
    if not hasattr(model, "features"):
        raise ConfigError(f"{type(model).__name__} has no features() method to embed")
    parts = [model.features(X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    return np.concatenate(parts).reshape(X.shape[0], -1)  # (N, F)


def nearest_neighbors(queries, base, k=5, exclude_self=False):
    """Indices of the k nearest rows of ``base`` (L2) for each query row.

    Args:
        queries: (Q, D) query vectors.
        base: (M, D) vectors searched.
        k: neighbours per query.
        exclude_self: queries are rows of base with the same index; skip distance-0 self.

    Returns:
        (Q, k) indices into base, nearest first (ties broken by the smaller index).
    """
    as_float_array("queries", queries, ndim=2)
    as_float_array("base", base, ndim=2)
    if k + exclude_self > base.shape[0]:
        raise ConfigError(f"k={k} neighbours asked of only {base.shape[0]} vectors")
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    d = (q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * q @ b.T  # (Q, M)
    if exclude_self:
        d[np.arange(len(q)), np.arange(len(q))] = np.inf
    order = np.lexsort((np.broadcast_to(np.arange(b.shape[0]), d.shape), d), axis=1)
    return order[:, :k]
