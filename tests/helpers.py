"""Test helpers: the PyTorch reference for every row of the gradient-check table.

``TORCH_REFS[name](*args)`` takes the case's arguments (float64 torch tensors where the NumPy
case has float64 arrays, the other arguments unchanged) and returns the output that the NumPy
forward should produce. The harness compares outputs and, through autograd, the gradients.
"""

from __future__ import annotations

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the NumPy engine must be testable without torch
    torch = None
    F = None


def _dropout_ref(x, param):
    mask = np.random.default_rng(param["seed"]).random(tuple(x.shape)) < param["p"]
    return x * torch.from_numpy(mask / param["p"])


def _norm_relu(norm):
    def ref(x, w, b, g, be):
        a = x.reshape(x.shape[0], -1) @ w + b
        if norm == "batchnorm":
            a = F.batch_norm(a, None, None, g, be, training=True, eps=1e-5)
        else:
            a = F.layer_norm(a, (a.shape[1],), g, be, eps=1e-5)
        return F.relu(a)

    return ref


TORCH_REFS = {
    "affine": lambda x, w, b: F.linear(x.reshape(x.shape[0], -1), w.T, b),
    "relu": lambda x: F.relu(x),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x),
    "dropout": _dropout_ref,
    "batchnorm": lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5),
    "batchnorm_alt": lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5),
    "layernorm": lambda x, g, b: F.layer_norm(x, (x.shape[1],), g, b, eps=1e-5),
    "affine_relu": lambda x, w, b: F.relu(F.linear(x, w.T, b)),
    "affine_batchnorm_relu": _norm_relu("batchnorm"),
    "affine_layernorm_relu": _norm_relu("layernorm"),
    # torch divides the hinge sum by the number of classes; the classic loss does not.
    "svm_loss": lambda x, y: F.multi_margin_loss(x, y, margin=1.0) * x.shape[1],
    "softmax_loss": lambda x, y: F.cross_entropy(x, y),
}


# ---- convolutional rows (issue 4) ----
def _conv(x, w, b, cp):
    return F.conv2d(x, w, b, stride=cp.get("stride", 1), padding=cp.get("pad", 0))


def _pool(name):
    return lambda x, pp: getattr(F, name)(x, (pp["pool_height"], pp["pool_width"]), pp["stride"])


def _bn(x, g, b):
    return F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)


def _residual(stride):
    def ref(x, w1, b1, g1, be1, w2, b2, g2, be2, wp=None, bp=None):
        h = F.relu(_bn(F.conv2d(x, w1, b1, stride=stride, padding=1), g1, be1))
        z = _bn(F.conv2d(h, w2, b2, padding=1), g2, be2)
        shortcut = x if wp is None else F.conv2d(x, wp, bp, stride=stride)
        return F.relu(z + shortcut)

    return ref


def _unpool(x, indices, up):
    size = (up["pool_height"], up["pool_width"])
    return F.max_unpool2d(x, indices, size, up["stride"], output_size=up["output_size"])


TORCH_REFS.update(
    {
        "conv_naive": _conv,
        "conv_fast": _conv,
        "conv_fast_rows": _conv,
        "conv_fast_strided": _conv,
        "max_pool_naive": _pool("max_pool2d"),
        "max_pool_fast": _pool("max_pool2d"),
        "max_pool_fast_overlap": _pool("max_pool2d"),
        "avg_pool": _pool("avg_pool2d"),
        "avg_pool_overlap": _pool("avg_pool2d"),
        "global_avg_pool": lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1),
        "spatial_batchnorm": _bn,
        "spatial_groupnorm": lambda x, g, b: F.group_norm(x, 2, g, b, eps=1e-5),
        "conv_transpose": lambda x, w, b, cp: F.conv_transpose2d(
            x, w, b, stride=cp["stride"], padding=cp["pad"]
        ),
        "max_unpool": _unpool,
        "conv_relu": lambda x, w, b, cp: F.relu(_conv(x, w, b, cp)),
        "conv_relu_pool": lambda x, w, b, cp: F.max_pool2d(F.relu(_conv(x, w, b, cp)), 2, 2),
        "conv_bn_relu": lambda x, w, b, g, be: F.relu(_bn(F.conv2d(x, w, b, padding=1), g, be)),
        "conv_groupnorm_relu": lambda x, w, b, g, be: F.relu(
            F.group_norm(F.conv2d(x, w, b, padding=1), 2, g, be, eps=1e-5)
        ),
        "residual_block": _residual(1),
        "residual_block_proj": _residual(2),
    }
)


def to_torch_args(case, args):
    """Converts a case's arguments to torch: float arrays to leaf tensors needing grad."""
    out = []
    for name, a in zip(case.arg_names, args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(torch.tensor(a, requires_grad=name in case.wrt))
        elif isinstance(a, np.ndarray):
            out.append(torch.from_numpy(a))
        else:
            out.append(a)
    return out
