"""One SGD training step of the same MLP on the autograd engine, the layer pairs and torch CPU.

A step is forward, loss (softmax cross-entropy + 0.5 * reg * sum(W**2)), backward and the SGD
update of every parameter. Contenders, all from the same initial weights on the same batch:

- ``pairs``: ``visionblocks.models.FullyConnectedNet`` (hand-written backward passes);
- ``engine-layers``: ``autograd.GraphFullyConnectedNet(build="layers")`` (each registered pair
  one graph node);
- ``engine-prims``: ``GraphFullyConnectedNet(build="primitives")`` (matmul, add, relu, exp, log,
  indexing, ... each a node);
- ``torch``: the same maths with torch tensors and ``loss.backward()`` on the CPU.

The contenders take turns inside every repeat (the order rotates), after warm-up steps, so load
changes hit them alike; the table gives median seconds per step and the median of the paired
ratios to ``pairs``, with ``os.getloadavg()`` around each dtype's block. BLAS and torch run
``--threads`` threads (1 by default: on a shared, loaded machine torch's 2-thread pool spends
most of a small step waiting for its threads). The losses of the
first step are printed to show the four compute the same thing.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_autograd.py \\
        --repeats 30 --json autograd.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from fairness import env_line, environment, fmt_load, loadavg, ratio_summary, write_json
from threadpoolctl import threadpool_limits

from visionblocks.autograd import GraphFullyConnectedNet
from visionblocks.models.fc_net import FullyConnectedNet

NAMES = ("pairs", "engine-layers", "engine-prims", "torch")


def numpy_step(model, X, y, lr):
    """One step of a NumPy model: loss and grads, then SGD in place."""
    loss, grads = model.loss(X, y)
    for k, g in grads.items():
        model.params[k] -= lr * g
    return loss


class TorchMLP:
    """The same MLP in torch: weights from the NumPy model, manual SGD."""

    def __init__(self, params, num_layers, reg):
        self.p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        self.num_layers, self.reg = num_layers, reg

    def step(self, X, y, lr):
        h = X
        for i in range(1, self.num_layers + 1):
            h = h @ self.p[f"W{i}"] + self.p[f"b{i}"]
            if i < self.num_layers:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, y)
        for i in range(1, self.num_layers + 1):
            loss = loss + 0.5 * self.reg * (self.p[f"W{i}"] ** 2).sum()
        loss.backward()
        with torch.no_grad():
            for p in self.p.values():
                p -= lr * p.grad
                p.grad = None
        return float(loss.detach())


def contenders(args, dtype):
    """name -> step() for the four, all from the same weights and batch."""
    dims = [int(d) for d in args.dims.split(",")]
    kw = dict(input_dim=dims[0], num_classes=dims[-1], reg=args.reg, weight_scale=0.05,
              dtype=dtype, seed=0, init="he")  # fmt: skip
    pairs = FullyConnectedNet(dims[1:-1], **kw)
    layers = GraphFullyConnectedNet(dims[1:-1], build="layers", **kw)
    prims = GraphFullyConnectedNet(dims[1:-1], build="primitives", **kw)
    for model in (layers, prims):
        model.params = {k: v.copy() for k, v in pairs.params.items()}
    twin = TorchMLP(pairs.params, pairs.num_layers, args.reg)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((args.batch, dims[0])).astype(dtype)
    y = rng.integers(0, dims[-1], args.batch)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    return {
        "pairs": lambda: numpy_step(pairs, X, y, args.lr),
        "engine-layers": lambda: numpy_step(layers, X, y, args.lr),
        "engine-prims": lambda: numpy_step(prims, X, y, args.lr),
        "torch": lambda: twin.step(Xt, yt, args.lr),
    }


def run_dtype(args, dtype):
    steps = contenders(args, dtype)
    first = {name: steps[name]() for name in NAMES}  # also the first warm-up step
    for _ in range(args.warmup - 1):
        for name in NAMES:
            steps[name]()
    times = {name: [] for name in NAMES}
    load_before = loadavg()
    start = time.perf_counter()
    for r in range(args.repeats):
        order = NAMES[r % len(NAMES) :] + NAMES[: r % len(NAMES)]  # rotate who goes first
        for name in order:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    return {"first_losses": first, "times": times, "wall": wall, "load_before": load_before,
            "load_after": loadavg()}  # fmt: skip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dims", default="784,512,512,10", help="input,hidden...,classes")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--reg", type=float, default=1e-4)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS and torch threads (1: one core each, steady on a shared machine)",
    )
    p.add_argument("--json", help="write the timings here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        return run(args)


def run(args):
    started = time.perf_counter()
    results = {}
    print(f"MLP {args.dims.replace(',', '-')}, batch {args.batch}, relu, softmax cross-entropy + "
          f"L2 reg {args.reg}, SGD lr {args.lr}; {args.warmup} warm-up steps, {args.repeats} "
          "interleaved repeats (order rotating)\n")  # fmt: skip
    print("| dtype | contender | median ms / step | vs pairs (median of paired ratios) | "
          "first-step loss | load 1-min before -> after |")  # fmt: skip
    print("|---|---|---:|---:|---:|---|")
    for dtype_name in args.dtypes.split(","):
        res = run_dtype(args, np.dtype(dtype_name))
        results[dtype_name] = res
        load = f"{fmt_load(res['load_before'])} -> {fmt_load(res['load_after'])}"
        for name in NAMES:
            median = statistics.median(res["times"][name]) * 1e3
            ratio = ratio_summary(res["times"][name], res["times"]["pairs"])
            res.setdefault("ratios", {})[name] = ratio
            print(f"| {dtype_name} | {name} | {median:.1f} | {ratio['median']:.2f}x "
                  f"({ratio['min']:.2f}-{ratio['max']:.2f}) | {res['first_losses'][name]:.6f} | "
                  f"{load} |")  # fmt: skip
    total = time.perf_counter() - started
    env = environment()
    print(f"\n{env_line(env)}; total wall {total:.1f} s")
    if args.json:
        write_json(args.json, {"args": vars(args), "results": results, "environment": env,
                               "wall_seconds": total})  # fmt: skip


if __name__ == "__main__":
    main()
