"""Model selection: k-fold cross-validation of kNN's k, grid and random search for lr and reg.

Everything here tunes on training data (folds) or the validation split, never on the test set.
"""

from __future__ import annotations

import math
import time

import numpy as np

from visionblocks.classic.knn import KNearestNeighbor, vote
from visionblocks.errors import ConfigError


def cross_validate_knn(X, y, k_choices, num_folds=5, seed=0, metric="l2", max_memory_mb=512):
    """k-fold cross-validation of the kNN classifier over a list of k.

    The examples are shuffled (seeded) and split into ``num_folds`` folds; each fold is held
    out once while the others form the training set. One neighbour search per fold (for the
    largest k) serves every k.

    Args:
        X: (N, D) or (N, C, H, W) training examples (never the test set).
        y: (N,) integer labels.
        k_choices: list of k values.
        num_folds: number of folds (>= 2).
        seed: seeds the shuffle.
        metric: 'l2' or 'l1'.
        max_memory_mb: memory bound of the neighbour search.

    Returns:
        dict k -> {'accuracies': list of num_folds fold accuracies, 'mean', 'std'}.
    """
    X = np.asarray(X)
    X = X.reshape(X.shape[0], -1)  # (N, ...) -> (N, D)
    y = np.asarray(y)
    k_choices = sorted({int(k) for k in k_choices})
    if not k_choices or k_choices[0] < 1:
        raise ValueError(f"k_choices must be positive integers, got {k_choices}")
    if not 2 <= num_folds <= len(y):
        raise ValueError(f"num_folds must be in [2, {len(y)}], got {num_folds}")
    folds = np.array_split(np.random.default_rng(seed).permutation(len(y)), num_folds)
    if k_choices[-1] > len(y) - max(len(f) for f in folds):
        raise ValueError(
            f"k={k_choices[-1]} exceeds the {len(y) - max(len(f) for f in folds)} training "
            f"examples of a fold"
        )
    accs = {k: [] for k in k_choices}
    num_classes = int(y.max()) + 1
    for i, held in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != i])
        knn = KNearestNeighbor(metric=metric, max_memory_mb=max_memory_mb)
        knn.train(X[train], y[train])
        _, idx = knn.kneighbors(X[held], k_choices[-1])
        labels = knn.y_train[idx]  # (fold size, max k)
        for k in k_choices:
            accs[k].append(float(np.mean(vote(labels[:, :k], num_classes) == y[held])))
    return {
        k: {"accuracies": a, "mean": float(np.mean(a)), "std": float(np.std(a))}
        for k, a in accs.items()
    }


def best_k(cv_results):
    """The k with the highest mean cross-validation accuracy (the smaller k on ties)."""
    return min(cv_results, key=lambda k: (-cv_results[k]["mean"], k))


def _fit_one(make_model, data, lr, reg, train_kwargs, trial_round):
    """Trains one linear classifier; returns (result row, model)."""
    X_train, y_train, X_val, y_val = data
    start = time.perf_counter()
    model = make_model()
    model.train(X_train, y_train, learning_rate=lr, reg=reg, **train_kwargs)
    row = {
        "round": trial_round,
        "learning_rate": float(lr),
        "reg": float(reg),
        "train_accuracy": float(np.mean(model.predict(X_train) == y_train)),
        "val_accuracy": float(np.mean(model.predict(X_val) == y_val)),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return row, model


def _best(results, models):
    i = max(range(len(results)), key=lambda j: (results[j]["val_accuracy"], -j))
    return models[i]


def grid_search(make_model, X_train, y_train, X_val, y_val, learning_rates, regs, **train_kwargs):
    """Trains one model per (learning rate, reg) pair and keeps the best on validation.

    Args:
        make_model: callable returning a fresh classifier with ``train`` and ``predict``
            (e.g. ``lambda: Softmax(seed=0)``).
        X_train: (N, D) training examples; y_train: (N,) labels.
        X_val: (M, D) validation examples; y_val: (M,) labels.
        learning_rates: list of learning rates.
        regs: list of regularisation strengths.
        **train_kwargs: passed to ``train`` (num_iters, batch_size, ...).

    Returns:
        results: list of dicts (round, learning_rate, reg, train_accuracy, val_accuracy,
            seconds), one per trial, in trial order.
        best_model: the model with the highest validation accuracy (first on ties).
    """
    data = (X_train, y_train, X_val, y_val)
    results, models = [], []
    for lr in learning_rates:
        for reg in regs:
            row, model = _fit_one(make_model, data, lr, reg, train_kwargs, 0)
            results.append(row)
            models.append(model)
    if not results:
        raise ValueError("grid_search needs at least one learning rate and one reg")
    return results, _best(results, models)


def _narrow(results, lr_range, reg_range, keep):
    """The log-space bounding box of the ``keep`` best trials, widened by half a decade."""
    top = sorted(results, key=lambda r: -r["val_accuracy"])[:keep]
    out = []
    for key, (lo, hi) in (("learning_rate", lr_range), ("reg", reg_range)):
        logs = [math.log10(r[key]) for r in top]
        a, b = min(logs) - 0.5, max(logs) + 0.5
        a, b = max(a, math.log10(lo)), min(b, math.log10(hi))
        out.append((10**a, 10**b) if a < b else (lo, hi))
    return out


def random_search(
    make_model,
    X_train,
    y_train,
    X_val,
    y_val,
    lr_range,
    reg_range,
    trials=10,
    rounds=2,
    keep=3,
    seed=0,
    **train_kwargs,
):
    """Random search with learning rate and reg drawn log-uniformly, narrowed coarse to fine.

    ``trials`` are split over ``rounds``; after each round the ranges shrink to the log-space
    box around the ``keep`` best trials so far, widened by half a decade on each side.

    Args:
        make_model: callable returning a fresh classifier.
        X_train: (N, D); y_train: (N,); X_val: (M, D); y_val: (M,).
        lr_range: (low, high) learning rates, low > 0.
        reg_range: (low, high) regularisation strengths, low > 0.
        trials: total number of trained models.
        rounds: coarse-to-fine rounds (1 = plain random search).
        keep: trials that define the next round's box.
        seed: seeds the draws.
        **train_kwargs: passed to ``train``.

    Returns:
        results: list of result dicts (as ``grid_search``), in trial order.
        best_model: the model with the highest validation accuracy.
    """
    ranges = [tuple(float(v) for v in r) for r in (lr_range, reg_range)]
    for name, (lo, hi) in zip(("lr_range", "reg_range"), ranges):
        if not 0 < lo <= hi:
            raise ConfigError(f"{name} must be (low, high) with 0 < low <= high, got {(lo, hi)}")
    if trials < 1 or rounds < 1:
        raise ConfigError(f"trials and rounds must be >= 1, got {trials} and {rounds}")
    rng = np.random.default_rng(seed)
    data = (X_train, y_train, X_val, y_val)
    rounds = min(rounds, trials)
    per_round = [trials // rounds + (i < trials % rounds) for i in range(rounds)]
    results, models = [], []
    lr_box, reg_box = ranges
    for r, count in enumerate(per_round):
        if r:
            lr_box, reg_box = _narrow(results, *ranges, keep)
        for _ in range(count):
            lr = 10 ** rng.uniform(math.log10(lr_box[0]), math.log10(lr_box[1]))
            reg = 10 ** rng.uniform(math.log10(reg_box[0]), math.log10(reg_box[1]))
            row, model = _fit_one(make_model, data, lr, reg, train_kwargs, r)
            results.append(row)
            models.append(model)
    return results, _best(results, models)


def format_results(results):
    """A text table of search results, best validation accuracy first."""
    lines = [f"{'round':>5} {'learning_rate':>13} {'reg':>10} {'train acc':>9} {'val acc':>8}"]
    for r in sorted(results, key=lambda r: -r["val_accuracy"]):
        lines.append(
            f"{r['round']:>5} {r['learning_rate']:>13.3e} {r['reg']:>10.3e} "
            f"{r['train_accuracy']:>9.4f} {r['val_accuracy']:>8.4f}"
        )
    return "\n".join(lines)
