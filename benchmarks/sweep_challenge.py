"""Validation sweep around the Fashion-MNIST challenge recipe (issue 5), never touching test.

Each variant is ``configs/fashion_mnist_challenge.toml`` with some command-line flags changed,
trained by ``visionblocks train --no-test`` in its own process; ``--jobs`` of them run at once
(on a GPU they share the card). The table gives each variant's best and last-epoch validation
accuracy, read from its ``metrics.jsonl``, so a sweep cut short still reports what it has::

    python benchmarks/sweep_challenge.py --device cuda --jobs 12 --out /tmp/sweep
    python benchmarks/sweep_challenge.py --summary /tmp/sweep   # the table again

A variant is ``NAME=FLAGS``; FLAGS are ``visionblocks train`` flags, e.g.
``keep07=--dropout-keep 0.7``. ``--variant`` replaces the default list below.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

BASE = "configs/fashion_mnist_challenge.toml"

#: The default sweep: the recipe, a second seed, and one change each (regularisation, optimiser,
#: batch size, length), all at the recipe's 32 epochs unless the name says otherwise.
VARIANTS = [
    "base=",
    "seed1=--seed 1",
    "keep07=--dropout-keep 0.7",
    "keep07_ls0=--dropout-keep 0.7 --label-smoothing 0",
    "ls0=--label-smoothing 0",
    "keep1=--dropout-keep 1",
    "erase=--augment crop:2,flip,erase",
    "keep07_erase=--dropout-keep 0.7 --augment crop:2,flip,erase",
    "nesterov=--update-rule nesterov --lr 0.05 --weight-decay 5e-4",
    "adamw=--update-rule adamw --lr 2e-3 --weight-decay 0.05",
    "b128=--batch-size 128 --lr 3e-3",
    "ep48=--epochs 48",
]


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(out: Path, names: list[str]) -> str:
    rows = ["| variant | epochs done | best val (epoch) | last val | mean of last 3 | s/epoch |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name in names:
        m = read_metrics(out / name)
        if not m:
            rows.append(f"| {name} | 0 | - | - | - | - |")
            continue
        best = max(m, key=lambda r: r["val_acc"])
        last3 = sum(r["val_acc"] for r in m[-3:]) / len(m[-3:])
        secs = sum(r["seconds"] for r in m) / len(m)
        rows.append(f"| {name} | {len(m)} | {best['val_acc']:.4f} ({best['epoch']}) | "
                    f"{m[-1]['val_acc']:.4f} | {last3:.4f} | {secs:.1f} |")  # fmt: skip
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/challenge-sweep", help="one run folder per variant")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best)")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once")
    p.add_argument("--base", default=BASE, help="the config every variant starts from")
    p.add_argument("--variant", action="append", help="NAME=FLAGS (repeatable)")
    p.add_argument("--summary", metavar="OUT", help="only print the table of a sweep folder")
    a = p.parse_args(argv)
    variants = [v.partition("=") for v in (a.variant or VARIANTS)]
    names = [name for name, _, _ in variants]
    if a.summary:
        found = sorted(d.name for d in Path(a.summary).iterdir() if d.is_dir())
        print(summary(Path(a.summary), found))
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pending, running = list(variants), []
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < a.jobs:
            name, _, flags = pending.pop(0)
            cmd = [sys.executable, "-m", "visionblocks", "train", "--config", a.base, "--no-test",
                   "--out", str(out / name), "--print-every", "0", *shlex.split(flags)]  # fmt: skip
            if a.device:
                cmd += ["--device", a.device]
            with open(out / f"{name}.log", "w") as log:  # the child keeps its own copy
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            running.append((name, proc))
        time.sleep(2)
        for name, proc in list(running):
            if proc.poll() is not None:
                running.remove((name, proc))
                print(f"{name}: exit {proc.returncode} at {time.perf_counter() - start:.0f} s",
                      flush=True)  # fmt: skip
    print(summary(out, names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
