"""The table-driven layer checker: each registry entry's backward against central differences."""

from __future__ import annotations

import numpy as np

from visionblocks.gradcheck.numeric import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from visionblocks.layers.registry import LayerEntry, all_layers

#: A row of the gradient-check table is a layer registry entry.
LayerCase = LayerEntry


def analytic_grads(case: LayerEntry, args: tuple, dout=None):
    """Runs the case's forward and backward; returns (out, dout, {name: grad})."""
    if case.is_loss:
        loss, dx = case.forward(*args)
        return loss, None, {case.wrt[0]: dx}
    out, cache = case.forward(*args)
    if dout is None:
        dout = np.random.default_rng(1).standard_normal(out.shape)
    grads = case.backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(case.wrt):
        raise ValueError(f"{case.name}: backward returned {len(grads)} grads, wrt has {case.wrt}")
    return out, dout, dict(zip(case.wrt, grads))


def check_layer(case: LayerEntry, seed: int = 0, h: float = 1e-5) -> dict[str, float]:
    """Checks a case's backward against central differences in float64.

    Returns:
        errors: {argument name: relative error} for every argument in ``case.wrt``.
    """
    args = case.make_args(np.random.default_rng(seed))
    _, dout, grads = analytic_grads(case, args)
    errors = {}
    for name in case.wrt:
        i = case.arg_names.index(name)

        def f(v, i=i):
            new_args = list(args)
            new_args[i] = v
            return case.forward(*new_args)[0]

        x = args[i]
        if case.is_loss:
            numeric = eval_numerical_gradient(f, x, verbose=False, h=h)
        else:
            numeric = eval_numerical_gradient_array(f, x, dout, h=h)
        if name in case.zero_grads:
            errors[name] = float(max(np.abs(numeric).max(), np.abs(grads[name]).max()))
        else:
            errors[name] = rel_error(numeric, grads[name])
    return errors


def run_table(cases=None, seed: int = 0) -> list[tuple[str, str, float, float, bool]]:
    """Checks every case (default: every registered layer); returns rows (layer, argument,
    error, bound, passed)."""
    if cases is None:
        cases = all_layers()
    rows = []
    for case in cases:
        for name, err in check_layer(case, seed=seed).items():
            tol = case.tol_for(name)
            rows.append((case.name, name, err, tol, err < tol))
    return rows


def format_table(rows) -> str:
    """Formats ``run_table`` rows as an aligned text table."""
    lines = [f"{'layer':<24} {'arg':<7} {'rel. error':>11} {'bound':>8}  result"]
    for layer, arg, err, tol, ok in rows:
        lines.append(f"{layer:<24} {arg:<7} {err:>11.2e} {tol:>8.0e}  {'ok' if ok else 'FAIL'}")
    return "\n".join(lines)
