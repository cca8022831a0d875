"""Does ``torch.compile`` speed up the challenge ConvNet's training step on this CPU?

Times eager, compiled, then eager again (to see drift of the machine) Adam steps of the torch
ConvNet twin (32/64 filters, FC 256, channels-last, batch 64) on random 28x28 inputs.

    flock /tmp/visionblocks-cpu.lock .venv/bin/python benchmarks/bench_compile.py
"""

from __future__ import annotations

import time

import torch

from visionblocks.torchkit import models_cnn as tc


def images_per_second(model, steps=40, batch=64):
    """(training images/s over ``steps`` Adam steps, seconds of the 3 warm-up steps)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    start = time.perf_counter()
    for _ in range(3):
        step()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start), warm


def main():
    torch.set_num_threads(2)
    model = tc.ConvNet((1, 28, 28), (32, 64), 2, (256,), 10, dropout_keep=0.5, seed=0)
    model = model.to(memory_format=torch.channels_last)
    print("| mode | images/s | warm-up (s) |\n|---|---:|---:|")
    for label, m in (("eager", model), ("torch.compile", torch.compile(model)),
                     ("eager again", model)):  # fmt: skip
        ips, warm = images_per_second(m)
        print(f"| {label} | {ips:.0f} | {warm:.1f} |", flush=True)


if __name__ == "__main__":
    main()
