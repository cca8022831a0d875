"""Any registered layer pair as one node of the graph, its hand-written backward the node's
local gradient: ``layer_node("affine", x, w, b)``.

The arguments are the entry's positional arguments (``LAYERS[name].arg_names``); those it
differentiates (``wrt``) may be tensors, the rest (param dicts, labels, names) are passed to
the pair as they are. A loss entry (``softmax_loss``, ``svm_loss``) returns ``(loss, dx)``;
its node is the scalar loss and ``dx`` its local gradient.
"""

from __future__ import annotations

import numpy as np

from visionblocks.autograd.functions import Function
from visionblocks.autograd.tensor import Tensor, apply
from visionblocks.layers import LAYERS

__all__ = ["LayerFunction", "layer_node"]


class LayerFunction(Function):
    """A registered pair as a primitive: forward runs ``*_forward``, backward ``*_backward``.

    Args:
        entry: the ``LayerEntry``.
        args: every positional argument of the pair, with None where a graph input goes.
        slots: the positions of the graph inputs (differentiated arguments), in input order.
    """

    def __init__(self, entry, args, slots):
        super().__init__()
        self.entry, self.args, self.slots = entry, list(args), tuple(slots)
        self.name = entry.name
        self.symbol = entry.name

    def forward(self, *xs):
        args = list(self.args)
        for slot, x in zip(self.slots, xs):
            args[slot] = x
        out, self.cache = self.entry.forward(*args)
        return np.asarray(out, dtype=xs[0].dtype) if self.entry.is_loss else out

    def backward(self, dout):
        if self.entry.is_loss:  # the cache is dloss/dx
            return (dout * self.cache,)
        grads = self.entry.backward(dout, self.cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        by_name = dict(zip(self.entry.wrt, grads))
        return tuple(by_name[self.entry.arg_names[s]] for s in self.slots)


def layer_node(name: str, *args, **kwargs) -> Tensor:
    """Runs the registered pair ``name`` as one node of the graph.

    Args:
        name: a name in ``visionblocks.layers.LAYERS`` (``affine``, ``relu``, ``batchnorm``,
            ``conv_fast``, ``softmax_loss``, ...).
        args, kwargs: the pair's arguments, by position or by the entry's ``arg_names``;
            differentiated ones may be tensors.

    Returns:
        The pair's output (a scalar tensor for a loss).

    Raises:
        KeyError: no such layer (the message lists the known ones).
        TypeError: missing, repeated or unknown arguments; a tensor that needs a gradient in
            a position the pair does not differentiate.
    """
    entry = LAYERS[name]
    names = entry.arg_names
    if len(args) > len(names):
        raise TypeError(f"layer {name!r} takes {len(names)} arguments {names}, got {len(args)}")
    values = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"layer {name!r} has no argument {key!r}; its arguments: {names}")
        if key in values:
            raise TypeError(f"layer {name!r} got argument {key!r} twice")
        values[key] = value
    missing = [n for n in names if n not in values]
    if missing:
        raise TypeError(f"layer {name!r} is missing arguments {missing} (takes {names})")
    full, slots, inputs = [], [], []
    for i, arg_name in enumerate(names):
        value = values[arg_name]
        if arg_name in entry.wrt:
            slots.append(i)
            inputs.append(value)
            full.append(None)
        elif isinstance(value, Tensor):
            if value.requires_grad:
                raise TypeError(
                    f"layer {name!r} does not differentiate {arg_name!r} (it differentiates "
                    f"{entry.wrt}); pass it detached"
                )
            full.append(value.data)
        else:
            full.append(value)
    return apply(LayerFunction(entry, full, slots), *inputs)
