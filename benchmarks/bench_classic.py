"""Speed of the classic models: kNN distances, kNN against scikit-learn, the linear losses.

Every ratio compares timings taken in this one run. Tables (markdown):

1. kNN distances on a Fashion-MNIST subset: two loops, one loop, no loops (float64
   ``compute_distances_no_loops``) and the chunked exact search ``kneighbors``, with the
   largest difference from the two-loop distances;
2. the full problem (10,000 test x 60,000 train x 784, k = 4, the k that
   ``configs/fashion_mnist_knn.toml``'s cross-validation chose): ``KNearestNeighbor.predict``
   against scikit-learn's brute-force ``KNeighborsClassifier`` fit + predict, ``--repeats-full``
   interleaved pairs (order alternating), every time, the median ratio and its min/max, the
   load average around every timed block, the predictions checked identical, and the peak
   memory NumPy allocated, measured in a separate untimed pass;
3. the SVM and softmax losses, naive loops against vectorized, on a 500-example dev batch.

``--only-full`` runs table 2 alone (what ``run_fair.sh`` does); ``--json`` writes its records.
Exit status 1 when our predictions differ from scikit-learn's. ``--linear`` runs
``bench_linear.py`` (ours against LogisticRegression / LinearSVC) afterwards.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_classic.py --only-full \
        --repeats-full 5 --json knn.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc

import numpy as np
from fairness import env_line, environment, fmt_load, ratio_summary, timed, write_json

from visionblocks.classic import (
    KNearestNeighbor,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from visionblocks.data import load_dataset


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


def full_knn(X, y, Xt, yt, k, repeats):
    """Table 2: ours against scikit-learn's brute force on the full problem, interleaved.

    Each repeat times both, one after the other, the order alternating (ours first in even
    repeats, scikit-learn first in odd ones), each timed block holding only the fit and the
    predict. Peak memory is measured afterwards in a separate, untimed pass of ours under
    tracemalloc (tracemalloc slows allocation, so it never runs during a timed block).

    Args:
        X: (N, D) training rows; y: (N,) labels.
        Xt: (M, D) test rows; yt: (M,) labels.
        k: neighbours.
        repeats: timed pairs (>= 1).

    Returns:
        (markdown table, JSON-ready dict, whether every prediction equals scikit-learn's).
    """
    from sklearn.neighbors import KNeighborsClassifier

    def ours():
        knn = KNearestNeighbor()
        knn.train(X, y)
        return knn.predict(Xt, k=k), knn.num_exact_fallbacks

    def sklearn():
        clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
        return clf.fit(X, y).predict(Xt), None

    runs = []
    preds = {}
    for r in range(max(repeats, 1)):
        order = [("ours", ours), ("sklearn", sklearn)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t = timed(fn)
            pred, fallbacks = t.pop("result")
            runs.append({"repeat": r + 1, "method": name, **t, "fallbacks": fallbacks,
                         "accuracy": float(np.mean(pred == yt))})  # fmt: skip
            if name in preds and not np.array_equal(preds[name], pred):
                raise AssertionError(f"{name}'s predictions changed between repeats")
            preds[name] = pred
    differ = int(np.sum(preds["ours"] != preds["sklearn"]))
    fallbacks = next(r["fallbacks"] for r in runs if r["method"] == "ours")
    tracemalloc.start()  # the untimed memory pass
    ours()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    t = {m: [r["seconds"] for r in runs if r["method"] == m] for m in ("ours", "sklearn")}
    ratio = ratio_summary(t["sklearn"], t["ours"])
    acc = {m: next(r["accuracy"] for r in runs if r["method"] == m) for m in t}
    out = [
        f"kNN on the full problem: {len(yt)} test x {len(y)} train x {X.shape[1]}, k={k}, "
        f"{len(t['ours'])} interleaved repeats (order alternating, ours first in repeat 1)",
        "",
        "| repeat | order | ours (s) | sklearn brute (s) | sklearn / ours | load 1-min before -> "
        "after (ours; sklearn) |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for i, (a, b) in enumerate(zip(t["ours"], t["sklearn"])):
        ra, rb = (next(r for r in runs if r["repeat"] == i + 1 and r["method"] == m)
                  for m in ("ours", "sklearn"))  # fmt: skip
        loads = (f"{fmt_load(ra['load_before'])} -> {fmt_load(ra['load_after'])}; "
                 f"{fmt_load(rb['load_before'])} -> {fmt_load(rb['load_after'])}")  # fmt: skip
        order = "ours, sklearn" if i % 2 == 0 else "sklearn, ours"
        out.append(f"| {i + 1} | {order} | {a:.2f} | {b:.2f} | {b / a:.2f}x | {loads} |")
    out += [
        "",
        f"median ratio sklearn / ours: **{ratio['median']:.2f}x** (min {ratio['min']:.2f}x, "
        f"max {ratio['max']:.2f}x); median times: ours {statistics.median(t['ours']):.2f} s, "
        f"sklearn {statistics.median(t['sklearn']):.2f} s",
        f"test accuracy: ours {acc['ours']:.4f}, sklearn {acc['sklearn']:.4f}; predictions "
        f"differing from sklearn's: {differ} of {len(yt)}"
        + (" (identical)" if differ == 0 else " (NOT IDENTICAL)"),
        f"rows re-checked with the exact fallback: {fallbacks}; "
        f"peak NumPy allocation of ours (tracemalloc, separate untimed pass): {peak:.0f} MiB",
    ]
    record = {"k": k, "num_test": len(yt), "num_train": len(y), "dim": int(X.shape[1]),
              "runs": runs, "ratio_sklearn_over_ours": ratio, "accuracy": acc,
              "predictions_differing": differ, "peak_numpy_mib_untimed": peak}  # fmt: skip
    return "\n".join(out), record, differ == 0


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-test", type=int, default=200, help="subset test rows (table 1)")
    parser.add_argument("--num-train", type=int, default=5000, help="subset training rows")
    parser.add_argument("--k", type=int, default=4, help="k of the full-problem comparison")
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats, tables 1, 3")
    parser.add_argument("--repeats-full", type=int, default=5, help="interleaved pairs, table 2")
    parser.add_argument("--full-test", type=int, default=10000, help="test rows of table 2")
    parser.add_argument("--full-train", type=int, default=60000, help="training rows, table 2")
    parser.add_argument("--skip-full", action="store_true", help="skip table 2")
    parser.add_argument("--only-full", action="store_true", help="table 2 alone")
    parser.add_argument("--json", help="write table 2's records (and the environment) here")
    parser.add_argument("--linear", action="store_true", help="then run bench_linear.py")
    args = parser.parse_args(argv)
    X, y, Xt, yt = load_fashion()
    if not args.only_full:
        print(distance_table(X, y, Xt, args.num_test, args.num_train, args.repeats), end="\n\n")
    identical = True
    if not args.skip_full:
        table, record, identical = full_knn(
            X[: args.full_train], y[: args.full_train], Xt[: args.full_test],
            yt[: args.full_test], args.k, args.repeats_full,
        )  # fmt: skip
        env = environment()
        print(f"{table}\n\n{env_line(env)}", end="\n\n", flush=True)
        if args.json:
            write_json(args.json, {"knn": record, "environment": env})
    if not args.only_full:
        print(loss_table(X, y, args.repeats), end="\n\n", flush=True)
    if args.linear:
        import bench_linear  # the script's folder is on sys.path when run as a file

        bench_linear.main([])
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
