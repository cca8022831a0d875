"""What every ``nn.Module`` twin of a NumPy model shares: ``TwinModel`` (weights copied from the
NumPy model, ``numpy_layout``, the classic L2 penalty and ``loss``) and ``Activation``, a
registered activation as a module."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from visionblocks.layers.registry import ACTIVATIONS
from visionblocks.torchkit import functional as TF
from visionblocks.torchkit.bridge import load_numpy_params
from visionblocks.torchkit.functional import softmax_loss


def torch_dtype(dtype) -> torch.dtype:
    """The torch dtype of a NumPy float dtype (float32 or float64)."""
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        np.dtype(dtype)
    ]


class TwinModel(nn.Module):
    """What every twin shares: ``numpy_layout``, the classic L2 penalty and ``loss``."""

    reg: float = 0.0

    @classmethod
    def from_numpy(cls, np_model):
        """A twin with the NumPy model's architecture, weights and running statistics."""
        twin = cls.__new__(cls)
        nn.Module.__init__(twin)
        return twin._adopt(np_model)

    def _adopt(self, ref):
        """Builds the modules for ``ref`` and copies its weights and running statistics in.
        Modules draw their default initialisation from torch's global generator, which is
        forked here so that making a twin leaves the caller's random state alone."""
        with torch.random.fork_rng(devices=[]):
            self._build(ref)
        self.to(torch_dtype(ref.dtype))
        return load_numpy_params(self, ref.params, ref.buffers())

    def _build(self, ref):
        """Creates the modules for the NumPy model ``ref``'s architecture."""
        raise NotImplementedError

    def numpy_layout(self):
        """Where the NumPy names live in ``state_dict()``.

        Returns:
            (params, buffers): dicts NumPy name -> (state_dict key, transposed).
        """
        raise NotImplementedError

    def l2_penalty(self):
        """``0.5 * reg * sum(W**2)`` over the weights (the NumPy ``W*`` params) as a tensor."""
        if not self.reg:
            return torch.zeros((), device=next(self.parameters()).device)
        state = dict(self.named_parameters())
        keys = [key for name, (key, _) in self.numpy_layout()[0].items() if name.startswith("W")]
        return 0.5 * self.reg * sum((state[k] ** 2).sum() for k in keys)

    def loss(self, X, y=None):
        """Scores, or the softmax loss plus the L2 penalty, like the NumPy ``loss(X, y)``.

        Args:
            X: (N, ...) input tensor.
            y: (N,) labels, or None.

        Returns:
            scores (N, num_classes) when y is None, else the scalar loss (call ``backward``).
        """
        scores = self(X)
        return scores if y is None else softmax_loss(scores, y) + self.l2_penalty()


class Activation(nn.Module):
    """A registered activation as a module (``visionblocks.layers.ACTIVATIONS``); learnable
    parameters such as PReLU's ``alpha`` (one per channel) are its parameters."""

    def __init__(self, name, channels):
        super().__init__()
        entry = ACTIVATIONS[name]
        self.name, self.fn = name, TF.activation(name)
        self.param_names = [p for p, _ in entry.params]
        for p, value in entry.params:
            self.register_parameter(p, nn.Parameter(torch.full((int(channels),), float(value))))

    def forward(self, x):
        """x: (N, C, ...) -> (N, C / pieces, ...)."""
        return self.fn(x, *[getattr(self, p) for p in self.param_names])

    def extra_repr(self):
        return self.name


def act_layout(prefix, name, i):
    """NumPy names -> state_dict keys of an ``Activation``'s parameters (PReLU: alpha{i})."""
    return {f"{p}{i}": (f"{prefix}.{p}", False) for p, _ in ACTIVATIONS[name].params}
