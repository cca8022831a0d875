"""``visionblocks train --model knn|svm|softmax``: the classic models as run-directory runners.

kNN: cross-validates k over ``k_choices`` on folds of the training split (or takes a fixed
``k``), then classifies the test set with train + val as the memorised data (``fit_on =
"train"`` keeps val out). The run directory holds ``knn.json`` (k, metric, fit set) and
``knn_cv.png``; ``evaluate`` reloads the data set and repeats the test classification.

svm / softmax: minibatch SGD on the bias-augmented inputs for ``epochs`` epochs, or a search
(``search = "grid"`` or ``"random"``, ``trials``) over learning rate and reg on the validation
split. ``fit_on = "train+val"`` then retrains the chosen lr and reg on train + val for the
test (the reported validation accuracy stays that of the train-only model). W is saved as the
``best`` checkpoint (.npz + .json); ``templates.png`` shows W per class when the inputs are
pixels. With ``features`` the inputs are standardised hand-made features.

The options (typed and checked before the run directory exists) are declared in
``visionblocks.classic.specs``; ``cfg.model_options`` holds the model's own.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import atomic_write_json, load_checkpoint, save_checkpoint
from visionblocks.classic.features import apply_features
from visionblocks.classic.knn import KNearestNeighbor
from visionblocks.classic.linear_classifier import LinearSVM, Softmax, append_bias
from visionblocks.classic.search import (
    best_k,
    cross_validate_knn,
    format_results,
    grid_search,
    random_search,
)
from visionblocks.errors import ConfigError
from visionblocks.run_inputs import fit_set
from visionblocks.training import MetricsLog

DEFAULT_K_CHOICES = (1, 3, 5, 7, 10, 15, 20)
LINEAR_MODELS = {"svm": LinearSVM, "softmax": Softmax}


def _fit_on(cfg, default):
    return cfg.fit_on if cfg.fit_on is not None else default


def _inputs(cfg, data):
    """Applies the configured features unless the run already did; flattens every split."""
    if cfg.features and "features" not in data:
        options = {"hog_orientations": cfg.hog_orientations, "hog_block_norm": cfg.hog_block_norm}
        data = apply_features(data, cfg.features, options)
    return {
        key: data[key].reshape(data[key].shape[0], -1)  # (N, ...) -> (N, D)
        for key in ("X_train", "X_val", "X_test")
    }


def _try_plot(fn, *args):
    """Draws a plot when matplotlib is installed; the run does not need it."""
    try:
        path = fn(*args)
    except ImportError:
        print("matplotlib is not installed: skipping the plot")
        return None
    print(f"wrote {path}")
    return str(path)


# ------------------------------------------------------------------------------- kNN
def _knn(cfg):
    o = cfg.model_options
    return KNearestNeighbor(metric=o["metric"], max_memory_mb=o["max_memory_mb"])


def train_knn(cfg, data, run_dir: Path) -> dict:
    """Cross-validates k on the training split, then classifies the test set."""
    X = _inputs(cfg, data)
    o = cfg.model_options
    info = {"metric": o["metric"], "fit_on": _fit_on(cfg, "train+val")}
    if o["k"] is not None:
        k = o["k"]
    else:
        X_cv, y_cv = X["X_train"], data["y_train"]
        if o["cv_num_train"]:
            keep = np.random.default_rng(cfg.seed).permutation(len(y_cv))[: o["cv_num_train"]]
            X_cv, y_cv = X_cv[np.sort(keep)], y_cv[np.sort(keep)]
        cv = cross_validate_knn(
            X_cv,
            y_cv,
            list(o["k_choices"] or DEFAULT_K_CHOICES),
            num_folds=o["num_folds"],
            seed=cfg.seed,
            metric=info["metric"],
            max_memory_mb=o["max_memory_mb"],
        )
        k = best_k(cv)
        print(f"{'k':>4} {'mean':>8} {'std':>8}   ({len(y_cv)} training examples, folds)")
        for kk, r in cv.items():
            print(f"{kk:>4} {r['mean']:>8.4f} {r['std']:>8.4f}{'  <- best' if kk == k else ''}")
        info.update(
            cv={str(kk): r for kk, r in cv.items()},
            cv_accuracy=cv[k]["mean"],
            cv_std=cv[k]["std"],
            cv_num_train=int(len(y_cv)),
        )
        from visionblocks.classic.plots import plot_cross_validation

        info["cv_plot"] = _try_plot(plot_cross_validation, cv, run_dir / "knn_cv.png")
    info["k"] = k
    X_fit, y_fit = fit_set(info["fit_on"], X, data)
    knn = _knn(cfg)
    knn.train(X_fit, y_fit)
    test_acc = None
    if getattr(cfg, "test", True):
        test_acc = float(np.mean(knn.predict(X["X_test"], k=k) == data["y_test"]))
    info.update(num_fit=int(len(y_fit)), test_accuracy=test_acc)
    atomic_write_json(run_dir / "knn.json", info)
    summary = {"test_accuracy": test_acc, "k": k, "metric": info["metric"]}
    summary.update({key: info[key] for key in ("fit_on", "num_fit", "cv_accuracy", "cv_std")
                    if key in info})  # fmt: skip
    return summary


def evaluate_knn(cfg, data, run_dir: Path) -> float:
    """Repeats the test classification with the k and fit set saved in ``knn.json``."""
    path = Path(run_dir) / "knn.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} holds no kNN run: {path} does not exist")
    info = json.loads(path.read_text())
    X = _inputs(cfg, data)
    X_fit, y_fit = fit_set(_fit_on(cfg, "train+val"), X, data)
    knn = _knn(cfg)
    knn.train(X_fit, y_fit)
    return float(np.mean(knn.predict(X["X_test"], k=int(info["k"])) == data["y_test"]))


# ------------------------------------------------------------------------------- linear
def one_blas_thread():
    """A context with one BLAS thread, when threadpoolctl is installed.

    Minibatch SGD multiplies small matrices, which one thread does fastest; several threads
    spin-wait and, on a busy machine, make each step ten times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _train_kwargs(cfg, num_train):
    return {
        "num_iters": cfg.epochs * max(num_train // cfg.batch_size, 1),
        "batch_size": cfg.batch_size,
        "lr_decay": cfg.lr_decay,
        "momentum": cfg.momentum or 0.0,
        "weight_scale": cfg.model_options["weight_scale"],
    }


def _scaled(values, base):
    return [float(v) for v in values] if values is not None else [base * f for f in (0.3, 1, 3)]


def _fit_linear(cfg, make_model, splits, kwargs):
    """Trains one model, or searches; returns (model, search results or None)."""
    o = cfg.model_options
    reg = o["reg"]
    results = None
    if cfg.search is None:
        model = make_model()
        model.train(splits[0], splits[1], cfg.lr, reg, **kwargs)
    elif cfg.search == "grid":
        lrs, regs = _scaled(o["learning_rates"], cfg.lr), o["regs"]
        regs = [float(r) for r in regs] if regs is not None else [reg]
        results, model = grid_search(make_model, *splits, lrs, regs, **kwargs)
    elif cfg.search == "random":
        lr_range = o["lr_range"] or [cfg.lr / 10, cfg.lr * 10]
        reg_range = o["reg_range"] or [max(reg, 1e-6) / 10, max(reg, 1e-6) * 10]
        results, model = random_search(
            make_model, *splits, lr_range, reg_range, trials=cfg.trials,
            rounds=o["search_rounds"], seed=cfg.seed, **kwargs,
        )  # fmt: skip
    else:
        raise ConfigError(f"search must be None, 'grid' or 'random', got {cfg.search!r}")
    return model, results


def train_linear(cfg, data, run_dir: Path) -> dict:
    """Trains (or searches) a LinearSVM / Softmax on train, then tests it (or its refit)."""
    fit_on = _fit_on(cfg, "train")
    X = {key: append_bias(v) for key, v in _inputs(cfg, data).items()}
    cls = LINEAR_MODELS[cfg.model]
    kwargs = _train_kwargs(cfg, len(data["y_train"]))
    kwargs["num_classes"] = len(data["class_names"])

    def make_model():
        return cls(seed=cfg.seed)

    splits = (X["X_train"], data["y_train"], X["X_val"], data["y_val"])
    with one_blas_thread():
        model, results = _fit_linear(cfg, make_model, splits, kwargs)
    lr, reg = cfg.lr, cfg.model_options["reg"]
    if results is not None:
        print(format_results(results))
        atomic_write_json(run_dir / "search.json", results)
        best = max(results, key=lambda r: r["val_accuracy"])
        lr, reg = best["learning_rate"], best["reg"]
    accs = {
        s: float(np.mean(model.predict(X[f"X_{s}"]) == data[f"y_{s}"])) for s in ("train", "val")
    }
    if fit_on == "train+val":  # the chosen lr and reg, retrained on all labelled data
        X_fit, y_fit = fit_set(fit_on, X, data)
        kwargs = dict(_train_kwargs(cfg, len(y_fit)), num_classes=kwargs["num_classes"])
        model = make_model()
        with one_blas_thread():
            model.train(X_fit, y_fit, lr, reg, **kwargs)
    accs["test"] = None
    if getattr(cfg, "test", True):
        accs["test"] = float(np.mean(model.predict(X["X_test"]) == data["y_test"]))
    meta = {"model": cfg.model, "learning_rate": lr, "reg": reg, "bias_trick": True}
    meta.update({f"{split}_accuracy": a for split, a in accs.items()}, fit_on=fit_on)
    save_checkpoint(run_dir / "best", {"W": model.W}, meta)
    _write_loss_history(run_dir, model.loss_history, kwargs["num_iters"] // max(cfg.epochs, 1))
    summary = {
        "test_accuracy": accs["test"],
        "best_val_accuracy": accs["val"],
        "final_train_accuracy": accs["train"],
        "learning_rate": lr,
        "reg": reg,
        "fit_on": fit_on,
        "num_params": int(model.W.size),
    }
    if results is not None:
        summary.update(search=cfg.search, trials=len(results))
    if "features" not in data and not cfg.features:
        from visionblocks.classic.plots import plot_templates

        image_shape = data["X_train"].shape[1:]
        _try_plot(
            plot_templates, model.W, image_shape, data["class_names"], run_dir / "templates.png"
        )
    return summary


def _write_loss_history(run_dir, history, per_epoch):
    """One ``metrics.jsonl`` line per epoch: the mean minibatch loss."""
    records = [
        {"epoch": e, "loss": float(np.mean(history[s : s + per_epoch]))}
        for e, s in enumerate(range(0, len(history), max(per_epoch, 1)), start=1)
    ]
    MetricsLog(run_dir / "metrics.jsonl").write_all(records)


def evaluate_linear(cfg, data, run_dir: Path) -> float:
    """Test accuracy of the W saved in the run's ``best`` checkpoint."""
    arrays, _ = load_checkpoint(Path(run_dir) / "best")
    if "W" not in arrays:
        raise ConfigError(f"{run_dir}/best.npz holds no W")
    model = LINEAR_MODELS[cfg.model]()
    model.W = arrays["W"]
    X_test = append_bias(_inputs(cfg, data)["X_test"])
    return float(np.mean(model.predict(X_test) == data["y_test"]))
