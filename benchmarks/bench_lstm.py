"""NumPy ``lstm_forward`` + ``lstm_backward`` against ``torch.nn.LSTM`` forward + backward on the
CPU, interleaved in one run (issue 14's speed goal: NumPy >= 0.7x torch).

Both engines get the same float32 inputs and weights (ours mapped to torch's gate order) and the
same upstream gradient, and compute the same things: the hidden states of every step and the
gradients of x, h0 and every weight. Each repeat times one NumPy call and one torch call back to
back, alternating which goes first; the figure is the median over repeats of the paired ratio
torch seconds / NumPy seconds (> 1: NumPy faster). The outputs and gradients are compared first.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_lstm.py --repeats 9 \\
        [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from fairness import env_line, environment, fmt_load, ratio_summary, timed, write_json

from visionblocks.layers import lstm_backward, lstm_forward


def _perm(h):
    return np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]  # torch's i, f, g, o in ours


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--N", type=int, default=128)
    parser.add_argument("--T", type=int, default=16)
    parser.add_argument("--D", type=int, default=256)
    parser.add_argument("--H", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads of NumPy and torch.set_num_threads (default: as set)",
    )
    parser.add_argument("--json", default=None, help="write the timings and environment here")
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    N, T, D, H = args.N, args.T, args.D, args.H
    r = np.random.default_rng(args.seed)
    f32 = np.float32
    x = r.standard_normal((N, T, D)).astype(f32)
    h0 = (0.5 * r.standard_normal((N, H))).astype(f32)
    Wx = (r.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(f32)
    Wh = (r.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(f32)
    b = (0.1 * r.standard_normal(4 * H)).astype(f32)
    dout = r.standard_normal((N, T, H)).astype(f32)

    lstm = torch.nn.LSTM(D, H, batch_first=True)
    p = _perm(H)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wx[:, p].T)))
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wh[:, p].T)))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[p]))
        lstm.bias_hh_l0.zero_()
    tx = torch.from_numpy(x).requires_grad_()
    th0 = torch.from_numpy(h0[None].copy()).requires_grad_()
    tc0 = torch.zeros_like(th0)
    tdout = torch.from_numpy(dout)

    def run_numpy():
        h, cache = lstm_forward(x, h0, Wx, Wh, b)
        return h, lstm_backward(dout, cache)

    def run_torch():
        lstm.zero_grad(set_to_none=True)
        tx.grad = th0.grad = None
        out, _ = lstm(tx, (th0, tc0))
        out.backward(tdout)
        return out

    # same results first (float32: compare to 1e-4 of scale)
    h, (dx, dh0, dWx, dWh, db) = run_numpy()
    out = run_torch()
    checks = {
        "h": (h, out.detach().numpy()),
        "dx": (dx, tx.grad.numpy()),
        "dh0": (dh0, th0.grad.numpy()[0]),
        "dWx": (dWx, lstm.weight_ih_l0.grad.numpy().T[:, np.argsort(p)]),
        "dWh": (dWh, lstm.weight_hh_l0.grad.numpy().T[:, np.argsort(p)]),
        "db": (db, lstm.bias_ih_l0.grad.numpy()[np.argsort(p)]),
    }
    worst = {
        k: float(np.abs(a - t).max() / max(1.0, np.abs(t).max())) for k, (a, t) in checks.items()
    }
    if max(worst.values()) > 1e-4:
        raise SystemExit(f"NumPy and torch disagree: {worst}")

    rows = []
    for i in range(args.repeats):
        order = [("numpy", run_numpy), ("torch", run_torch)]
        if i % 2:
            order.reverse()
        timings = {name: timed(fn) for name, fn in order}
        rows.append({k: {kk: v[kk] for kk in ("seconds", "load_before", "load_after")}
                     for k, v in timings.items()})  # fmt: skip
    t_np = [row["numpy"]["seconds"] for row in rows]
    t_torch = [row["torch"]["seconds"] for row in rows]
    summary = ratio_summary(t_torch, t_np)

    print(f"lstm_forward + lstm_backward, N={N} T={T} D={D} H={H} float32, {args.repeats} "
          f"interleaved repeats (first engine alternates)\n")  # fmt: skip
    print(
        "| repeat | numpy ms | torch ms | numpy speed / torch | load 1-min before (numpy; torch) |"
    )
    print("|---:|---:|---:|---:|---|")
    for i, row in enumerate(rows):
        a, t = row["numpy"]["seconds"], row["torch"]["seconds"]
        print(
            f"| {i + 1} | {1e3 * a:.1f} | {1e3 * t:.1f} | {t / a:.2f}x | "
            f"{fmt_load(row['numpy']['load_before'])}; {fmt_load(row['torch']['load_before'])} |"
        )
    print(
        f"\nnumpy speed / torch speed (torch s / numpy s): median {summary['median']:.2f}x "
        f"(min {summary['min']:.2f}x, max {summary['max']:.2f}x); median ms numpy "
        f"{1e3 * statistics.median(t_np):.1f}, torch {1e3 * statistics.median(t_torch):.1f}"
    )
    print(f"max relative difference of outputs and gradients (float32): {max(worst.values()):.1e}")
    env = environment()
    print(env_line(env))
    if args.json:
        write_json(args.json, {"rows": rows, "summary": summary, "checks": worst, "env": env,
                               "shape": {"N": N, "T": T, "D": D, "H": H}})  # fmt: skip
    return summary


if __name__ == "__main__":
    main()
