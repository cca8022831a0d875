"""The parity tables, generated from the layer registry: each entry's NumPy pair against its
torch twin, and against an independent torch reference, outputs and every gradient, in float64.

An entry's twin is ``entry.twin(T)`` (``T`` the namespace of ``torchkit.functional``); its
reference is ``entry.reference(T)``, or the twin itself when the twin is torch's own function.
An entry whose twin is our own code needs a reference, or a ``no_reference`` reason.
"""

from __future__ import annotations

import numpy as np
import torch

from visionblocks.gradcheck import analytic_grads
from visionblocks.torchkit.bridge import case_inputs
from visionblocks.torchkit.functional import T


def is_ours(fn) -> bool:
    """Whether a torch callable is visionblocks code (so it cannot be its own reference)."""
    return (getattr(fn, "__module__", None) or "").startswith("visionblocks")


def twin_for(entry):
    """The torch twin of a registry entry.

    Raises:
        KeyError: the entry has no twin (give its registry entry ``twin=``).
    """
    if entry.twin is None:
        raise KeyError(f"layer {entry.name!r} has no torch twin: give its registry entry twin=...")
    return entry.twin(T)


def reference_for(entry):
    """The independent torch reference of a registry entry.

    Raises:
        KeyError: the twin is our own code and the entry gives neither a ``reference`` nor a
            ``no_reference`` reason; or (with the reason) there is no reference to give.
    """
    if entry.reference is not None:
        return entry.reference(T)
    if entry.no_reference:
        raise KeyError(f"layer {entry.name!r} has no torch reference: {entry.no_reference}")
    twin = twin_for(entry)
    if is_ours(twin):
        raise KeyError(
            f"layer {entry.name!r}: its twin is our own code, so its registry entry needs an "
            "independent reference=... (or a no_reference reason)"
        )
    return twin


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def compare(entry, fn, seed: int = 0) -> dict[str, float]:
    """Runs an entry in NumPy and through the torch function ``fn`` in float64 and compares.

    Returns:
        {'out': max relative error of the outputs, <arg>: of each gradient in ``entry.wrt``};
        relative errors use ``|a - b| / max(1, |a|, |b|)`` element-wise.
    """
    args = entry.make_args(np.random.default_rng(seed))
    out, dout, grads = analytic_grads(entry, args)
    targs = case_inputs(entry, entry.make_args(np.random.default_rng(seed)))
    ref = fn(*targs)
    if entry.is_loss:
        ref.backward()
    else:
        ref.backward(torch.from_numpy(np.asarray(dout)))
    errors = {"out": _rel(out, ref.detach().numpy())}
    for name in entry.wrt:
        t = targs[entry.arg_names.index(name)]
        tgrad = t.grad.numpy() if t.grad is not None else np.zeros(tuple(t.shape))
        errors[name] = _rel(grads[name], tgrad)
    return errors


def parity_errors(entry, seed: int = 0) -> dict[str, float]:
    """NumPy pair vs torch twin (``compare`` with ``twin_for(entry)``)."""
    return compare(entry, twin_for(entry), seed)


def reference_errors(entry, seed: int = 0) -> dict[str, float]:
    """NumPy pair vs independent torch reference (``compare`` with ``reference_for(entry)``)."""
    return compare(entry, reference_for(entry), seed)


#: Bound of the float64 agreement with torch (outputs and gradients).
PARITY_TOL = 1e-9


def parity_table(entries, seed: int = 0) -> list[tuple[str, float, float | None, bool]]:
    """Rows (layer, max error vs the twin, max error vs the reference or None, passed)."""
    rows = []
    for entry in entries:
        twin = max(parity_errors(entry, seed).values())
        ref = None if entry.no_reference else max(reference_errors(entry, seed).values())
        ok = twin < PARITY_TOL and (ref is None or ref < PARITY_TOL)
        rows.append((entry.name, twin, ref, ok))
    return rows


def format_parity_table(rows) -> str:
    """Formats ``parity_table`` rows as an aligned text table."""
    lines = [f"{'layer':<24} {'vs twin':>9} {'vs torch ref':>12} {'bound':>7}  result"]
    for name, twin, ref, ok in rows:
        ref_text = "   (random)" if ref is None else f"{ref:>12.1e}"
        lines.append(f"{name:<24} {twin:>9.1e} {ref_text:>12} {PARITY_TOL:>7.0e}  "
                     f"{'ok' if ok else 'FAIL'}")  # fmt: skip
    return "\n".join(lines)
