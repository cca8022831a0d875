"""Numerical gradients by central differences, rel_error, and the table-driven layer checker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Relative-error bound for smooth layers in float64.
TOL = 1e-7
#: Documented looser bound for layers with kinks (relu, max, hinge): a random input can fall
#: within h of a kink, where central differences straddle two linear pieces.
KINK_TOL = 1e-5
#: Absolute bound for gradients that are zero in theory (a bias just before a normalisation):
#: a relative error of two numbers that are both ~0 measures only rounding noise.
ZERO_TOL = 1e-8


def rel_error(x, y):
    """Maximum element-wise relative error max(|x - y| / max(1e-8, |x| + |y|))."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _central_difference(f, x, ix, h):
    """(f(x + h e_ix) - f(x - h e_ix)) / 2h, perturbing x[ix] in place and restoring it."""
    old = x[ix]
    x[ix] = old + h
    pos = np.array(f(x), copy=True)
    x[ix] = old - h
    neg = np.array(f(x), copy=True)
    x[ix] = old
    return pos, neg


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Central-difference gradient of a scalar ``f`` at ``x`` (modified in place, then restored).

    Args:
        f: function of one array returning a scalar.
        x: array at which to evaluate the gradient.
        verbose: print each coordinate's gradient.
        h: step size.

    Returns:
        grad: array of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _central_difference(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Central-difference gradient of sum(f(x) * df) for an array-valued ``f``.

    Args:
        f: function of one array returning an array.
        x: array at which to evaluate (modified in place, restored).
        df: upstream gradient, shape of f(x).
        h: step size.

    Returns:
        grad: array of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        pos, neg = _central_difference(f, x, it.multi_index, h)
        grad[it.multi_index] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=True):
    """Compares ``analytic_grad`` with central differences at ``num_checks`` random coordinates.

    Returns:
        errors: (num_checks,) relative errors, one per sampled coordinate.
    """
    rng = np.random.default_rng(seed)
    errors = np.empty(num_checks)
    for i in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        fxph, fxmh = _central_difference(f, x, ix, h)
        numeric = float(fxph - fxmh) / (2 * h)
        analytic = analytic_grad[ix]
        errors[i] = abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
        if verbose:
            print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {errors[i]:e}")
    return errors


@dataclass(frozen=True)
class LayerCase:
    """One row of the gradient-check table.

    Attributes:
        name: the layer's name (the prefix of its forward/backward pair).
        forward: ``forward(*args) -> (out, cache)``; for a loss, ``(loss, dx)``.
        backward: ``backward(dout, cache) -> grad or tuple of grads``; None for a loss.
        make_args: builds the positional arguments from a ``np.random.Generator`` (float64).
        arg_names: a name for each positional argument.
        wrt: names of the arguments whose gradients backward returns, in its order.
        kink: the layer has kinks, so ``KINK_TOL`` applies.
        zero_grads: arguments whose gradient is identically zero in theory; both the analytic
            and the numerical gradient must then be below ``ZERO_TOL`` in absolute value.
    """

    name: str
    forward: Callable
    backward: Callable | None
    make_args: Callable[[np.random.Generator], tuple]
    arg_names: tuple[str, ...]
    wrt: tuple[str, ...]
    kink: bool = False
    zero_grads: tuple[str, ...] = ()

    @property
    def is_loss(self) -> bool:
        return self.backward is None

    def tol_for(self, name: str) -> float:
        """The bound for argument ``name``'s error."""
        if name in self.zero_grads:
            return ZERO_TOL
        return KINK_TOL if self.kink else TOL


def analytic_grads(case: LayerCase, args: tuple, dout=None):
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


def check_layer(case: LayerCase, seed: int = 0, h: float = 1e-5) -> dict[str, float]:
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
    """Checks every case; returns rows (layer, argument, error, bound, passed)."""
    if cases is None:
        from visionblocks.gradcheck_cases import LAYER_CASES

        cases = LAYER_CASES
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
