"""Optimizers by the NumPy engine's names (plus adamw) and per-step learning-rate schedules."""

from __future__ import annotations

import torch

from visionblocks.errors import ConfigError
from visionblocks.optim import make_schedule, one_cycle

#: update_rule names the torch engine understands (the NumPy engine's, plus adamw).
OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")


def check_optimizer(name: str) -> None:
    """Raises ConfigError unless ``name`` is in ``OPTIMIZERS``."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown update rule {name!r} for the torch engine; "
                          f"choose from {list(OPTIMIZERS)}")  # fmt: skip


def make_optimizer(name, params, lr, momentum=None, weight_decay=0.0):
    """A torch optimizer by name.

    Args:
        name: one of ``OPTIMIZERS``; sgd_momentum and nesterov default to momentum 0.9.
        params: the parameters (or parameter groups) to optimise.
        lr: learning rate (>= 0).
        momentum: momentum of sgd_momentum / nesterov.
        weight_decay: L2 added to the gradient (decoupled for adamw).

    Returns:
        torch.optim.Optimizer.
    """
    check_optimizer(name)
    if lr < 0 or weight_decay < 0:
        raise ConfigError(f"lr and weight_decay must be >= 0, got {lr} and {weight_decay}")
    mu = 0.9 if momentum is None else momentum
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("sgd_momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=mu, nesterov=name == "nesterov", weight_decay=weight_decay
        )
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, eps=1e-8)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def make_lr_schedule(name, base_lr, total_steps, warmup_steps=0, lr_decay=1.0, steps_per_epoch=1):
    """``schedule(step) -> lr`` for the Trainer.

    Args:
        name: None (the classic per-epoch ``lr_decay``), or one of ``SCHEDULES``.
        base_lr: peak learning rate.
        total_steps: training steps in the whole run.
        warmup_steps: linear warm-up from 0 (not for onecycle, which warms up itself).
        lr_decay: per-epoch factor when name is None.
        steps_per_epoch: steps in an epoch (for lr_decay).
    """
    if name is None:
        return lambda step: base_lr * lr_decay ** (step // steps_per_epoch)
    if name == "onecycle":
        return one_cycle(base_lr, total_steps)
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; choose from {list(SCHEDULES)}")
    return make_schedule(name, base_lr, max(total_steps, 1), warmup_steps=warmup_steps)
