"""Speed of the NumPy multi-head attention against PyTorch CPU, and of greedy decoding with and
without the key/value cache.

1. Multi-head self-attention forward + backward (N=64, T=32, E=128, 4 heads, float32): the
   NumPy pair (``multihead_attention_forward`` / ``_backward``) against
   ``torch.nn.MultiheadAttention`` with autograd, and against our torch twin
   (``torchkit.functional_attention.multihead_attention``), the engines taking turns repeat
   by repeat; the figure is the median of the paired ratios torch time / NumPy time (above 1:
   NumPy faster; the issue's goal is >= 0.7).
2. Greedy decoding of 30 tokens with the course's ``CaptioningTransformer`` (W=256, 4 heads,
   2 layers, FFN 2048, 1004 words, 512-d features, batch 50, eval mode), with and without the
   cache, taking turns; the captions must be identical.

    flock /tmp/visionblocks-cpu.lock env PYTHONPATH=src .venv/bin/python \
        benchmarks/bench_attention.py --json runs/bench_attention.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from fairness import env_line, environment, fmt_load, loadavg, ratio_summary  # noqa: E402

from visionblocks.layers import multihead_attention_backward, multihead_attention_forward  # noqa: E402


def _clock(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_mha(torch, repeats, n=64, t=32, e=128, h=4):
    """Paired timings (s) of one forward + backward in each engine, interleaved."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, e), dtype=np.float32)
    w = [(rng.standard_normal((e, e)) / np.sqrt(e)).astype(np.float32) if i % 2 == 0
         else np.zeros(e, np.float32) for i in range(8)]  # fmt: skip
    dout = rng.standard_normal((n, t, e), dtype=np.float32)
    param = {"num_heads": h}

    def numpy_fb():
        out, cache = multihead_attention_forward(x, x, x, *w, param)
        dq, dk, dv, *_ = multihead_attention_backward(dout, cache)
        return dq + dk + dv  # the self-attention input's gradient

    mha = torch.nn.MultiheadAttention(e, h, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w[0].T, w[2].T, w[4].T])))
        mha.out_proj.weight.copy_(torch.from_numpy(w[6].T))
        mha.in_proj_bias.zero_()
        mha.out_proj.bias.zero_()
    tx = torch.from_numpy(x).requires_grad_()
    tdout = torch.from_numpy(dout)

    def torch_fb():
        tx.grad = None
        mha.zero_grad()
        mha(tx, tx, tx, need_weights=False)[0].backward(tdout)
        return tx.grad

    from visionblocks.torchkit.functional_attention import multihead_attention

    tw = [torch.from_numpy(a).requires_grad_() for a in w]

    def twin_fb():
        tx.grad = None
        for a in tw:
            a.grad = None
        multihead_attention(tx, tx, tx, *tw, param).backward(tdout)
        return tx.grad

    # the engines agree before they are timed (float32)
    ours, ref, twin = numpy_fb(), torch_fb().numpy().copy(), twin_fb().numpy().copy()
    agree = float(max(np.abs(ours - ref).max(), np.abs(ours - twin).max()))
    times = {"numpy": [], "torch_mha": [], "torch_twin": []}
    fns = {"numpy": numpy_fb, "torch_mha": torch_fb, "torch_twin": twin_fb}
    for fn in fns.values():  # warm-up
        fn()
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for name in order:
            times[name].append(_clock(fns[name]))
    return times, agree


def bench_decoding(torch, repeats, batch=50, length=30):
    """Paired timings (s) of greedy decoding without and with the cache, and the equality."""
    from visionblocks.captioning.transformer import CaptioningTransformer

    torch.manual_seed(0)
    words = {"<NULL>": 0, "<START>": 1, "<END>": 2, **{f"w{i}": i + 3 for i in range(1001)}}
    model = CaptioningTransformer(words, 512, 256, num_heads=4, num_layers=2, max_length=50)
    with torch.no_grad():  # varied weights, so the captions are not one repeated token
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    features = np.random.default_rng(0).standard_normal((batch, 512)).astype(np.float32)
    out = {}

    def run(use_cache):
        out[use_cache] = model.sample(features, max_length=length, use_cache=use_cache)

    run(False)
    run(True)
    same = bool(np.array_equal(out[False], out[True]))
    distinct = int(len(np.unique(out[False])))
    times = {"no_cache": [], "cache": []}
    for r in range(repeats):
        for use_cache in (False, True) if r % 2 == 0 else (True, False):
            seconds = _clock(lambda c=use_cache: run(c))
            times["cache" if use_cache else "no_cache"].append(seconds)
            same = same and bool(np.array_equal(out[False], out[True]))
    return times, same, distinct


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="paired repeats of section 1")
    parser.add_argument("--decode-repeats", type=int, default=5, help="paired repeats of 2")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, help="write the raw timings here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    record = {"environment": environment(), "load_start": loadavg()}
    start = time.perf_counter()

    times, agree = bench_mha(torch, args.repeats)
    ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    mha_ratio = ratio_summary(times["torch_mha"], times["numpy"])
    twin_ratio = ratio_summary(times["torch_twin"], times["numpy"])
    record["mha"] = {"times_s": times, "max_abs_diff": agree, "vs_nn_mha": mha_ratio,
                     "vs_twin": twin_ratio, "load_after": loadavg()}  # fmt: skip
    print("## Multi-head self-attention, forward + backward, N=64 T=32 E=128 H=4 float32")
    print(f"{args.repeats} interleaved repeats; NumPy vs torch gradients agree to {agree:.1e}\n")
    print("| engine | median ms | torch / NumPy (median, min-max) |")
    print("|---|---:|---:|")
    print(f"| NumPy pair | {ms['numpy']:.2f} | - |")
    rows = (("torch_mha", "torch nn.MultiheadAttention", mha_ratio),
            ("torch_twin", "torch twin (functional_attention)", twin_ratio))  # fmt: skip
    for name, label, ratio in rows:
        print(f"| {label} | {ms[name]:.2f} | {ratio['median']:.2f}x "
              f"({ratio['min']:.2f}-{ratio['max']:.2f}) |")  # fmt: skip

    times, same, distinct = bench_decoding(torch, args.decode_repeats)
    dec = ratio_summary(times["no_cache"], times["cache"])
    record["decoding"] = {"times_s": times, "same_captions": same, "distinct_tokens": distinct,
                          "speedup": dec, "load_after": loadavg()}  # fmt: skip
    print("\n## Greedy decoding, 30 tokens, batch 50, CaptioningTransformer W=256 H=4 L=2")
    print(f"{args.decode_repeats} interleaved repeats; identical captions: {same} "
          f"({distinct} distinct tokens)\n")  # fmt: skip
    print("| decoding | median s | speed-up (median, min-max) |")
    print("|---|---:|---:|")
    print(f"| whole prefix every step | {np.median(times['no_cache']):.3f} | - |")
    print(f"| key/value cache | {np.median(times['cache']):.3f} | {dec['median']:.2f}x "
          f"({dec['min']:.2f}-{dec['max']:.2f}) |")  # fmt: skip
    wall = time.perf_counter() - start
    record["wall_s"] = wall
    print(f"\nwall {wall:.1f} s; load 1-min {fmt_load(record['load_start'])} -> "
          f"{fmt_load(loadavg())}; torch threads {args.threads}")  # fmt: skip
    print(env_line(environment()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
