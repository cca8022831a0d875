"""The parity table: each row of the gradient-check table (``LAYER_CASES``) against its torch
twin in ``torchkit.functional``, outputs and every gradient, in float64.

A row's twin is found in ``CASE_TWINS`` (for rows whose forward fixes extra arguments) or, when
the row's forward is the public ``<name>_forward`` (or the loss ``<name>``), as
``functional.<name>``. A row with neither has no twin, and ``twin_for`` says so.
"""

from __future__ import annotations

import numpy as np
import torch

from visionblocks.gradcheck import analytic_grads
from visionblocks.torchkit import functional as TF
from visionblocks.torchkit.bridge import case_inputs


def _bn(fn):
    return lambda x, g, b: fn(x, g, b, {"mode": "train"})


def _norm_relu(norm):
    return lambda x, w, b, g, be: TF.affine_norm_relu(x, w, b, g, be, {}, norm)


#: row name -> twin taking the row's arguments (as tensors where the row has float arrays).
CASE_TWINS = {
    "leaky_relu": lambda x: TF.leaky_relu(x, 0.1),
    "batchnorm": _bn(TF.batchnorm),
    "batchnorm_alt": _bn(TF.batchnorm),
    "layernorm": lambda x, g, b: TF.layernorm(x, g, b, {}),
    "affine_batchnorm_relu": _norm_relu("batchnorm"),
    "affine_layernorm_relu": _norm_relu("layernorm"),
}


def twin_for(case):
    """The torch twin of a gradient-check row.

    Raises:
        KeyError: the row has no twin (add one to ``CASE_TWINS`` or ``functional``).
    """
    if case.name in CASE_TWINS:
        return CASE_TWINS[case.name]
    fname = getattr(case.forward, "__name__", "")
    if fname in (f"{case.name}_forward", case.name) and hasattr(TF, case.name):
        return getattr(TF, case.name)
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
