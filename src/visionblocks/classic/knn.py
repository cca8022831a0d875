"""k-nearest neighbours with L2 or L1 distance: loop oracles and a chunked, exact fast path."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError

METRICS = ("l2", "l1")
#: Unit roundoff of float32, for the error bound of the float32 GEMM in the fast path.
_U32 = float(np.finfo(np.float32).eps) / 2


def _as_rows(name: str, X) -> np.ndarray:
    """Checks a float batch and flattens each example: (N, d1, ..., dk) -> (N, d1 * ... * dk)."""
    as_float_array(name, X)
    if X.ndim < 2:
        raise ShapeError(f"{name} must be a batch (N, D) or (N, C, H, W), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must hold finite values, got NaN or inf")
    return X.reshape(X.shape[0], int(np.prod(X.shape[1:])))  # (N, ...) -> (N, D); N may be 0


def vote(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Majority vote per row; a tie goes to the smaller label.

    Args:
        labels: (N, k) integer labels of each example's neighbours.
        num_classes: number of classes (default: labels.max() + 1).

    Returns:
        y_pred: (N,) the most common label in each row.
    """
    n = labels.shape[0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 1
    counts = np.zeros((n, num_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), labels.shape[1]), labels.ravel()), 1)
    return np.argmax(counts, axis=1)  # argmax returns the first (smallest) label on ties


def _smallest(scores, m, block=32):
    """Column indices of m smallest scores per row, and the largest score among them.

    Instead of partitioning whole rows, it splits the columns into nb = n // block groups of
    ``block`` (group j holds columns j, j + nb, j + 2 nb, ...: strided, so that the minima
    are one fast element-wise reduction), keeps the m groups with the smallest minima (plus
    the columns after the last whole row of groups) and partitions only those. The m
    smallest of a row lie there: the kept minima are m values <= the m-th smallest minimum,
    which bounds every dropped column.

    Args:
        scores: (rows, n) scores, m < n.
        m: how many to keep.
        block: block width.

    Returns:
        cand: (rows, m) column indices, in no particular order.
        worst: (rows,) float64 largest kept score; every other column scores >= it.
    """
    rows, n = scores.shape
    nb = n // block
    if nb <= m:
        pool = np.broadcast_to(np.arange(n), (rows, n))
    else:
        grid = scores[:, : nb * block].reshape(rows, block, nb)  # (rows, n) -> (rows, block, nb)
        mins = grid.min(axis=1)  # (rows, nb)
        kept = np.argpartition(mins, m - 1, axis=1)[:, :m]  # (rows, m) group ids
        cols = kept[:, :, None] + nb * np.arange(block)  # (rows, m, block)
        pool = cols.reshape(rows, m * block)  # (rows, m, block) -> (rows, m * block)
        if nb * block < n:
            tail = np.broadcast_to(np.arange(nb * block, n), (rows, n - nb * block))
            pool = np.concatenate([pool, tail], axis=1)
    values = np.take_along_axis(scores, pool, axis=1)  # (rows, pool size)
    sub = np.argpartition(values, m - 1, axis=1)[:, :m]  # (rows, m)
    worst = np.take_along_axis(values, sub, axis=1).max(axis=1).astype(np.float64)
    return np.take_along_axis(pool, sub, axis=1), worst


class KNearestNeighbor:
    """A kNN classifier: ``train`` memorises the data, ``predict`` votes among the k nearest.

    The classic CS231n API plus a ``metric`` ('l2' Euclidean, 'l1' Manhattan) and a memory bound
    for the chunked no-loop path. Neighbours at equal distance are ordered by training index, and
    the vote breaks ties by the smaller label, so every path gives the same predictions.
    """

    def __init__(self, metric: str = "l2", max_memory_mb: float = 512):
        """Sets the distance and the memory bound.

        Args:
            metric: 'l2' or 'l1'.
            max_memory_mb: bound on the temporaries of one chunk of test rows in the no-loop
                path (the (num_test, num_train) result of ``compute_distances_*`` is extra).
        """
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if not max_memory_mb > 0:
            raise ValueError(f"max_memory_mb must be > 0, got {max_memory_mb}")
        self.metric = metric
        self.max_memory_mb = float(max_memory_mb)
        self.X_train = None
        self.y_train = None
        self._fast = None
        #: rows of the last fast search whose float32 ranking was not provably exact.
        self.num_exact_fallbacks = 0

    def train(self, X, y):
        """Memorises the training data.

        Args:
            X: (num_train, D) or (num_train, C, H, W) float training examples.
            y: (num_train,) integer labels.
        """
        X = _as_rows("X", X)
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        if y.shape != (X.shape[0],):
            raise ShapeError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        if X.shape[0] == 0:
            raise ShapeError("X must hold at least one training example")
        if y.min() < 0:
            raise ValueError(f"y must hold labels >= 0, got {y.min()}")
        self.X_train = X
        self.y_train = y.astype(np.int64, copy=False)
        self.num_classes = int(self.y_train.max()) + 1
        self._fast = None

    # ----------------------------------------------------------------- checks and helpers
    def _check_test(self, X) -> np.ndarray:
        if self.X_train is None:
            raise RuntimeError("call train(X, y) before computing distances or predicting")
        X = _as_rows("X", X)
        if X.shape[1] != self.X_train.shape[1]:
            raise ShapeError(
                f"X examples must have {self.X_train.shape[1]} values like the training data, "
                f"got {X.shape[1]} (batch shape {X.shape})"
            )
        return X

    def _check_k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer, got {type(k).__name__}")
        num_train = self.X_train.shape[0]
        if not 1 <= k <= num_train:
            raise ValueError(f"k must be in [1, {num_train}] (the training set size), got {k}")
        return int(k)

    def _rows_per_chunk(self, bytes_per_row: float) -> int:
        return max(1, int(self.max_memory_mb * 2**20 // max(bytes_per_row, 1)))

    # ----------------------------------------------------------------- distances
    def compute_distances_two_loops(self, X):
        """Distances with a loop over test and training examples (the teaching oracle).

        Args:
            X: (num_test, D) test examples.

        Returns:
            dists: (num_test, num_train) float64, dists[i, j] = distance(X[i], X_train[j]).
        """
        X = self._check_test(X).astype(np.float64, copy=False)
        Xtr = self.X_train.astype(np.float64, copy=False)
        dists = np.zeros((X.shape[0], Xtr.shape[0]))
        for i in range(X.shape[0]):
            for j in range(Xtr.shape[0]):
                diff = X[i] - Xtr[j]
                if self.metric == "l2":
                    dists[i, j] = np.sqrt(np.sum(diff * diff))
                else:
                    dists[i, j] = np.sum(np.abs(diff))
        return dists

    def compute_distances_one_loop(self, X):
        """Distances with one loop over test examples, broadcasting over the training set.

        Args:
            X: (num_test, D) test examples.

        Returns:
            dists: (num_test, num_train) float64.
        """
        X = self._check_test(X).astype(np.float64, copy=False)
        Xtr = self.X_train.astype(np.float64, copy=False)
        dists = np.zeros((X.shape[0], Xtr.shape[0]))
        for i in range(X.shape[0]):
            diff = Xtr - X[i]  # (num_train, D)
            if self.metric == "l2":
                dists[i] = np.sqrt(np.sum(diff * diff, axis=1))
            else:
                dists[i] = np.sum(np.abs(diff), axis=1)
        return dists

    def compute_distances_no_loops(self, X):
        """Distances without Python loops over examples, in chunks of test rows.

        L2 uses ``||a||^2 + ||b||^2 - 2 a.b`` (one matrix product per chunk, never a
        (test, train, D) array); L1 has no such expansion and broadcasts a chunk of test rows
        against the training set within ``max_memory_mb``.

        Args:
            X: (num_test, D) test examples.

        Returns:
            dists: (num_test, num_train) float64.
        """
        X = self._check_test(X).astype(np.float64, copy=False)
        Xtr = self.X_train.astype(np.float64, copy=False)
        num_train, dim = Xtr.shape
        dists = np.empty((X.shape[0], num_train))
        if self.metric == "l2":
            sq_train = np.einsum("ij,ij->i", Xtr, Xtr)  # (num_train,)
            rows = self._rows_per_chunk(8 * num_train)
            for s in range(0, X.shape[0], rows):
                a = X[s : s + rows]
                d2 = dists[s : s + rows]
                np.matmul(a, Xtr.T, out=d2)  # (rows, D) @ (D, num_train)
                d2 *= -2.0
                d2 += sq_train
                d2 += np.einsum("ij,ij->i", a, a)[:, None]  # (rows,) -> (rows, 1)
                np.maximum(d2, 0.0, out=d2)  # rounding can make a zero distance negative
                np.sqrt(d2, out=d2)
        else:
            rows = self._rows_per_chunk(8 * num_train * dim)
            for s in range(0, X.shape[0], rows):
                diff = X[s : s + rows, None, :] - Xtr[None]  # (rows, num_train, D)
                dists[s : s + rows] = np.abs(diff).sum(axis=2)
        return dists

    # ----------------------------------------------------------------- prediction
    def predict_labels(self, dists, k=1):
        """Majority vote among the k nearest training examples of each test example.

        Neighbours at equal distance count in training order; a tied vote goes to the
        smaller label.

        Args:
            dists: (num_test, num_train) distances.
            k: number of neighbours that vote.

        Returns:
            y_pred: (num_test,) predicted labels.
        """
        if self.y_train is None:
            raise RuntimeError("call train(X, y) before predict_labels")
        dists = np.asarray(dists)
        if dists.ndim != 2 or dists.shape[1] != self.y_train.shape[0]:
            raise ShapeError(
                f"dists must have shape (num_test, {self.y_train.shape[0]}), got {dists.shape}"
            )
        k = self._check_k(k)
        nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]  # (num_test, k)
        return vote(self.y_train[nearest], self.num_classes)

    def predict(self, X, k=1, num_loops=0):
        """Predicts labels for test examples.

        Args:
            X: (num_test, D) or (num_test, C, H, W) test examples.
            k: number of neighbours that vote.
            num_loops: 0 for the chunked fast path (never builds the full distance matrix),
                1 or 2 for the loop versions.

        Returns:
            y_pred: (num_test,) predicted labels.
        """
        X = self._check_test(X)
        k = self._check_k(k)
        if num_loops == 0:
            _, idx = self.kneighbors(X, k)
            return vote(self.y_train[idx], self.num_classes)
        if num_loops == 1:
            dists = self.compute_distances_one_loop(X)
        elif num_loops == 2:
            dists = self.compute_distances_two_loops(X)
        else:
            raise ValueError(f"num_loops must be 0, 1 or 2, got {num_loops}")
        return self.predict_labels(dists, k=k)

    def kneighbors(self, X, k, extra=None):
        """The k nearest training examples of each test row, in bounded memory.

        L2 ranks candidates with one float32 matrix product per chunk, then re-ranks the
        ``k + extra`` best in float64 (difference form). A rigorous bound on the float32
        rounding error proves, row by row, that the candidates hold the exact k nearest; rows
        where it cannot are recomputed exactly (``num_exact_fallbacks`` counts them). L1 is
        exact in float64 throughout. The result equals a stable sort of the float64 distances.

        Args:
            X: (num_test, D) test examples.
            k: neighbours per row.
            extra: candidates kept beyond k before the exact re-rank (default max(k, 16)).

        Returns:
            dists: (num_test, k) float64 distances, ascending.
            idx: (num_test, k) int64 training indices; ties in training order.
        """
        X = self._check_test(X)
        k = self._check_k(k)
        num_train, dim = self.X_train.shape
        m = min(num_train, k + (max(k, 16) if extra is None else int(extra)))
        self.num_exact_fallbacks = 0
        out_d = np.empty((X.shape[0], k))
        out_i = np.empty((X.shape[0], k), dtype=np.int64)
        if self.metric == "l2":  # float32 scores, group minima and ids, the exact re-rank
            step = self._rows_per_chunk(4 * num_train + num_train // 2 + 12 * m * (dim + 32))
        else:
            step = self._rows_per_chunk(8 * num_train * max(dim, 2))
        for s in range(0, X.shape[0], step):
            a = X[s : s + step].astype(np.float64, copy=False)
            if self.metric == "l2":
                approx, err = self._l2_scores(a)
            else:
                approx, err = self.compute_distances_no_loops(a), np.zeros(a.shape[0])
            out_d[s : s + step], out_i[s : s + step] = self._select(a, approx, err, k, m)
        return out_d, out_i

    def _l2_scores(self, a):
        """Squared L2 distances in float32 for a chunk, with a bound on their error.

        Returns:
            approx: (rows, num_train) float32 approximations of ||a - b||^2 - ||a||^2.
            err: (rows,) bound on |approx + ||a||^2 - ||a - b||^2| for every b.
        """
        if self._fast is None:
            Xtr = self.X_train
            sq = np.einsum("ij,ij->i", Xtr, Xtr, dtype=np.float64)  # (num_train,)
            # [-2 b, ||b||^2] so that [a, 1] @ aug.T = ||b||^2 - 2 a.b in one product
            aug = np.empty((Xtr.shape[0], Xtr.shape[1] + 1), dtype=np.float32)
            aug[:, :-1] = Xtr
            aug[:, :-1] *= -2.0
            aug[:, -1] = sq
            self._fast = (aug, float(np.sqrt(sq.max())))
        aug, max_norm = self._fast
        a_aug = np.ones((a.shape[0], a.shape[1] + 1), dtype=np.float32)
        a_aug[:, :-1] = a
        approx = a_aug @ aug.T  # (rows, D + 1) @ (D + 1, num_train)
        norm_a = np.sqrt(np.einsum("ij,ij->i", a, a))  # (rows,)
        # |fl(x.y) - x.y| <= gamma_n sum|x_i y_i|, with the float32 rounding of the inputs
        # folded into n; sum |a_i||b_i| <= |a||b| and the ||b||^2 column adds |b|^2.
        err = (a.shape[1] + 8) * _U32 * 1.01 * (norm_a + max_norm) ** 2
        return approx, err

    def _select(self, a, approx, err, k, m):
        """Exact k nearest from approximate scores; see ``kneighbors``.

        Args:
            a: (rows, D) float64 test rows.
            approx: (rows, num_train) scores within err of the exact distances (up to a
                per-row constant for L2).
            err: (rows,) error bounds.

        Returns:
            dists: (rows, k) float64 exact distances, idx: (rows, k).
        """
        rows, num_train = approx.shape
        if m < num_train:
            cand, worst = _smallest(approx, m)
        else:
            cand = np.broadcast_to(np.arange(num_train), (rows, num_train))
            worst = np.full(rows, np.inf)
        exact = self._exact(a, cand)  # (rows, m), squared for L2
        # rank by the reported distance (after the sqrt, as the loop versions), then by index
        finished = self._finish(exact)
        order = np.lexsort((cand, finished), axis=1)[:, :k]
        idx = np.take_along_axis(cand, order, axis=1)
        dist = np.take_along_axis(finished, order, axis=1)
        kth = np.take_along_axis(exact, order[:, -1:], axis=1)[:, 0]  # (rows,)
        if self.metric == "l2":
            worst = worst + np.einsum("ij,ij->i", a, a)  # back to ||a - b||^2
        # every b outside the candidates has approx >= worst; if worst - err exceeds the k-th
        # exact distance, no such b can be nearer than (or tie with) the k-th neighbour
        unsure = np.flatnonzero(~(worst - err > kth))
        for r in unsure:
            full = self._finish(self._exact(a[r : r + 1], np.arange(num_train)[None])[0])
            idx[r] = np.argsort(full, kind="stable")[:k]
            dist[r] = full[idx[r]]
        self.num_exact_fallbacks += len(unsure)
        return dist, idx

    def _finish(self, exact):
        """Distances as reported: the square root of the squared L2 distance."""
        return np.sqrt(exact) if self.metric == "l2" else exact

    def _exact(self, a, cand):
        """Float64 distances (squared for L2) from rows ``a`` (rows, D) to X_train[cand].

        Args:
            a: (rows, D) float64 test rows.
            cand: (rows, m) training indices.

        Returns:
            dists: (rows, m) float64.
        """
        out = np.empty(cand.shape)
        num_rows, m = cand.shape
        pairs = self._rows_per_chunk(24 * max(a.shape[1], 1))  # (row, candidate) pairs per block
        cols = min(m, pairs)
        rows = max(1, pairs // m) if cols == m else 1
        for s in range(0, num_rows, rows):
            for c in range(0, m, cols):
                b = self.X_train[cand[s : s + rows, c : c + cols]]  # (r, c, D)
                diff = np.subtract(b, a[s : s + rows, None, :], dtype=np.float64)  # (r, c, D)
                if self.metric == "l2":  # summed as the loop versions sum, to the last bit
                    block = np.multiply(diff, diff, out=diff).sum(axis=2)
                else:
                    block = np.abs(diff, out=diff).sum(axis=2)
                out[s : s + rows, c : c + cols] = block
        return out
