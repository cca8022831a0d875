"""Learning-rate schedules as pure functions of the step: ``schedule(step) -> learning rate``."""

from __future__ import annotations

import math


def step_decay(base_lr, step_size, gamma=0.1):
    """lr = base_lr * gamma ** (step // step_size)."""
    if step_size <= 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    return lambda step: base_lr * gamma ** (step // step_size)


def exponential_decay(base_lr, gamma):
    """lr = base_lr * gamma ** step (the classic per-epoch ``lr_decay``)."""
    return lambda step: base_lr * gamma**step


def cosine_decay(base_lr, total_steps, min_lr=0.0):
    """Cosine annealing from base_lr at step 0 to min_lr at total_steps (and after)."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")

    def schedule(step):
        t = min(step, total_steps) / total_steps
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * t))

    return schedule


def linear_warmup(schedule, warmup_steps, start_factor=0.0):
    """Warm-up: ramps linearly from ``start_factor * schedule(warmup_steps)`` at step 0 up to
    ``schedule(warmup_steps)`` at step ``warmup_steps``, then follows ``schedule``.

    The ramp aims at the value the schedule has where the warm-up ends (not at schedule(0)), so
    the curve is continuous there; with the default start_factor 0 it starts from 0.
    """
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")

    def warmed(step):
        if step >= warmup_steps:
            return schedule(step)
        frac = start_factor + (1 - start_factor) * step / warmup_steps
        return frac * schedule(warmup_steps)

    return warmed


def one_cycle(base_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """The one-cycle policy, step for step the curve of ``torch.optim.lr_scheduler.OneCycleLR``
    (its defaults: cosine annealing, two phases, no momentum cycling).

    The rate rises from ``base_lr / div_factor`` at step 0 to ``base_lr`` at step
    ``pct_start * total_steps - 1``, then falls to ``base_lr / (div_factor *
    final_div_factor)`` at the last step, ``total_steps - 1``, and stays there after it.

    Args:
        base_lr: the peak learning rate (OneCycleLR's ``max_lr``).
        total_steps: optimiser steps in the whole run.
        pct_start: fraction of the steps spent rising, in [0, 1].
        div_factor: base_lr / initial rate.
        final_div_factor: initial rate / final rate.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0.0 <= pct_start <= 1.0:
        raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
    start = base_lr / div_factor
    end = start / final_div_factor
    peak_step = float(pct_start * total_steps) - 1  # OneCycleLR's end of the rising phase
    last_step = total_steps - 1

    def cos(a, b, pct):
        return b + 0.5 * (a - b) * (1 + math.cos(math.pi * pct))

    def frac(step, lo, hi):
        return 1.0 if hi <= lo else min(1.0, (step - lo) / (hi - lo))

    def schedule(step):
        if step <= peak_step:
            return cos(start, base_lr, frac(step, 0.0, peak_step))
        return cos(base_lr, end, frac(step, peak_step, last_step))

    return schedule


def make_schedule(name, base_lr, total_steps, warmup_steps=0, **kwargs):
    """Builds a schedule by name: 'constant', 'step', 'exponential' or 'cosine', with warm-up.

    Args:
        name: schedule name.
        base_lr: peak learning rate.
        total_steps: the number of steps the schedule spans (cosine).
        warmup_steps: linear warm-up steps from 0 (none by default).
        **kwargs: step_size and gamma (step), gamma (exponential), min_lr (cosine).
    """
    if name == "constant":
        sched = lambda step: base_lr  # noqa: E731
    elif name == "step":
        sched = step_decay(
            base_lr, kwargs.get("step_size", max(1, total_steps // 3)), kwargs.get("gamma", 0.1)
        )
    elif name == "exponential":
        sched = exponential_decay(base_lr, kwargs.get("gamma", 0.95))
    elif name == "cosine":
        sched = cosine_decay(base_lr, total_steps, kwargs.get("min_lr", 0.0))
    else:
        raise ValueError(f"unknown schedule {name!r}; choose constant, step, exponential, cosine")
    return linear_warmup(sched, warmup_steps) if warmup_steps else sched
