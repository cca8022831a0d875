"""Speed of the classic models: kNN distances, kNN against scikit-learn, the linear losses.

Every ratio compares timings taken in this one run. Tables (markdown):

1. kNN distances on a Fashion-MNIST subset: two loops, one loop, no loops (float64
   ``compute_distances_no_loops``) and the chunked exact search ``kneighbors``, with the
   largest difference from the two-loop distances;
2. the full problem (10,000 test x 60,000 train x 784): ``KNearestNeighbor.predict`` (no-loop
   path) against scikit-learn's brute-force ``KNeighborsClassifier`` fit + predict, with the
   accuracy, the agreement of the predictions and the peak memory NumPy allocated;
3. the SVM and softmax losses, naive loops against vectorized, on a 500-example dev batch;
4. with ``--linear``: ``visionblocks train --config configs/fashion_mnist_{softmax,svm}.toml``
   (its whole wall time, data loading included) against scikit-learn's LogisticRegression
   (max_iter=1000) and LinearSVC (defaults) fit + predict on the same training set.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_classic.py --linear
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from visionblocks.classic import (
    KNearestNeighbor,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from visionblocks.data import load_dataset

ROOT = Path(__file__).resolve().parent.parent


def best_time(fn, repeats):
    """Best wall time of ``fn()`` in seconds over ``repeats`` runs (at least one)."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load_fashion():
    """Fashion-MNIST flattened: train + val (60,000) and test (10,000), float32 in [0, 1]."""
    d = load_dataset("fashion-mnist")
    X = np.concatenate([d["X_train"], d["X_val"]]).reshape(60000, -1)  # (N, 1, 28, 28) -> (N, D)
    y = np.concatenate([d["y_train"], d["y_val"]])
    return X, y, d["X_test"].reshape(10000, -1), d["y_test"]  # (N, 1, 28, 28) -> (N, D)


def distance_table(X, y, Xt, num_test, num_train, repeats):
    """Table 1: the three distance functions and the fast search on a subset."""
    knn = KNearestNeighbor()
    knn.train(X[:num_train], y[:num_train])
    a = Xt[:num_test]
    ref = knn.compute_distances_two_loops(a)
    rows = [("two loops", best_time(lambda: knn.compute_distances_two_loops(a), 1), 0.0)]
    for name, fn in [
        ("one loop", knn.compute_distances_one_loop),
        ("no loops", knn.compute_distances_no_loops),
    ]:
        rows.append((name, best_time(lambda fn=fn: fn(a), repeats), np.abs(fn(a) - ref).max()))
    d, idx = knn.kneighbors(a, 10)
    err = np.abs(d - np.take_along_axis(ref, idx, axis=1)).max()
    rows.append(("kneighbors (k=10)", best_time(lambda: knn.kneighbors(a, 10), repeats), err))
    out = [
        f"kNN distances, {num_test} test x {num_train} train x {X.shape[1]} (float64 distances)",
        "",
        "| method | time (s) | speed-up vs two loops | max abs diff vs two loops |",
        "|---|---:|---:|---:|",
    ]
    for name, t, e in rows:
        out.append(f"| {name} | {t:.4f} | {rows[0][1] / t:.1f}x | {e:.1e} |")
    return "\n".join(out)


def full_table(X, y, Xt, yt, k):
    """Table 2: the full problem, ours against scikit-learn brute force, interleaved."""
    from sklearn.neighbors import KNeighborsClassifier

    def ours():
        knn = KNearestNeighbor()
        knn.train(X, y)
        return knn.predict(Xt, k=k), knn.num_exact_fallbacks

    def sklearn():
        clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
        return clf.fit(X, y).predict(Xt)

    tracemalloc.start()
    start = time.perf_counter()
    pred, fallbacks = ours()
    t_ours = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    start = time.perf_counter()
    pred_sk = sklearn()
    t_sk = time.perf_counter() - start
    return "\n".join(
        [
            f"kNN on the full problem: {len(yt)} test x {len(y)} train x {X.shape[1]}, k={k}",
            "",
            "| method | wall time (s) | test accuracy | peak NumPy memory (MiB) |",
            "|---|---:|---:|---:|",
            f"| KNearestNeighbor.predict (no loops, chunked) | {t_ours:.1f} | "
            f"{np.mean(pred == yt):.4f} | {peak:.0f} |",
            f"| sklearn KNeighborsClassifier(algorithm='brute') | {t_sk:.1f} | "
            f"{np.mean(pred_sk == yt):.4f} | - |",
            "",
            f"speed-up over scikit-learn: {t_sk / t_ours:.2f}x; predictions agree on "
            f"{np.mean(pred == pred_sk):.2%} of test images; rows re-checked exactly: {fallbacks}",
        ]
    )


def loss_table(X, y, repeats, num=500):
    """Table 3: naive against vectorized losses on a dev batch (float64, bias trick)."""
    rng = np.random.default_rng(0)
    Xd = np.hstack([X[:num].astype(np.float64), np.ones((num, 1))])
    W = 1e-4 * rng.standard_normal((Xd.shape[1], 10))
    out = [
        f"Linear losses, {num} examples x {Xd.shape[1]} features x 10 classes (float64)",
        "",
        "| loss | naive (ms) | vectorized (ms) | speed-up | loss diff | grad rel. diff |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, naive, vec in [
        ("svm", svm_loss_naive, svm_loss_vectorized),
        ("softmax", softmax_loss_naive, softmax_loss_vectorized),
    ]:
        t_n = best_time(lambda naive=naive: naive(W, Xd, y[:num], 1e-4), repeats)
        t_v = best_time(lambda vec=vec: vec(W, Xd, y[:num], 1e-4), max(repeats, 10))
        (ln, gn), (lv, gv) = naive(W, Xd, y[:num], 1e-4), vec(W, Xd, y[:num], 1e-4)
        rel = np.abs(gn - gv).max() / max(np.abs(gn).max(), 1e-300)
        out.append(
            f"| {name} | {1e3 * t_n:.1f} | {1e3 * t_v:.2f} | {t_n / t_v:.0f}x | "
            f"{abs(ln - lv):.1e} | {rel:.1e} |"
        )
    return "\n".join(out)


def linear_table():
    """Table 4: our SGD runs (the configs, through train_run) against scikit-learn, both fitted
    on the training set the config names (train + val) and tested once."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from visionblocks.config import config_from_dict, load_toml
    from visionblocks.runs import load_run_data, train_run

    out = [
        "Linear classifiers on Fashion-MNIST, fitted on train + val (60,000), tested on 10,000",
        "",
        "| model | wall time (s) | test accuracy |",
        "|---|---:|---:|",
    ]
    for name, sk in [
        ("softmax", lambda: LogisticRegression(max_iter=1000)),
        ("svm", lambda: LinearSVC()),
    ]:
        with tempfile.TemporaryDirectory() as tmp:
            values = load_toml(ROOT / "configs" / f"fashion_mnist_{name}.toml")
            cfg = config_from_dict({**values, "out": str(Path(tmp) / "run")})
            start = time.perf_counter()
            summary = train_run(cfg)
            t_ours = time.perf_counter() - start
            data = load_run_data(cfg)
        splits = ("X_train", "X_val") if summary["fit_on"] == "train+val" else ("X_train",)
        X_fit = np.concatenate([data[k].reshape(len(data[k]), -1) for k in splits])
        y_fit = np.concatenate([data["y" + k[1:]] for k in splits])
        clf = sk()
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X_fit, y_fit)
        test_acc = np.mean(clf.predict(data["X_test"].reshape(10000, -1)) == data["y_test"])
        t_sk = time.perf_counter() - start
        note = " (did not converge)" if caught else ""
        out.append(
            f"| `train --config configs/fashion_mnist_{name}.toml` (SGD, train_seconds "
            f"{summary['train_seconds']:.1f}) | {t_ours:.1f} | {summary['test_accuracy']:.4f} |"
        )
        out.append(f"| sklearn {type(clf).__name__}{note} | {t_sk:.1f} | {test_acc:.4f} |")
        out.append(f"| ratio (sklearn / ours) | {t_sk / t_ours:.1f}x | |")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-test", type=int, default=200, help="subset test rows (table 1)")
    parser.add_argument("--num-train", type=int, default=5000, help="subset training rows")
    parser.add_argument("--k", type=int, default=5, help="k of the full-problem comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="skip table 2")
    parser.add_argument("--linear", action="store_true", help="add table 4 (a few minutes)")
    args = parser.parse_args(argv)
    X, y, Xt, yt = load_fashion()
    print(distance_table(X, y, Xt, args.num_test, args.num_train, args.repeats), end="\n\n")
    if not args.skip_full:
        print(full_table(X, y, Xt, yt, args.k), end="\n\n", flush=True)
    print(loss_table(X, y, args.repeats), end="\n\n", flush=True)
    if args.linear:
        print(linear_table())


if __name__ == "__main__":
    main()
