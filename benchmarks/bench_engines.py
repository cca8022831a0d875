"""The NumPy and the PyTorch engine on the same ConvNet, interleaved epoch for epoch.

Both start from the same weights (the torch model is the NumPy model's twin) and see the same
minibatches (the Solver and the Trainer draw one seeded permutation per epoch), with Adam at the
same learning rate. The two engines take turns in one process: NumPy epoch 1, torch epoch 1,
NumPy epoch 2, ... Each turn is one ``train()`` call of a new ``Solver(..., num_epochs=e,
out_dir=D, resume=True)`` / ``Trainer(..., epochs=e, out_dir=D2, resume=True)`` that continues
its engine's run directory by one epoch (only the public constructor keywords and ``train()``
are used). Resume is exact, so the curves equal uninterrupted runs; ``--check-resume`` asserts
that first on a small subsample (the metrics and the final weights of a resumed-every-epoch run
equal an uninterrupted run's, both engines) and exits with status 1 if not.

Per epoch the table gives each engine's validation accuracy and its speed measured in the same
window (the two turns of that epoch follow each other): training images per second over our
clock around the whole ``train()`` call (the epoch's steps, its accuracy checks on 1,000
training and all validation images, the checkpoint writes: the same work and the same clock for
both engines, whatever each engine's own ``metrics.jsonl`` timing covers), the ratio, and
``os.getloadavg()`` before and after every timed call. The JSON keeps each engine's own
per-epoch record as well.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_engines.py --epochs 3 \\
        --check-resume --json engines.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from fairness import env_line, environment, fmt_load, ratio_summary, timed, write_json

from visionblocks.data import load_dataset
from visionblocks.models.cnn import ConvNet
from visionblocks.solver import Solver, predict
from visionblocks.torchkit import Trainer
from visionblocks.torchkit.models import twin_of

VOLATILE = ("seconds", "images_per_sec")  # metrics.jsonl fields that are clock readings


def build(args, data, filters, hidden):
    """A seeded NumPy ConvNet and its torch twin (same architecture and initial weights)."""
    model = ConvNet(data["X_train"].shape[1:], filters, 1, (hidden,), 10,
                    normalization="batchnorm", seed=args.seed)  # fmt: skip
    return model, twin_of(model)


def numpy_turn(model, data, args, out_dir, epochs):
    """Trains the NumPy run in ``out_dir`` up to ``epochs`` (continuing it when epochs > 1)."""
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": args.lr},
                    batch_size=args.batch_size, num_epochs=epochs, verbose=False,
                    seed=args.seed, num_train_samples=1000, out_dir=out_dir,
                    resume=epochs > 1)  # fmt: skip
    return timed(solver.train)


def torch_turn(twin, data, args, out_dir, epochs):
    """Trains the torch run in ``out_dir`` up to ``epochs``; the result is the Trainer."""
    trainer = Trainer(twin, data, update_rule="adam", lr=args.lr, batch_size=args.batch_size,
                      epochs=epochs, verbose=False, seed=args.seed, device="cpu",
                      num_train_samples=1000, out_dir=out_dir, resume=epochs > 1)  # fmt: skip
    return timed(trainer.train)


def metrics(out_dir):
    """The run directory's metrics.jsonl records, one dict per epoch."""
    lines = Path(out_dir, "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def stable(records):
    """The metrics without their clock readings (what an exact resume must reproduce)."""
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


def check_resume(args, data, epochs=2, num_train=1000, num_val=1000):
    """Asserts that one-epoch-at-a-time resumed runs equal uninterrupted ones, both engines.

    Returns:
        a one-line report.
    """
    num_train, num_val = min(num_train, len(data["y_train"])), min(num_val, len(data["y_val"]))
    small = {"X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
             "X_val": data["X_val"][:num_val], "y_val": data["y_val"][:num_val]}  # fmt: skip
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("whole", "resumed"):
            model, twin = build(args, small, (8, 16), 32)
            for name, turn, net in (("numpy", numpy_turn, model), ("torch", torch_turn, twin)):
                out = Path(tmp, f"{name}-{mode}")
                for e in range(1, epochs + 1) if mode == "resumed" else [epochs]:
                    turn(net, small, args, out, e)
                found[name, mode] = stable(metrics(out))
            found["numpy", mode, "w"] = {k: v.copy() for k, v in model.params.items()}
            found["torch", mode, "w"] = {k: v.clone() for k, v in twin.state_dict().items()}
    for name in ("numpy", "torch"):
        if found[name, "whole"] != found[name, "resumed"] or len(found[name, "whole"]) != epochs:
            raise AssertionError(f"{name}: resumed metrics differ from the uninterrupted run's:\n"
                                 f"{found[name, 'whole']}\n{found[name, 'resumed']}")  # fmt: skip
        a, b = found[name, "whole", "w"], found[name, "resumed", "w"]
        same = a.keys() == b.keys() and all(
            np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a
        )
        if not same:
            raise AssertionError(f"{name}: resumed final weights differ from the uninterrupted")
    return (f"resume check: {epochs} epochs on {num_train} training images ({num_val} "
            "validation), resumed every epoch vs "
            "uninterrupted: metrics (loss, accuracies, lr) and final weights identical, NumPy "
            "and torch")  # fmt: skip


def interleaved(args, data, filters, work):
    """The timed comparison; returns the per-epoch rows and the test accuracies."""
    model, twin = build(args, data, filters, args.hidden)
    images = (data["X_train"].shape[0] // args.batch_size) * args.batch_size  # both drop last
    rows = []
    for e in range(1, args.epochs + 1):
        row = {"epoch": e}
        for name, turn, net in (("numpy", numpy_turn, model), ("torch", torch_turn, twin)):
            t = turn(net, data, args, Path(work, name), e)
            last = metrics(Path(work, name))[-1]
            if last["epoch"] != e:
                raise AssertionError(f"{name}'s run directory is at epoch {last['epoch']}, not {e}")
            row[name] = {"val_acc": last["val_acc"], "train_acc": last["train_acc"],
                         "loss": last["loss"], "seconds": t["seconds"],
                         "images_per_sec": images / t["seconds"],
                         "load_before": t["load_before"], "load_after": t["load_after"],
                         "metrics_record": last}  # fmt: skip
            if name == "torch":
                trainer = t["result"]
        rows.append(row)
    tests = {"numpy": float(np.mean(predict(model, data["X_test"]) == data["y_test"])),
             "torch": trainer.check_accuracy(data["X_test"], data["y_test"])}  # fmt: skip
    return rows, tests, images


def markdown(args, rows, tests, images, filters, n):
    out = [
        f"ConvNet {filters} conv-bn-relu-pool, affine {args.hidden}, {args.data} ({n} train "
        f"images, {images} per epoch), Adam lr {args.lr}, batch {args.batch_size}; engines "
        "interleaved epoch for epoch (NumPy first), each turn one train() call continuing "
        "its run directory",
        "",
        "| epoch | numpy val acc | torch val acc | numpy s | torch s | numpy images/s | "
        "torch images/s | torch / numpy | load 1-min before -> after (numpy; torch) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        a, b = r["numpy"], r["torch"]
        loads = "; ".join(f"{fmt_load(x['load_before'])} -> {fmt_load(x['load_after'])}"
                          for x in (a, b))  # fmt: skip
        out.append(
            f"| {r['epoch']} | {a['val_acc']:.4f} | {b['val_acc']:.4f} | {a['seconds']:.1f} | "
            f"{b['seconds']:.1f} | {a['images_per_sec']:.0f} | {b['images_per_sec']:.0f} | "
            f"{b['images_per_sec'] / a['images_per_sec']:.2f}x | {loads} |"
        )
    ratios = ratio_summary([r["torch"]["images_per_sec"] for r in rows],
                           [r["numpy"]["images_per_sec"] for r in rows])  # fmt: skip
    out += ["", f"torch / numpy images/s over the {len(rows)} epochs: median "
            f"{ratios['median']:.2f}x (min {ratios['min']:.2f}x, max {ratios['max']:.2f}x). "
            "s and images/s: our clock around each train() call, the same for both engines (the "
            "epoch's minibatch steps, its accuracy checks on 1,000 training and all validation "
            "images, the checkpoint writes); the engines' own metrics.jsonl records are in the "
            "JSON."]  # fmt: skip
    out += ["", f"test accuracy of the best-validation weights after {args.epochs} epochs: "
            f"numpy {tests['numpy']:.4f}, torch {tests['torch']:.4f}"]  # fmt: skip
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--num-train", type=int, default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--filters", default="32,64")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-resume", action="store_true", help="assert exact resume first")
    p.add_argument("--out", help="keep the two run directories here (default: a temporary one)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    data = load_dataset(args.data, num_train=args.num_train, preprocess="standardize",
                        seed=args.seed)  # fmt: skip
    filters = tuple(int(f) for f in args.filters.split(","))
    check = check_resume(args, data) if args.check_resume else None
    if check:
        print(check, end="\n\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        rows, tests, images = interleaved(args, data, filters, work)
    n = data["X_train"].shape[0]
    env = environment()
    print(markdown(args, rows, tests, images, filters, n), f"\n{env_line(env)}", sep="\n")
    if args.json:
        write_json(args.json, {"engines": {"args": vars(args), "rows": rows, "test": tests,
                                           "images_per_epoch": images, "resume_check": check},
                               "environment": env})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
