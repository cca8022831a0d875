"""Bridges between the engines: NumPy layer pairs as autograd Functions, and model weights.

``numpy_function(forward, backward, wrt)`` wraps a NumPy forward/backward pair as a
``torch.autograd.Function``, so ``torch.autograd.gradcheck`` tests the hand-written backward
pass against torch's own finite differences; ``bridge_case`` does it for a row of the
gradient-check table. ``load_numpy_params`` copies a NumPy model's ``params`` (and buffers)
into its torch twin and ``numpy_params`` copies them back, in the NumPy layout (affine weights
(D, M), where torch's ``nn.Linear`` holds (M, D)).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from visionblocks.errors import ShapeError


@dataclass(frozen=True)
class PairSpec:
    """A NumPy pair for the bridge.

    Attributes:
        forward: ``forward(*args) -> (out, cache)``, or ``(loss, dx)`` for a loss.
        backward: ``backward(dout, cache) -> grads`` in the order of ``wrt``; None for a loss.
        wrt: positions of the arguments whose gradients backward returns.
    """

    forward: object
    backward: object
    wrt: tuple[int, ...]

    @property
    def is_loss(self) -> bool:
        return self.backward is None


def _to_numpy(a):
    if isinstance(a, torch.Tensor):
        return np.array(a.detach().cpu().numpy(), copy=True)  # a copy: torch may edit a later
    return a


class _NumpyPair(torch.autograd.Function):
    """Runs a NumPy forward in ``forward`` and its NumPy backward in ``backward``."""

    @staticmethod
    def forward(ctx, spec, *args):
        np_args = [_to_numpy(a) for a in args]
        out, cache = spec.forward(*np_args)
        ctx.spec, ctx.cache, ctx.nargs = spec, cache, len(args)
        ctx.like = next(a for a in args if isinstance(a, torch.Tensor))
        return torch.as_tensor(np.asarray(out), device=ctx.like.device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        spec = ctx.spec
        g = grad_out.detach().cpu().numpy()
        if spec.is_loss:
            grads = (ctx.cache * g,)  # the cache of a loss is dloss/dx
        else:
            grads = spec.backward(g, ctx.cache)
            grads = grads if isinstance(grads, tuple) else (grads,)
        result = [None] * (1 + ctx.nargs)
        for pos, grad in zip(spec.wrt, grads):
            result[1 + pos] = torch.as_tensor(np.ascontiguousarray(grad), device=ctx.like.device)
        return tuple(result)


def numpy_function(forward, backward, wrt):
    """Wraps a NumPy pair as a function of torch tensors that autograd can differentiate.

    Args:
        forward: the NumPy forward, ``(out, cache)`` or, for a loss, ``(loss, dx)``.
        backward: the NumPy backward, or None for a loss.
        wrt: positions of the arguments backward returns gradients for, in its order.

    Returns:
        ``f(*args) -> tensor``: tensors are passed to NumPy as float arrays (copies), other
        arguments unchanged; the output is a tensor of the NumPy output's dtype.
    """
    spec = PairSpec(forward, backward, tuple(wrt))

    def f(*args):
        return _NumpyPair.apply(spec, *args)

    f.spec = spec
    return f


def bridge_case(case):
    """The autograd-differentiable function of a ``LayerCase`` row (same arguments as the row)."""
    wrt = tuple(case.arg_names.index(name) for name in case.wrt)
    return numpy_function(case.forward, case.backward, wrt)


def case_inputs(case, args, dtype=torch.float64):
    """Converts a row's NumPy arguments: float arrays become tensors (requiring grad when in
    ``wrt``), integer arrays become tensors, param dicts are copied, the rest stays as it is."""
    out = []
    for name, a in zip(case.arg_names, args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(torch.tensor(a, dtype=dtype, requires_grad=name in case.wrt))
        elif isinstance(a, np.ndarray):
            out.append(torch.from_numpy(a))
        else:
            out.append(copy.deepcopy(a))  # a twin may write into a param dict
    return out


# ---------------------------------------------------------------------------- model weights
def _layout(module):
    if not hasattr(module, "numpy_layout"):
        raise TypeError(f"{type(module).__name__} is not a twin model (it has no numpy_layout)")
    return module.numpy_layout()


def load_numpy_params(module, params, buffers=None):
    """Copies a NumPy model's ``params`` (and ``buffers()``) into its torch twin, in place.

    Args:
        module: a twin from ``torchkit.models`` (it has ``numpy_layout``).
        params: NumPy name -> array, e.g. ``np_model.params``.
        buffers: NumPy name -> array, e.g. ``np_model.buffers()`` (running statistics).

    Returns:
        module.
    """
    params_layout, buffers_layout = _layout(module)
    missing = sorted(set(params_layout) - set(params))
    extra = sorted(set(params) - set(params_layout))
    if missing or extra:
        raise ShapeError(f"params do not fit {type(module).__name__}: missing {missing}, "
                         f"unexpected {extra}")  # fmt: skip
    state = module.state_dict()
    for arrays, layout in ((params, params_layout), (buffers or {}, buffers_layout)):
        for name, value in arrays.items():
            if name not in layout:
                raise ShapeError(f"{type(module).__name__} has no buffer for {name!r}")
            key, transposed = layout[name]
            value = np.asarray(value)
            value = value.T if transposed else value
            target = state[key]
            if tuple(value.shape) != tuple(target.shape):
                raise ShapeError(
                    f"{name} has shape {np.asarray(arrays[name]).shape}, the twin's {key} "
                    f"needs {tuple(target.shape)}{' transposed' if transposed else ''}"
                )
            with torch.no_grad():
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _export(module, layout, which):
    state = module.state_dict() if which == "state" else None
    named = dict(module.named_parameters())
    out = {}
    for name, (key, transposed) in layout.items():
        if which == "grad":
            g = named[key].grad
            t = torch.zeros_like(named[key]) if g is None else g
        else:
            t = state[key]
        a = t.detach().cpu().float().numpy() if t.dtype == torch.bfloat16 else t.detach().cpu()
        a = np.asarray(a)
        out[name] = np.ascontiguousarray(a.T if transposed else a)
    return out


def numpy_params(module) -> dict[str, np.ndarray]:
    """The twin's parameters as a NumPy ``params`` dict (names and layout of the NumPy model)."""
    return _export(module, _layout(module)[0], "state")


def numpy_buffers(module) -> dict[str, np.ndarray]:
    """The twin's running statistics under the NumPy model's buffer names."""
    return _export(module, _layout(module)[1], "state")


def numpy_grads(module) -> dict[str, np.ndarray]:
    """The gradients autograd left on the twin's parameters, keyed like the NumPy ``grads``."""
    return _export(module, _layout(module)[0], "grad")


def load_into_numpy(module, np_model):
    """Copies the twin's weights and running statistics into the NumPy model, in place."""
    params = numpy_params(module)
    for k, v in params.items():
        if k not in np_model.params or np_model.params[k].shape != v.shape:
            raise ShapeError(f"{k} of shape {v.shape} does not fit the NumPy model")
        params[k] = v.astype(np_model.params[k].dtype)
    np_model.params = params
    np_model.load_buffers(numpy_buffers(module))
    return np_model
