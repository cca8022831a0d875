"""``nn.Module`` twins of the NumPy convolutional nets: ``ThreeLayerConvNet`` and ``ConvNet``.

Each takes the NumPy model's constructor arguments (building the NumPy model to check them and
to start from the same weights), or is made from an existing NumPy model with ``from_numpy``.
Modules are keyed by the NumPy layer number (``convs['3']`` holds ``W3, b3``), so
``numpy_layout`` is a direct mapping.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from visionblocks.models import cnn as np_cnn
from visionblocks.torchkit.twin_base import Activation, TwinModel, act_layout


class ThreeLayerConvNet(TwinModel):
    """Twin of ``visionblocks.models.cnn.ThreeLayerConvNet``:
    conv - relu - 2x2 max pool - affine - relu - affine."""

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        seed=None,
        init=None,
    ):
        """Same arguments as the NumPy model."""
        super().__init__()
        ref = np_cnn.ThreeLayerConvNet(
            input_dim=input_dim, num_filters=num_filters, filter_size=filter_size,
            hidden_dim=hidden_dim, num_classes=num_classes, weight_scale=weight_scale, reg=reg,
            dtype=dtype, seed=seed, init=init,
        )  # fmt: skip
        self._adopt(ref)

    def _build(self, ref):
        p = ref.params
        f, c, k, _ = p["W1"].shape
        self.reg = ref.reg
        self.conv = nn.Conv2d(c, f, k, stride=1, padding=ref.conv_param["pad"])
        self.fc1 = nn.Linear(*p["W2"].shape)
        self.fc2 = nn.Linear(*p["W3"].shape)

    def numpy_layout(self):
        params = {"W1": ("conv.weight", False), "b1": ("conv.bias", False)}
        for i, name in ((2, "fc1"), (3, "fc2")):
            params[f"W{i}"], params[f"b{i}"] = (f"{name}.weight", True), (f"{name}.bias", False)
        return params, {}

    def forward(self, x):
        """x: (N, C, H, W) -> scores (N, num_classes)."""
        h = torch.max_pool2d(torch.relu(self.conv(x)), 2, 2)  # (N, F, H/2, W/2)
        h = torch.relu(self.fc1(h.flatten(1)))  # (N, F*H/2*W/2) -> (N, hidden)
        return self.fc2(h)


class ConvNet(TwinModel):
    """Twin of ``visionblocks.models.cnn.ConvNet``:
    ``[(conv - norm - relu) x N - pool] x M - (affine - relu - dropout) x K - affine``, with
    optional residual stages and a final global average pool."""

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=(32, 64),
        convs_per_stage=2,
        hidden_dims=(256,),
        num_classes=10,
        filter_size=3,
        normalization="batchnorm",
        groups=8,
        residual=False,
        global_pool=False,
        dropout_keep=1.0,
        reg=0.0,
        weight_scale=1e-2,
        init="he",
        dtype=np.float32,
        seed=None,
        activation="relu",
    ):
        """Same arguments as the NumPy model (``dropout_keep`` is a keep probability)."""
        super().__init__()
        ref = np_cnn.ConvNet(
            input_dim=input_dim, num_filters=num_filters, convs_per_stage=convs_per_stage,
            hidden_dims=hidden_dims, num_classes=num_classes, filter_size=filter_size,
            normalization=normalization, groups=groups, residual=residual,
            global_pool=global_pool, dropout_keep=dropout_keep, reg=reg,
            weight_scale=weight_scale, init=init, dtype=dtype, seed=seed, activation=activation,
        )  # fmt: skip
        self._adopt(ref)

    def _build(self, ref):
        p = ref.params
        self.reg, self.normalization = ref.reg, ref.normalization
        self.residual, self.global_pool = ref.residual, ref.global_pool
        self.num_filters, self.convs_per_stage = list(ref.num_filters), ref.convs_per_stage
        self.num_convs, self.num_affine = ref.num_convs, ref.num_affine
        self.activation, pieces = ref.activation, ref.act.pieces
        self.acts = nn.ModuleDict()
        pad = ref.conv_param["pad"]
        self.convs, self.norms, self.projs = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for i in range(1, self.num_convs + 1):
            f, c, k, _ = p[f"W{i}"].shape
            self.convs[str(i)] = nn.Conv2d(c, f, k, stride=1, padding=pad)
            if self.normalization == "batchnorm":
                self.norms[str(i)] = nn.BatchNorm2d(f, eps=1e-5, momentum=0.1)
            elif self.normalization == "groupnorm":
                self.norms[str(i)] = nn.GroupNorm(ref.groups, f, eps=1e-5)
            if f"Wproj{i}" in p:
                self.projs[str(i)] = nn.Conv2d(c, f, 1)
            if not self.residual:
                self.acts[str(i)] = Activation(self.activation, f // pieces)
        self.fcs = nn.ModuleDict()
        for j in range(self.num_convs + 1, self.num_convs + self.num_affine + 1):
            self.fcs[str(j)] = nn.Linear(*p[f"W{j}"].shape)
            if j < self.num_convs + self.num_affine:
                self.acts[str(j)] = Activation(self.activation, p[f"W{j}"].shape[1] // pieces)
        self.dropout = nn.Dropout(1.0 - ref.dropout_param["p"])

    def numpy_layout(self):
        params, buffers = {}, {}
        for i in range(1, self.num_convs + 1):
            params[f"W{i}"], params[f"b{i}"] = (
                (f"convs.{i}.weight", False),
                (f"convs.{i}.bias", False),
            )
            if self.normalization:
                params[f"gamma{i}"] = (f"norms.{i}.weight", False)
                params[f"beta{i}"] = (f"norms.{i}.bias", False)
            if self.normalization == "batchnorm":
                buffers[f"running_mean{i}"] = (f"norms.{i}.running_mean", False)
                buffers[f"running_var{i}"] = (f"norms.{i}.running_var", False)
            if str(i) in self.projs:
                params[f"Wproj{i}"] = (f"projs.{i}.weight", False)
                params[f"bproj{i}"] = (f"projs.{i}.bias", False)
        for j in self.fcs:
            params[f"W{j}"], params[f"b{j}"] = (f"fcs.{j}.weight", True), (f"fcs.{j}.bias", False)
        for i in self.acts:
            params.update(act_layout(f"acts.{i}", self.activation, i))
        return params, buffers

    def _conv_norm(self, h, i):
        h = self.convs[str(i)](h)
        return self.norms[str(i)](h) if self.normalization else h

    def forward(self, x):
        """x: (N, C, H, W) -> scores (N, num_classes)."""
        h, i = x, 1
        last_stage = len(self.num_filters) - 1
        for s in range(len(self.num_filters)):
            if self.residual:
                for _ in range(self.convs_per_stage // 2):
                    z = self._conv_norm(torch.relu(self._conv_norm(h, i)), i + 1)
                    shortcut = self.projs[str(i)](h) if str(i) in self.projs else h
                    h, i = torch.relu(z + shortcut), i + 2
            else:
                for _ in range(self.convs_per_stage):
                    h, i = self.acts[str(i)](self._conv_norm(h, i)), i + 1
            if self.global_pool and s == last_stage:
                h = h.mean(dim=(2, 3))  # (N, C, H, W) -> (N, C)
            else:
                h = torch.max_pool2d(h, 2, 2)  # (N, C, H, W) -> (N, C, H/2, W/2)
        h = h.flatten(1)  # (N, C, H, W) -> (N, C*H*W)
        keys = list(self.fcs)
        for j in keys[:-1]:
            h = self.dropout(self.acts[j](self.fcs[j](h)))
        return self.fcs[keys[-1]](h)


#: NumPy model class -> its twin class (used by ``twin_of``).
TWINS = {np_cnn.ThreeLayerConvNet: ThreeLayerConvNet, np_cnn.ConvNet: ConvNet}
