"""The parity table: each row of the gradient-check table (``LAYER_CASES``) against its torch
twin in ``torchkit.functional``, outputs and every gradient, in float64.

A row's twin is found in ``CASE_TWINS`` (for rows whose forward fixes extra arguments) or, when
the row's forward is a public ``<base>_forward[_variant]`` (or the loss ``<name>``), as
``functional.<base>``. A row with neither has no twin, and ``twin_for`` says so.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from visionblocks.gradcheck import analytic_grads
from visionblocks.torchkit import functional as TF
from visionblocks.torchkit.bridge import case_inputs


def _bn(fn):
    return lambda x, g, b: fn(x, g, b, {"mode": "train"})


def _norm_relu(norm):
    return lambda x, w, b, g, be: TF.affine_norm_relu(x, w, b, g, be, {}, norm)


_POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _residual(stride):
    return lambda *a: TF.residual_block(*a[:9], {"stride": stride}, *a[9:])


#: row name -> twin taking the row's arguments (as tensors where the row has float arrays).
CASE_TWINS = {
    "leaky_relu": lambda x: TF.leaky_relu(x, 0.1),
    "batchnorm": _bn(TF.batchnorm),
    "batchnorm_alt": _bn(TF.batchnorm),
    "layernorm": lambda x, g, b: TF.layernorm(x, g, b, {}),
    "affine_batchnorm_relu": _norm_relu("batchnorm"),
    "affine_layernorm_relu": _norm_relu("layernorm"),
    # convolutional rows (gradcheck_cases_conv)
    "conv_relu_pool": lambda x, w, b, cp: TF.conv_relu_pool(x, w, b, cp, dict(_POOL_2x2)),
    "spatial_batchnorm": _bn(TF.spatial_batchnorm),
    "spatial_groupnorm": lambda x, g, b: TF.spatial_groupnorm(x, g, b, 2, {}),
    "conv_bn_relu": lambda x, w, b, g, be: TF.conv_bn_relu(x, w, b, g, be, {"pad": 1}, {}),
    "conv_groupnorm_relu": lambda x, w, b, g, be: TF.conv_norm_relu(
        x, w, b, g, be, {"pad": 1}, {"G": 2}, "groupnorm"
    ),
    "residual_block": _residual(1),
    "residual_block_proj": _residual(2),
}
_FORWARD_NAME = re.compile(r"^(?P<base>\w+?)_forward(_\w+)?$")


def twin_for(case):
    """The torch twin of a gradient-check row.

    Raises:
        KeyError: the row has no twin (add one to ``CASE_TWINS`` or ``functional``).
    """
    if case.name in CASE_TWINS:
        return CASE_TWINS[case.name]
    fname = getattr(case.forward, "__name__", "")
    match = _FORWARD_NAME.match(fname)  # conv_forward_fast -> conv, avg_pool_forward -> avg_pool
    base = match.group("base") if match else fname
    if base in (case.name, case.name.rsplit("_", 1)[0]) or match:
        if hasattr(TF, base):
            return getattr(TF, base)
    raise KeyError(
        f"gradient-check row {case.name!r} has no torch twin: add it to "
        "visionblocks.torchkit.parity.CASE_TWINS (or functional)"
    )


def parity_errors(case, seed: int = 0) -> dict[str, float]:
    """Runs a row in NumPy and through its twin in float64 and compares.

    Returns:
        {'out': max relative error of the outputs, <arg>: of each gradient in ``case.wrt``};
        relative errors use ``|a - b| / max(1, |a|, |b|)`` element-wise.
    """
    args = case.make_args(np.random.default_rng(seed))
    out, dout, grads = analytic_grads(case, args)
    targs = case_inputs(case, args)
    ref = twin_for(case)(*targs)
    if case.is_loss:
        ref.backward()
    else:
        ref.backward(torch.from_numpy(np.asarray(dout)))

    def err(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf")
        scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
        return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0

    errors = {"out": err(out, ref.detach().numpy())}
    for name in case.wrt:
        t = targs[case.arg_names.index(name)]
        tgrad = t.grad.numpy() if t.grad is not None else np.zeros(tuple(t.shape))
        errors[name] = err(grads[name], tgrad)
    return errors
