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
    """Ramps linearly from start_factor * schedule(0) to schedule(warmup_steps), then follows it."""
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")

    def warmed(step):
        if step >= warmup_steps:
            return schedule(step)
        frac = start_factor + (1 - start_factor) * step / warmup_steps
        return frac * schedule(warmup_steps)

    return warmed


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
