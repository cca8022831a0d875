"""``nn.Module`` twins of the NumPy models, with the same constructor arguments, plus a ResNet.

A twin builds the NumPy model with the same arguments (so the arguments are checked the same
way and the initial weights are identical for the same seed) and copies its ``params`` in. The
bridge (``torchkit.bridge``) moves weights between the engines afterwards; ``numpy_layout``
says where each NumPy parameter lives in the twin. Differences worth knowing: torch's batch
norm keeps the *unbiased* batch variance in its running estimate where the NumPy engine keeps
the biased one, so running statistics drift apart by a factor n / (n - 1) per update while
train-mode outputs and gradients agree.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from visionblocks import models as np_models
from visionblocks.torchkit.models_cnn import TWINS as CONV_TWINS
from visionblocks.torchkit.twin_base import (  # noqa: F401  (re-exported)
    Activation,
    TwinModel,
    act_layout,
    torch_dtype,
)


class FullyConnectedNet(TwinModel):
    """Twin of ``visionblocks.models.FullyConnectedNet``:
    {affine - [norm] - relu - [dropout]} x (L - 1) - affine."""

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
        init=None,
        activation="relu",
        dropout_masks=None,
    ):
        """Same arguments as the NumPy model (see its docstring); dropout_keep_ratio is a keep
        probability, as there. ``dropout_masks`` is checked as there; the twin's dropout draws
        from torch's generator."""
        super().__init__()
        ref = np_models.FullyConnectedNet(
            hidden_dims=hidden_dims, input_dim=input_dim, num_classes=num_classes,
            dropout_keep_ratio=dropout_keep_ratio, normalization=normalization, reg=reg,
            weight_scale=weight_scale, dtype=dtype, seed=seed, init=init, activation=activation,
            dropout_masks=dropout_masks,
        )  # fmt: skip
        self._adopt(ref)

    def _build(self, ref):
        self.reg, self.normalization = ref.reg, ref.normalization
        self.num_layers = ref.num_layers
        self.activation = ref.activation
        keep = ref.dropout_param["p"]
        self.hidden = nn.ModuleList()
        for i in range(1, self.num_layers):
            d_in, d_out = ref.params[f"W{i}"].shape
            block = nn.Sequential()
            block.add_module("fc", nn.Linear(d_in, d_out))
            if self.normalization == "batchnorm":
                block.add_module("norm", nn.BatchNorm1d(d_out, eps=1e-5, momentum=0.1))
            elif self.normalization == "layernorm":
                block.add_module("norm", nn.LayerNorm(d_out, eps=1e-5))
            block.add_module("act", Activation(self.activation, d_out // ref.act.pieces))
            if keep != 1:
                block.add_module("dropout", nn.Dropout(1.0 - keep))
            self.hidden.append(block)
        self.out = nn.Linear(*ref.params[f"W{self.num_layers}"].shape)

    def numpy_layout(self):
        params, buffers = {}, {}
        for i in range(1, self.num_layers):
            pre = f"hidden.{i - 1}"
            params[f"W{i}"], params[f"b{i}"] = (f"{pre}.fc.weight", True), (f"{pre}.fc.bias", False)
            if self.normalization:
                params[f"gamma{i}"] = (f"{pre}.norm.weight", False)
                params[f"beta{i}"] = (f"{pre}.norm.bias", False)
            if self.normalization == "batchnorm":
                buffers[f"running_mean{i}"] = (f"{pre}.norm.running_mean", False)
                buffers[f"running_var{i}"] = (f"{pre}.norm.running_var", False)
            params.update(act_layout(f"{pre}.act", self.activation, i))
        last = self.num_layers
        params[f"W{last}"], params[f"b{last}"] = ("out.weight", True), ("out.bias", False)
        return params, buffers

    def forward(self, x):
        """x: (N, d_1, ..., d_k) -> scores (N, num_classes)."""
        h = x.flatten(1)  # (N, d_1, ..., d_k) -> (N, D)
        for block in self.hidden:
            h = block(h)
        return self.out(h)


class TwoLayerNet(FullyConnectedNet):
    """Twin of ``visionblocks.models.TwoLayerNet``: affine - relu - affine."""

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        seed=None,
        init=None,
    ):
        super().__init__(
            hidden_dims=[hidden_dim], input_dim=input_dim, num_classes=num_classes, reg=reg,
            weight_scale=weight_scale, dtype=dtype, seed=seed, init=init,
        )  # fmt: skip


def twin_of(np_model) -> TwinModel:
    """The torch twin of a NumPy model: same architecture, weights and running statistics.

    Raises:
        TypeError: the model's class has no twin.
    """
    twins = {np_models.FullyConnectedNet: FullyConnectedNet, np_models.TwoLayerNet: TwoLayerNet}
    twins.update(CONV_TWINS)
    cls = twins.get(type(np_model))
    if cls is None:
        raise TypeError(f"{type(np_model).__name__} has no torch twin")
    return cls.from_numpy(np_model)


# ------------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    """conv3x3 - BN - relu - conv3x3 - BN, plus the input (1x1 conv - BN when shapes change)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        """x: (N, c_in, H, W) -> (N, c_out, H / stride, W / stride)."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet for small images: stem conv - stages of BasicBlocks - global average pool
    - dropout - affine. Each stage after the first halves the resolution and widens.

    Torch only (there is no NumPy twin); ``reg`` adds the classic L2 penalty on conv/affine
    weights, ``weight_decay`` in the Trainer is usually the better choice.
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_classes=10,
        widths=(32, 64, 128),
        blocks=(2, 2, 2),
        dropout=0.0,
        reg=0.0,
        seed=None,
    ):
        """Builds the net.

        Args:
            input_dim: (C, H, W) of the images.
            num_classes: number of classes.
            widths: channels of each stage.
            blocks: BasicBlocks per stage (same length as widths).
            dropout: drop probability before the classifier.
            reg: L2 strength of ``l2_penalty``.
            seed: seeds the initialisation (the global torch RNG is left untouched).
        """
        super().__init__()
        widths, blocks = [int(w) for w in widths], [int(b) for b in blocks]
        if len(widths) != len(blocks) or not widths or min(widths + blocks) <= 0:
            raise ValueError(f"widths and blocks must be positive lists of one length, "
                             f"got {widths} and {blocks}")  # fmt: skip
        self.reg = reg
        c = int(input_dim[0])
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.stem = nn.Sequential(
                nn.Conv2d(c, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
            )
            stages, c_in = [], widths[0]
            for i, (w, n) in enumerate(zip(widths, blocks)):
                for j in range(n):
                    stages.append(BasicBlock(c_in, w, 2 if (i > 0 and j == 0) else 1))
                    c_in = w
            self.stages = nn.Sequential(*stages)
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Dropout(dropout),
                nn.Linear(c_in, num_classes),
            )
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            for block in stages:
                nn.init.zeros_(block.bn2.weight)  # each block starts as the identity

    def l2_penalty(self):
        """``0.5 * reg * sum(W**2)`` over conv and affine weights."""
        if not self.reg:
            return torch.zeros((), device=next(self.parameters()).device)
        weights = [m.weight for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        return 0.5 * self.reg * sum((w**2).sum() for w in weights)

    def forward(self, x):
        """x: (N, C, H, W) -> scores (N, num_classes)."""
        return self.head(self.stages(self.stem(x)))
