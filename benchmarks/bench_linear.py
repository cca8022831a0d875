"""Softmax and linear SVM against scikit-learn: time to the same validation accuracy, search
time counted, with both objectives and stopping rules stated beside the times.

For each model (softmax, svm), in one run:

- ours: the recorded random search, run as the command line does (20 trials of 20-epoch
  minibatch SGD on the 55,000 training images, scored on the 5,000 validation images, lr and
  reg drawn log-uniformly within a factor 10 of 0.1 and 1e-4, two rounds), then the config's
  refit (``configs/fashion_mnist_{model}.toml``: 20 epochs on train + val) with the search's
  best lr and reg, tested once. Both are ``visionblocks train`` processes, timed whole (Python
  start-up and data loading included).
- theirs: ``LogisticRegression(max_iter=1000)`` (lbfgs) / ``LinearSVC()`` (liblinear), their
  default tolerance (1e-4) and C = 1, fitted on the same 55,000 training images (the timed
  block is ``fit`` alone), scored on the same validation images and on the test images.

The target accuracy is the lower of our best search trial and scikit-learn's validation
accuracy; our time to it is the summed seconds of the search's trials up to the first trial at
or above it (trial order), theirs is its whole fit (an upper bound: lbfgs / liblinear are not
traced per iteration). The total of ours (search + refit) is given beside it.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_linear.py --json lin.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from fairness import env_line, environment, fmt_load, timed, write_json

import visionblocks
from visionblocks.config import load_toml
from visionblocks.data import load_dataset

ROOT = Path(__file__).resolve().parent.parent
# The search command recorded in docs/BENCHMARKS.md.
SEARCH = (
    "--search random --trials 20 --lr 0.1 --reg 1e-4 --momentum 0.9 --lr-decay 0.75 "
    "--epochs 20 --batch-size 200 --weight-scale 1e-3 --no-test"
).split()
OBJECTIVE = {
    "softmax": "mean softmax cross-entropy + reg * sum(W^2) (bias row included)",
    "svm": "mean multiclass hinge (Weston-Watkins, margin 1) + reg * sum(W^2) (bias row included)",
    "LogisticRegression": "sum of multinomial cross-entropy * C + 0.5 * ||W||^2 (C = 1, "
    "intercept not penalised), i.e. mean loss + ||W||^2 / (2 C N)",
    "LinearSVC": "one-vs-rest: sum of squared hinge max(0, 1 - y w.x)^2 * C + 0.5 * ||w||^2 "
    "per class (C = 1, intercept penalised via intercept_scaling 1)",
}
STOP_OURS = ("fixed budget: {epochs} epochs of minibatch SGD (batch 200, momentum 0.9, lr x0.75 "
             "per epoch), no tolerance; lr, reg from the {trials}-trial search")  # fmt: skip
KEPT = ("C", "solver", "tol", "max_iter", "loss", "dual", "penalty", "l1_ratio", "multi_class")


def cli(args, smoke):
    """Runs ``visionblocks train ARGS`` (the smoke options appended); returns the timed dict."""
    cmd = [sys.executable, "-m", "visionblocks", "train", *args, *smoke]
    src = str(Path(visionblocks.__file__).resolve().parent.parent)  # the package this one uses
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}

    def run():
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    t = timed(run)
    t["command"] = " ".join(["visionblocks", "train", *args, *smoke])
    return t


def ours(name, work, smoke):
    """The search, then the refit with its best lr and reg; returns a record."""
    search_dir, refit_dir = Path(work) / f"{name}-search", Path(work) / f"{name}-refit"
    search = cli(["--data", "fashion-mnist", "--model", name, *SEARCH, "--out", str(search_dir)],
                 smoke["common"] + smoke["search"])  # fmt: skip
    trials = json.loads((search_dir / "search.json").read_text())
    best = max(trials, key=lambda r: r["val_accuracy"])
    lr, reg = f"{best['learning_rate']:.6g}", f"{best['reg']:.6g}"
    refit = cli(["--config", f"configs/fashion_mnist_{name}.toml", "--lr", lr, "--reg", reg,
                 "--out", str(refit_dir)], smoke["common"])  # fmt: skip
    summary = json.loads((refit_dir / "summary.json").read_text())
    for t in (search, refit):
        t.pop("result")
    config = load_toml(ROOT / "configs" / f"fashion_mnist_{name}.toml")  # flat: reg is in [model]
    return {"search": search, "refit": refit, "trials": trials, "best_trial": best,
            "test_accuracy": summary["test_accuracy"], "refit_summary": summary,
            "config_lr_reg": [config["lr"], config["reg"]], "epochs": config["epochs"]}  # fmt: skip


def theirs(name, data):
    """scikit-learn's model fitted on the training split; returns a record."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    clf = LogisticRegression(max_iter=1000) if name == "softmax" else LinearSVC()
    X = {s: data[f"X_{s}"].reshape(len(data[f"X_{s}"]), -1) for s in ("train", "val", "test")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t = timed(lambda: clf.fit(X["train"], data["y_train"]))
    t.pop("result")
    acc = {s: float(np.mean(clf.predict(X[s]) == data[f"y_{s}"])) for s in X}
    params = {k: v for k, v in clf.get_params().items() if k in KEPT and v != "deprecated"}
    return {"model": type(clf).__name__, "fit": t, "params": params,
            "n_iter": np.ravel(clf.n_iter_).tolist(),
            "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
            "accuracy": acc}  # fmt: skip


def time_to(trials, target):
    """Summed trial seconds up to the first trial with val accuracy >= target (None: never)."""
    total = 0.0
    for i, row in enumerate(trials):
        total += row["seconds"]
        if row["val_accuracy"] >= target:
            return total, i + 1
    return None, None


def table(name, mine, sk, epochs):
    """Markdown for one model."""
    best_val = mine["best_trial"]["val_accuracy"]
    target = min(best_val, sk["accuracy"]["val"])
    t_ours, trial = time_to(mine["trials"], target)
    s, r, f = mine["search"], mine["refit"], sk["fit"]
    compute = sum(t["seconds"] for t in mine["trials"]) + mine["refit_summary"]["train_seconds"]
    stop = STOP_OURS.format(epochs=epochs, trials=len(mine["trials"]))
    best = mine["best_trial"]
    note = "" if sk["converged"] else " (ConvergenceWarning: stopped at max_iter)"
    ours_total = s["seconds"] + r["seconds"]
    lines = [
        f"**{name}**: target validation accuracy {target:.4f} (the lower of ours {best_val:.4f} "
        f"and {sk['model']}'s {sk['accuracy']['val']:.4f}). Time to target: ours, the summed "
        "seconds of the search's trials up to the first one at or above it; theirs, the whole "
        "fit (an upper bound). Compute: trial seconds + the refit's train_seconds (ours), the "
        "fit (theirs); processes: the two `visionblocks train` commands end to end.",
        "",
        "| method | time to target (s) | compute (s) | processes (s) | val acc | test acc | "
        "load 1-min before -> after |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| ours: search ({len(mine['trials'])} trials on train) + refit on train+val | "
        f"{t_ours:.2f} (trial {trial}) | {compute:.1f} | {ours_total:.1f} (search "
        f"{s['seconds']:.1f} + refit {r['seconds']:.1f}) | {best_val:.4f} (best trial) | "
        f"{mine['test_accuracy']:.4f} (refit) | search {fmt_load(s['load_before'])} -> "
        f"{fmt_load(s['load_after'])}; refit {fmt_load(r['load_before'])} -> "
        f"{fmt_load(r['load_after'])} |",
        f"| {sk['model']}, fit on train | <= {f['seconds']:.1f} | {f['seconds']:.1f} | - (in "
        f"process, fit only) | {sk['accuracy']['val']:.4f} | {sk['accuracy']['test']:.4f} "
        f"(train fit) | {fmt_load(f['load_before'])} -> {fmt_load(f['load_after'])} |",
        "",
        f"{sk['model']} / ours: time to target {f['seconds'] / max(t_ours, 1e-9):.1f}x, compute "
        f"{f['seconds'] / compute:.2f}x, against our processes {f['seconds'] / ours_total:.2f}x",
        "",
        "| method | objective | stopping rule |",
        "|---|---|---|",
        f"| ours ({name}) | {OBJECTIVE[name]} | {stop} |",
        f"| {sk['model']} {sk['params']} | {OBJECTIVE[sk['model']]} | tolerance "
        f"{sk['params']['tol']} or max_iter {sk['params']['max_iter']}; n_iter "
        f"{max(sk['n_iter'])}{note} |",
        "",
        f"search's best trial: lr {best['learning_rate']:.4g}, reg {best['reg']:.3g} (the config "
        f"holds lr {mine['config_lr_reg'][0]}, reg {mine['config_lr_reg'][1]}); the refit used "
        "the search's values",
        f"commands: `{s['command']}`; `{r['command']}`",
    ]
    return "\n".join(lines), {"target": target, "ours_time_to_target": t_ours,
                              "ours_trial_reaching_target": trial}  # fmt: skip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="softmax,svm")
    p.add_argument("--num-train", type=int, help="smoke runs: training subsample (all: None)")
    p.add_argument("--epochs", type=int, help="smoke runs: epochs of every SGD fit (20)")
    p.add_argument("--trials", type=int, help="smoke runs: search trials (20)")
    p.add_argument("--json", help="write the records here")
    args = p.parse_args(argv)
    smoke = {"common": [], "search": []}
    for key, flag, value in (("common", "--num-train", args.num_train),
                             ("common", "--epochs", args.epochs),
                             ("search", "--trials", args.trials)):  # fmt: skip
        if value is not None:
            smoke[key] += [flag, str(value)]
    data = load_dataset("fashion-mnist", seed=0, num_train=args.num_train)  # the CLI's split
    records = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            mine, sk = ours(name, work, smoke), theirs(name, data)
            text, extra = table(name, mine, sk, args.epochs or mine["epochs"])
            print(text, end="\n\n", flush=True)
            records[name] = {"ours": mine, "sklearn": sk, **extra}
    env = environment()
    print(f"{len(data['y_train'])} training / {len(data['y_val'])} validation / "
          f"{len(data['y_test'])} test images, raw pixels in [0, 1]. Threads: our SGD runs with "
          "one BLAS thread (the runner's choice for small products); lbfgs uses NumPy/SciPy's "
          f"BLAS pools; liblinear is single-threaded. {env_line(env)}")  # fmt: skip
    if args.json:
        write_json(args.json, {"linear": records, "environment": env})
    return 0


if __name__ == "__main__":
    sys.exit(main())
