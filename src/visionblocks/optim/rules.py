"""First-order update rules ``update(w, dw, config) -> (next_w, config)`` with state in config.

Each rule fills its defaults into ``config`` on first use and keeps its per-parameter state
(velocity, caches, moments, step count) there, so one config dict belongs to one parameter.
"""

from __future__ import annotations

import numpy as np


def _config(config, **defaults):
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    if config["learning_rate"] < 0:
        raise ValueError(f"learning_rate must be >= 0, got {config['learning_rate']}")
    return config


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w -= learning_rate * dw.

    config: learning_rate (default 1e-2).
    """
    config = _config(config, learning_rate=1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * dw; w += v.

    config: learning_rate (1e-2), momentum (0.9), velocity (state, zeros like w).
    """
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config.get("velocity")
    v = np.zeros_like(w) if v is None else v
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov(w, dw, config=None):
    """Nesterov momentum in the look-ahead-free form used by CS231n and PyTorch.

    v_new = momentum * v - learning_rate * dw; w += -momentum * v + (1 + momentum) * v_new.
    config: learning_rate (1e-2), momentum (0.9), velocity (state).
    """
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config.get("velocity")
    v = np.zeros_like(w) if v is None else v
    mu = config["momentum"]
    v_new = mu * v - config["learning_rate"] * dw
    config["velocity"] = v_new
    return w - mu * v + (1 + mu) * v_new, config


def adagrad(w, dw, config=None):
    """Adagrad: cache += dw^2; w -= learning_rate * dw / (sqrt(cache) + epsilon).

    config: learning_rate (1e-2), epsilon (1e-8), cache (state).
    """
    config = _config(config, learning_rate=1e-2, epsilon=1e-8)
    cache = config.get("cache")
    cache = (np.zeros_like(w) if cache is None else cache) + dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def rmsprop(w, dw, config=None):
    """RMSProp: a leaky average of squared gradients scales each step.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8), cache (state).
    """
    config = _config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config.get("cache")
    cache = np.zeros_like(w) if cache is None else cache
    d = config["decay_rate"]
    cache = d * cache + (1 - d) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w, dw, config=None):
    """Adam with bias correction; the step count t is incremented before it is used.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
        m, v (state, zeros like w), t (state, 0).
    """
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    m = config.get("m")
    v = config.get("v")
    m = np.zeros_like(w) if m is None else m
    v = np.zeros_like(w) if v is None else v
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw * dw
    config["m"], config["v"] = m, v
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


def get_update_rule(name_or_fn):
    """Returns the rule named ``name_or_fn`` (or the callable itself)."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in UPDATE_RULES:
        raise ValueError(f"unknown update rule {name_or_fn!r}; choose from {sorted(UPDATE_RULES)}")
    return UPDATE_RULES[name_or_fn]
