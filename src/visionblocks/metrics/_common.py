"""Input checks and small helpers shared by the classification and ranking metrics."""

from __future__ import annotations

import warnings

import numpy as np

from visionblocks.errors import ShapeError


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the given data (a division by zero) and was set to a value."""


def as_label_array(name: str, y) -> np.ndarray:
    """Checks class labels: a 1-D array of integers, booleans, strings, or integral floats.

    Args:
        name: argument name used in error messages.
        y: (N,) array-like of class labels.

    Returns:
        y: (N,) the labels as a NumPy array.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(
                f"{name} holds continuous values; classification metrics need class labels"
            )
    elif y.dtype.kind not in "iubUS":
        raise TypeError(f"{name} must hold integer, boolean or string labels, got {y.dtype}")
    return y


def check_pair(y_true, y_pred, sample_weight=None, pred_name: str = "y_pred"):
    """Checks two label arrays of one length (and optional weights) and returns them."""
    y_true = as_label_array("y_true", y_true)
    y_pred = as_label_array(pred_name, y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            f"y_true and {pred_name} must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    if (y_true.dtype.kind in "US") != (y_pred.dtype.kind in "US") and len(y_true):
        raise TypeError(
            f"y_true ({y_true.dtype}) and {pred_name} ({y_pred.dtype}) mix string and number labels"
        )
    return y_true, y_pred, check_weights(sample_weight, len(y_true))


def check_weights(sample_weight, n: int):
    """Checks optional per-sample weights: None, or a finite non-negative (n,) array."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.shape != (n,):
        raise ShapeError(f"sample_weight must have shape ({n},), got {w.shape}")
    if w.dtype.kind not in "iuf" or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must hold finite non-negative numbers")
    if n and not np.any(w > 0):
        raise ValueError("sample_weight is zero for every sample")
    return w


def check_scores(name: str, y_score, n: int, ndim=(1, 2)) -> np.ndarray:
    """Checks finite real-valued scores with n rows and the allowed number of dimensions."""
    s = np.asarray(y_score)
    if s.dtype.kind not in "iufb":
        raise TypeError(f"{name} must hold real numbers, got dtype {s.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if s.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ShapeError(f"{name} must have {want} dimensions, got shape {s.shape}")
    if s.shape[0] != n:
        raise ShapeError(f"{name} must have {n} rows to match y_true, got shape {s.shape}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return s


def check_label_list(labels, name: str = "labels") -> np.ndarray:
    """Checks a user-given list of distinct labels (in the user's order)."""
    labels = as_label_array(name, labels)
    if len(labels) == 0:
        raise ValueError(f"{name} must contain at least one label")
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"{name} must not repeat a label, got {labels.tolist()}")
    return labels


def encode(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Maps each label to its index in ``labels`` (any order), or -1 when absent.

    Args:
        y: (N,) labels.
        labels: (L,) distinct labels.

    Returns:
        idx: (N,) int64 indices into ``labels``, -1 where the label is not listed.
    """
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    if len(y) == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.clip(np.searchsorted(ordered, y), 0, len(ordered) - 1)
    found = ordered[pos] == y
    return np.where(found, order[pos], -1).astype(np.int64)


def weighted_count(idx: np.ndarray, size: int, weight) -> np.ndarray:
    """Counts (or sums weights of) the non-negative indices ``idx`` into ``size`` bins."""
    keep = idx >= 0
    w = None if weight is None else weight[keep]
    return np.bincount(idx[keep], weights=w, minlength=size)[:size]


def zero_division_value(zero_division) -> float:
    """Returns the value used for 0/0: 0 for "warn" (with a warning), 0, 1 or NaN."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
        raise ValueError(f'zero_division must be "warn", 0, 1 or np.nan, got {zero_division!r}')
    if isinstance(zero_division, (int, float)) and not isinstance(zero_division, bool):
        if zero_division in (0, 1):
            return float(zero_division)
        if np.isnan(zero_division):
            return float("nan")
    raise ValueError(f'zero_division must be "warn", 0, 1 or np.nan, got {zero_division!r}')


def safe_divide(num, den, zero_division, message: str | None) -> np.ndarray:
    """Divides element-wise; where ``den`` is 0 the result is ``zero_division``.

    Args:
        num: (K,) numerators.
        den: (K,) denominators.
        zero_division: "warn", 0, 1 or np.nan (see ``zero_division_value``).
        message: warning text emitted when some denominator is 0 and zero_division is "warn";
            None never warns.

    Returns:
        (K,) float64 ratios.
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    zero = den == 0
    out = num / np.where(zero, 1.0, den)
    if np.any(zero):
        out[zero] = zero_division_value(zero_division)
        if message is not None and isinstance(zero_division, str):
            warnings.warn(message, UndefinedMetricWarning, stacklevel=3)
    return out


def nan_average(values: np.ndarray, weights=None) -> float:
    """Averages ignoring NaN entries; all weights zero falls back to the plain mean.

    Returns NaN when every value is NaN or there are none.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    if not np.any(keep):
        return float("nan")
    if weights is None:
        return float(values[keep].mean())
    w = np.asarray(weights, dtype=np.float64)[keep]
    if w.sum() == 0:
        return float(values[keep].mean())
    return float(np.average(values[keep], weights=w))
