"""Weight initialisation: Gaussian with a fixed scale, He (Kaiming) or Xavier (Glorot)."""

from __future__ import annotations

import numpy as np

INITS = (None, "gaussian", "he", "xavier")


def init_std(fan_in, fan_out, weight_scale=1e-2, init=None):
    """Standard deviation of the initial weights.

    Args:
        fan_in: inputs per unit (for a conv, C * HH * WW).
        fan_out: outputs per input (for a conv, F * HH * WW).
        weight_scale: the std when init is None or 'gaussian'.
        init: None/'gaussian', 'he' (sqrt(2 / fan_in), for ReLU nets) or
            'xavier' (sqrt(2 / (fan_in + fan_out))).
    """
    if init in (None, "gaussian"):
        return weight_scale
    if init == "he":
        return float(np.sqrt(2.0 / fan_in))
    if init == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def init_weight(rng, shape, fan_in, fan_out, weight_scale=1e-2, init=None, dtype=np.float32):
    """Draws a weight array of ``shape`` from N(0, init_std(...)^2) with the given generator."""
    std = init_std(fan_in, fan_out, weight_scale, init)
    return (std * rng.standard_normal(shape)).astype(dtype)
