"""Speed of the NumPy convolutions, pooling and ConvNet training step against PyTorch CPU.

Every figure comes from one run, best of ``--repeats`` timings, engines interleaved, so the
ratios compare like with like ("fast vs torch" is torch's time over NumPy's: above 1 means the
NumPy layer is faster). PyTorch runs NCHW-contiguous tensors (its default) and, for reference,
channels-last ones. Tables (markdown):

1. the float32 matrix-multiply GFLOP/s of the machine (NumPy's BLAS and torch), the ceiling of
   any im2col design;
2. per conv layer of the Fashion-MNIST ConvNet: forward and forward+backward time and GFLOP/s of
   the naive loops (timed on a few images and scaled), the fast NumPy layer and
   ``torch.nn.functional.conv2d`` with autograd;
3. 2x2 max pooling, NumPy fast against ``max_pool2d``;
4. one training step (forward, backward, Adam update) of the ConvNet against the same
   architecture in PyTorch, in images per second.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_conv.py
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from visionblocks.layers import (
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from visionblocks.layers.im2col import channels_last
from visionblocks.models import ConvNet
from visionblocks.optim import adam

#: (name, C, F, H) of the 3x3 'same' conv layers of the Fashion-MNIST ConvNet (and the issue's
#: example 32 -> 64 at 28x28).
LAYERS = [
    ("conv 1->32, 28x28", 1, 32, 28),
    ("conv 32->32, 28x28", 32, 32, 28),
    ("conv 32->64, 28x28", 32, 64, 28),
    ("conv 32->64, 14x14", 32, 64, 14),
    ("conv 64->64, 14x14", 64, 64, 14),
]
POOLS = [("max pool 2x2, 32x28x28", 32, 28), ("max pool 2x2, 64x14x14", 64, 14)]
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def best_time(fn, repeats):
    """Best wall time of ``fn()`` in seconds over ``repeats`` runs, after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def race(fns, repeats, rounds=2):
    """Best time in ms of each named function, the engines taking turns for ``rounds`` rounds
    so that they all see the same machine state."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], 1e3 * best_time(fn, repeats))
    return best


def matmul_ceiling(torch, repeats, n=2048):
    """Float32 n x n x n matrix-multiply GFLOP/s of NumPy's BLAS and of torch (best of three
    interleaved rounds)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    fns = {"numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    return {k: 2 * n**3 / (ms / 1e3) / 1e9 for k, ms in race(fns, repeats, rounds=3).items()}


def bench_layer(torch, n, c, f, h, repeats, naive_images):
    """Times one 3x3 stride-1 pad-1 conv layer; returns times in ms and the FLOP count."""
    rng = np.random.default_rng(0)
    x = channels_last(rng.standard_normal((n, c, h, h), dtype=np.float32))  # as a conv makes it
    w = (rng.standard_normal((f, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = np.zeros(f, np.float32)
    cp = {"stride": 1, "pad": 1}
    out, _ = conv_forward_fast(x, w, b, cp)
    dout = channels_last(rng.standard_normal(out.shape, dtype=np.float32))

    def fast_fb():
        conv_backward_fast(dout, conv_forward_fast(x, w, b, cp)[1])

    xs, ds = x[:naive_images].astype(np.float64), dout[:naive_images].astype(np.float64)
    naive_f = best_time(lambda: conv_forward_naive(xs, w, b, cp), 1)
    naive_b = best_time(lambda: conv_backward_naive(ds, conv_forward_naive(xs, w, b, cp)[1]), 1)
    row = {"flop": 2 * n * f * h * h * c * 9}
    row["naive_fwd_ms"] = 1e3 * naive_f * n / naive_images
    row["naive_fb_ms"] = 1e3 * naive_b * n / naive_images  # forward + backward
    fns = {"fast_fwd_ms": lambda: conv_forward_fast(x, w, b, cp), "fast_fb_ms": fast_fb}
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(c > 1)
        tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
        tdout = torch.from_numpy(np.ascontiguousarray(dout))

        def torch_f():
            with torch.no_grad():
                F.conv2d(tx, tw, tb, padding=1)

        fns["torch_fwd_ms"] = torch_f
        fns["torch_fb_ms"] = lambda: F.conv2d(tx, tw, tb, padding=1).backward(tdout)
        cl = torch.channels_last
        tx_cl = tx.detach().contiguous(memory_format=cl).requires_grad_(c > 1)
        tdout_cl = tdout.contiguous(memory_format=cl)
        fns["torch_cl_fb_ms"] = lambda: F.conv2d(tx_cl, tw, tb, padding=1).backward(tdout_cl)
    return {**row, **race(fns, repeats)}


def bench_pool(torch, n, c, h, repeats):
    """Times 2x2 max pooling forward and forward+backward, NumPy fast and torch, in ms."""
    rng = np.random.default_rng(0)
    x = channels_last(rng.standard_normal((n, c, h, h), dtype=np.float32))
    dout = channels_last(rng.standard_normal((n, c, h // 2, h // 2), dtype=np.float32))
    fns = {
        "fast_fwd_ms": lambda: max_pool_forward_fast(x, POOL),
        "fast_fb_ms": lambda: max_pool_backward_fast(dout, max_pool_forward_fast(x, POOL)[1]),
    }
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        tdout = torch.from_numpy(np.ascontiguousarray(dout))

        def torch_f():
            with torch.no_grad():
                F.max_pool2d(tx, 2, 2)

        fns["torch_fwd_ms"] = torch_f
        fns["torch_fb_ms"] = lambda: F.max_pool2d(tx, 2, 2).backward(tdout)
        cl = torch.channels_last
        tx_cl = tx.detach().contiguous(memory_format=cl).requires_grad_()
        tdout_cl = tdout.contiguous(memory_format=cl)
        fns["torch_cl_fb_ms"] = lambda: F.max_pool2d(tx_cl, 2, 2).backward(tdout_cl)
    return race(fns, repeats)


def torch_convnet(torch, model: ConvNet):
    """The same architecture as a plain-conv ``ConvNet`` in PyTorch (conv-bn-relu stages)."""
    nn = torch.nn
    layers, c = [], model.input_dim[0]
    for f in model.num_filters:
        for _ in range(model.convs_per_stage):
            layers += [nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU()]
            c = f
        layers.append(nn.MaxPool2d(2, 2))
    layers.append(nn.Flatten())
    dims = [model.params[f"W{model.num_convs + 1}"].shape[0]]
    dims += [
        model.params[f"W{j}"].shape[1]
        for j in range(model.num_convs + 1, model.num_convs + model.num_affine + 1)
    ]
    for d_in, d_out in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def bench_step(torch, arch, batch, repeats):
    """Images per second of one training step (forward, backward, Adam) in both engines."""
    rng = np.random.default_rng(0)
    model = ConvNet((1, 28, 28), **arch, seed=0)
    X = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    configs = {k: {"learning_rate": 1e-3} for k in model.params}

    def numpy_step():
        _, grads = model.loss(X, y)
        for k, w in model.params.items():
            model.params[k], configs[k] = adam(w, grads[k], configs[k])

    fns = {"numpy_ms": numpy_step}
    if torch is not None:
        net = torch_convnet(torch, model)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)

        def torch_step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(tX), ty).backward()
            opt.step()

        fns["torch_ms"] = torch_step
        net_cl = torch_convnet(torch, model).to(memory_format=torch.channels_last)
        opt_cl = torch.optim.Adam(net_cl.parameters(), lr=1e-3)
        tX_cl = tX.contiguous(memory_format=torch.channels_last)

        def torch_cl_step():
            opt_cl.zero_grad()
            torch.nn.functional.cross_entropy(net_cl(tX_cl), ty).backward()
            opt_cl.step()

        fns["torch_cl_ms"] = torch_cl_step
    return race(fns, repeats)


def _table(header, rows):
    """A markdown table from a header and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _gflops(flop, ms):
    return flop / (ms / 1e3) / 1e9


def layer_table(results, batch, with_torch):
    """Markdown table of the per-layer results."""
    header = [f"layer (N={batch}, 3x3, pad 1)", "naive fwd", "fast fwd ms (GFLOP/s)"]
    header += ["fast fwd+bwd ms (GFLOP/s)"]
    if with_torch:
        header += ["torch fwd", "torch fwd+bwd", "torch channels-last fwd+bwd"]
        header += ["fast vs torch fwd", "fast vs torch fwd+bwd"]
    rows = []
    for name, r in results.items():
        fl = r["flop"]
        cells = [name, f"{r['naive_fwd_ms'] / 1e3:.1f} s"]
        cells += [f"{r['fast_fwd_ms']:.1f} ({_gflops(fl, r['fast_fwd_ms']):.0f})"]
        cells += [f"{r['fast_fb_ms']:.1f} ({_gflops(3 * fl, r['fast_fb_ms']):.0f})"]
        if with_torch:
            cells += [f"{r['torch_fwd_ms']:.1f} ({_gflops(fl, r['torch_fwd_ms']):.0f})"]
            cells += [f"{r['torch_fb_ms']:.1f} ({_gflops(3 * fl, r['torch_fb_ms']):.0f})"]
            cells += [f"{r['torch_cl_fb_ms']:.1f} ({_gflops(3 * fl, r['torch_cl_fb_ms']):.0f})"]
            cells += [f"{r['torch_fwd_ms'] / r['fast_fwd_ms']:.2f}x"]
            cells += [f"{r['torch_fb_ms'] / r['fast_fb_ms']:.2f}x"]
        rows.append(cells)
    return _table(header, rows)


def pool_table(results, batch, with_torch):
    """Markdown table of the pooling results."""
    header = [f"pooling (N={batch})", "fast fwd ms", "fast fwd+bwd ms"]
    if with_torch:
        header += ["torch fwd ms", "torch fwd+bwd ms", "torch channels-last fwd+bwd ms"]
        header += ["fast vs torch fwd", "fast vs torch fwd+bwd"]
    rows = []
    for name, r in results.items():
        cells = [name, f"{r['fast_fwd_ms']:.2f}", f"{r['fast_fb_ms']:.2f}"]
        if with_torch:
            cells += [f"{r['torch_fwd_ms']:.2f}", f"{r['torch_fb_ms']:.2f}"]
            cells += [f"{r['torch_cl_fb_ms']:.2f}"]
            cells += [f"{r['torch_fwd_ms'] / r['fast_fwd_ms']:.2f}x"]
            cells += [f"{r['torch_fb_ms'] / r['fast_fb_ms']:.2f}x"]
        rows.append(cells)
    return _table(header, rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64, help="images per layer call and per step")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--naive-images", type=int, default=2, help="images the naive loops run on")
    p.add_argument("--filters", default="32,64", help="ConvNet stage widths for the step")
    p.add_argument("--convs-per-stage", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", help="also write the raw numbers here")
    args = p.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch is not installed: NumPy figures only")
    results = {"matmul": matmul_ceiling(torch, args.repeats)}
    ceiling = ", ".join(f"{k} {v:.1f}" for k, v in results["matmul"].items())
    print(f"float32 2048^3 matrix multiply, GFLOP/s: {ceiling}\n", flush=True)
    results["layers"] = {
        name: bench_layer(torch, args.batch, c, f, h, args.repeats, args.naive_images)
        for name, c, f, h in LAYERS
    }
    print(layer_table(results["layers"], args.batch, torch is not None) + "\n", flush=True)
    results["pools"] = {
        name: bench_pool(torch, args.batch, c, h, args.repeats) for name, c, h in POOLS
    }
    print(pool_table(results["pools"], args.batch, torch is not None) + "\n", flush=True)
    arch = {
        "num_filters": [int(v) for v in args.filters.split(",")],
        "convs_per_stage": args.convs_per_stage,
        "hidden_dims": [args.hidden],
    }
    r = bench_step(torch, arch, args.batch, args.repeats)
    results["step"] = {**r, "arch": arch, "batch": args.batch}
    ips = 1e3 * args.batch / r["numpy_ms"]
    print(f"training step, batch {args.batch}, ConvNet {arch}:")
    print(f"  NumPy {r['numpy_ms']:.0f} ms = {ips:.0f} images/s")
    if torch is not None:
        tips = 1e3 * args.batch / r["torch_ms"]
        cl_ips = 1e3 * args.batch / r["torch_cl_ms"]
        print(f"  torch {r['torch_ms']:.0f} ms = {tips:.0f} images/s")
        print(f"  torch channels-last {r['torch_cl_ms']:.0f} ms = {cl_ips:.0f} images/s")
        print(f"  NumPy / torch = {ips / tips:.2f}x (channels-last: {ips / cl_ips:.2f}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
