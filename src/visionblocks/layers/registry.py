"""The layer registry: one entry per forward/backward pair, from which every check is generated.

An entry (``LayerEntry``) holds the pair, how to make its inputs, which arguments it
differentiates, and its PyTorch twin (plus, where the twin is our own code, an independent
torch reference). The gradient-check table, the parity table, the autograd-bridge check and
``visionblocks gradcheck`` all iterate over ``LAYERS``; a public ``*_forward`` without an entry
fails a test that names it. Activations are also registered in ``ACTIVATIONS``, which is what
``FullyConnectedNet(activation=...)`` and ``ConvNet(activation=...)`` accept.

Torch callables are given as functions of a namespace ``t`` with ``t.torch``, ``t.F``
(``torch.nn.functional``) and ``t.TF`` (``visionblocks.torchkit.functional``), e.g.
``twin=lambda t: t.F.elu``, so this module and the NumPy engine never import torch.

This module imports only the generic registry; entries live in ``entries.py`` and
``entries_conv.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visionblocks.registry import Registry

#: Relative-error bound for smooth layers in float64.
TOL = 1e-7
#: Documented looser bound for layers with kinks (relu, max, hinge): a random input can fall
#: within h of a kink, where central differences straddle two linear pieces.
KINK_TOL = 1e-5
#: Absolute bound for gradients that are zero in theory (a bias just before a normalisation):
#: a relative error of two numbers that are both ~0 measures only rounding noise.
ZERO_TOL = 1e-8


@dataclass(frozen=True)
class LayerEntry:
    """One registered layer pair: one row of every generated table.

    Attributes:
        name: the row's name (the pair's prefix, plus a variant: ``conv_fast_strided``).
        forward: ``forward(*args) -> (out, cache)``; for a loss, ``(loss, dx)``. Usually the
            public function itself, with every extra argument (param dicts) made by make_args.
        backward: ``backward(dout, cache) -> grad or tuple of grads``; None for a loss.
        make_args: builds the positional arguments from a ``np.random.Generator`` (float64).
        arg_names: a name for each positional argument.
        wrt: names of the arguments whose gradients backward returns, in its order.
        kink: the layer has kinks, so ``KINK_TOL`` applies.
        zero_grads: arguments whose gradient is identically zero in theory; both the analytic
            and the numerical gradient must then be below ``ZERO_TOL`` in absolute value.
        twin: ``twin(t) -> f``, the torch function of the PyTorch engine taking the same
            arguments (float arrays as tensors) and returning the output (the loss).
        reference: ``reference(t) -> f``, an independent torch computation of the output,
            needed when the twin is our own code (a twin that is torch's own function is its
            own reference).
        no_reference: why there cannot be an independent reference (e.g. a random mask), and
            where the layer is checked instead.
        public: the public function names this row checks (default: forward's and
            backward's names).
    """

    name: str
    forward: Callable
    backward: Callable | None
    make_args: Callable[[np.random.Generator], tuple]
    arg_names: tuple[str, ...]
    wrt: tuple[str, ...]
    kink: bool = False
    zero_grads: tuple[str, ...] = ()
    twin: Callable | None = None
    reference: Callable | None = None
    no_reference: str = ""
    public: tuple[str, ...] = ()

    @property
    def is_loss(self) -> bool:
        return self.backward is None

    def tol_for(self, name: str) -> float:
        """The bound for argument ``name``'s error."""
        if name in self.zero_grads:
            return ZERO_TOL
        return KINK_TOL if self.kink else TOL

    def public_names(self) -> tuple[str, ...]:
        """The public functions this row checks."""
        names = list(self.public)
        for fn in (self.forward, self.backward):
            name = getattr(fn, "__name__", "<lambda>")
            if fn is not None and name != "<lambda>" and not name.startswith("_"):
                names.append(name)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ActivationEntry:
    """An activation a model can be built with.

    Attributes:
        name: the ``activation=`` value.
        forward: ``forward(x, *params) -> (out, cache)``.
        backward: ``backward(dout, cache) -> dx`` or ``(dx, *dparams)`` when it has params.
        params: (name, initial value) of each learnable parameter, one value per channel
            (PReLU: ``(("alpha", 0.25),)``).
        pieces: input channels per output channel (maxout); the layer before it is widened.
        twin: ``twin(t) -> f(x, *params)``, the torch function (see the module docstring).
    """

    name: str
    forward: Callable
    backward: Callable
    params: tuple[tuple[str, float], ...] = ()
    pieces: int = 1
    twin: Callable | None = None

    def apply(self, x, params=()):
        """``forward`` on x with the learnable ``params`` (or the pieces of maxout)."""
        if self.pieces > 1:
            return self.forward(x, self.pieces)
        return self.forward(x, *params)

    def init_params(self, channels: int, dtype) -> list[np.ndarray]:
        """The initial learnable parameters for ``channels`` output channels."""
        return [np.full(channels, value, dtype=dtype) for _, value in self.params]

    def backward_all(self, dout, cache):
        """(dx, [dparams]) whatever the activation returns."""
        grads = self.backward(dout, cache)
        if self.params:
            return grads[0], list(grads[1:])
        return grads, []


LAYERS: Registry[LayerEntry] = Registry("layer")
ACTIVATIONS: Registry[ActivationEntry] = Registry("activation")


def register_layer(name, forward, backward, make_args, arg_names, wrt, **options) -> LayerEntry:
    """Registers a layer pair (see ``LayerEntry`` for the arguments) and returns its entry."""
    return LAYERS.register(
        name,
        LayerEntry(name, forward, backward, make_args, tuple(arg_names), tuple(wrt), **options),
    )


def register_activation(
    name, forward, backward, make_args, *, params=(), pieces=1, twin=None, **options
) -> ActivationEntry:
    """Registers an activation: its layer row (checked like every layer) and its model entry.

    Args:
        name: the activation's name.
        forward, backward: the pair; ``forward(x, *params)``.
        make_args: inputs for the gradient check, ``(x, *params)`` or ``(x, pieces)``.
        params: (name, initial value) of each learnable parameter.
        pieces: input channels per output (maxout).
        twin: the torch twin, ``twin(t) -> f(x, *params)``.
        options: more ``LayerEntry`` fields (kink, reference, ...).
    """
    param_names = tuple(p for p, _ in params)
    arg_names = ("x", *param_names) if pieces == 1 else ("x", "pieces")
    register_layer(
        name, forward, backward, make_args, arg_names, ("x", *param_names), twin=twin, **options
    )
    return ACTIVATIONS.register(
        name, ActivationEntry(name, forward, backward, tuple(params), int(pieces), twin)
    )


def all_layers() -> list[LayerEntry]:
    """Every registered layer entry, in registration order."""
    return list(LAYERS.values())


def find_layer(name: str) -> LayerEntry:
    """The entry named ``name`` (KeyError naming the known ones)."""
    return LAYERS[name]
