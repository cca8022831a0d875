"""Registry entries of the dense layers: affine, activations, dropout, norms, sandwiches, losses.

One ``register_layer`` / ``register_activation`` call per pair; the convolutional family is in
``entries_conv``. Torch callables are functions of the namespace ``t`` (see ``registry``).
"""

from __future__ import annotations

import numpy as np

from visionblocks.layers import activations as A
from visionblocks.layers import composite as C
from visionblocks.layers import dropout as D
from visionblocks.layers import norm as N
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.layers.losses import softmax_loss, svm_loss
from visionblocks.layers.registry import register_activation, register_layer


def away_from_zero(rng, shape, margin=0.05):
    """Normal samples pushed at least ``margin`` away from 0, so kinks at 0 are not hit."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * margin


def distinct(rng, shape):
    """Values at least 0.1 apart (a shuffled grid plus jitter), so no maximum sits on a tie."""
    n = int(np.prod(shape))
    return (rng.permutation(n) + 0.5 * rng.random(n)).reshape(shape) * 0.2 - 0.1 * n


def _x(shape=(4, 5), scale=1.0, kink=False):
    if kink:
        return lambda r: (scale * away_from_zero(r, shape),)
    return lambda r: (scale * r.standard_normal(shape),)


def _linear(x, w, b, t):
    return t.F.linear(x.reshape(x.shape[0], -1), w.T, b)


def _bn_ref(t):
    return lambda x, g, b, p: t.F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)


def _norm_args(r, n=6, d=5):
    x = 2.0 * r.standard_normal((n, d)) + 1.0
    return x, r.standard_normal(d), r.standard_normal(d)


# ---------------------------------------------------------------------------- affine
register_layer(
    "affine", affine_forward, affine_backward,
    lambda r: (r.standard_normal((4, 2, 3)), r.standard_normal((6, 5)), r.standard_normal(5)),
    ("x", "w", "b"), ("x", "w", "b"),
    twin=lambda t: t.TF.affine,
    reference=lambda t: lambda x, w, b: _linear(x, w, b, t),
)  # fmt: skip

# ----------------------------------------------------------------------- activations
register_activation(
    "relu", A.relu_forward, A.relu_backward, _x(kink=True), kink=True,
    twin=lambda t: t.TF.relu, reference=lambda t: t.F.relu,
)  # fmt: skip
register_activation(
    "leaky_relu", A.leaky_relu_forward, A.leaky_relu_backward, _x(kink=True), kink=True,
    twin=lambda t: t.TF.leaky_relu, reference=lambda t: t.F.leaky_relu,
)  # fmt: skip
register_activation(
    "sigmoid", A.sigmoid_forward, A.sigmoid_backward, _x(scale=3.0),
    twin=lambda t: t.TF.sigmoid, reference=lambda t: t.torch.sigmoid,
)  # fmt: skip
register_activation(
    "tanh", A.tanh_forward, A.tanh_backward, _x(),
    twin=lambda t: t.TF.tanh, reference=lambda t: t.torch.tanh,
)  # fmt: skip
register_activation("elu", A.elu_forward, A.elu_backward, _x(scale=2.0), twin=lambda t: t.F.elu)
register_activation(
    "selu", A.selu_forward, A.selu_backward, _x(scale=2.0, kink=True), kink=True,
    twin=lambda t: t.F.selu,
)  # fmt: skip
register_activation("gelu", A.gelu_forward, A.gelu_backward, _x(scale=2.0), twin=lambda t: t.F.gelu)
register_activation(
    "prelu", A.prelu_forward, A.prelu_backward,
    lambda r: (away_from_zero(r, (6, 4)), r.uniform(0.1, 0.5, 4)),
    params=(("alpha", 0.25),), kink=True, twin=lambda t: t.F.prelu,
)  # fmt: skip
register_activation(
    "maxout", A.maxout_forward, A.maxout_backward, lambda r: (distinct(r, (3, 6)), 2),
    pieces=2, kink=True,
    twin=lambda t: lambda x, k: t.torch.amax(x.unflatten(1, (x.shape[1] // k, k)), dim=2),
    reference=lambda t: lambda x, k: x.reshape(x.shape[0], -1, k, *x.shape[2:]).max(2).values,
)  # fmt: skip

# ---------------------------------------------------------------------------- dropout
register_layer(
    "dropout", D.dropout_forward, D.dropout_backward,
    lambda r: (r.standard_normal((6, 5)), {"p": 0.7, "mode": "train", "seed": 3}),
    ("x", "dropout_param"), ("x",),
    twin=lambda t: t.TF.dropout,
    no_reference="the mask is random: torch cannot draw ours; the dropout tests check the "
    "statistics, the 1/p scaling, test mode and the backward pass independently",
)  # fmt: skip

# ----------------------------------------------------------------------------- norms
register_layer(
    "batchnorm", N.batchnorm_forward, N.batchnorm_backward,
    lambda r: (*_norm_args(r), {"mode": "train"}), ("x", "gamma", "beta", "bn_param"),
    ("x", "gamma", "beta"), twin=lambda t: t.TF.batchnorm, reference=_bn_ref,
)  # fmt: skip
register_layer(
    "batchnorm_alt", N.batchnorm_forward, N.batchnorm_backward_alt,
    lambda r: (*_norm_args(r), {"mode": "train"}), ("x", "gamma", "beta", "bn_param"),
    ("x", "gamma", "beta"), twin=lambda t: t.TF.batchnorm, reference=_bn_ref,
)  # fmt: skip
register_layer(
    "layernorm", N.layernorm_forward, N.layernorm_backward,
    lambda r: (*_norm_args(r), {}), ("x", "gamma", "beta", "ln_param"), ("x", "gamma", "beta"),
    twin=lambda t: t.TF.layernorm,
    reference=lambda t: lambda x, g, b, p: t.F.layer_norm(x, (x.shape[1],), g, b, eps=1e-5),
)  # fmt: skip


# ------------------------------------------------------------------------- sandwiches
def _affine_norm_args(norm):
    def make(r):
        x = r.standard_normal((5, 2, 3))
        w, b = r.standard_normal((6, 4)), r.standard_normal(4)
        return x, w, b, r.standard_normal(4), r.standard_normal(4), {}, norm

    return make


def _norm_relu_ref(t):
    def ref(x, w, b, g, be, param, norm):
        a = _linear(x, w, b, t)
        if norm == "batchnorm":
            a = t.F.batch_norm(a, None, None, g, be, training=True, eps=1e-5)
        else:
            a = t.F.layer_norm(a, (a.shape[1],), g, be, eps=1e-5)
        return t.F.relu(a)

    return ref


_NORM_RELU_ARGS = ("x", "w", "b", "gamma", "beta", "norm_param", "norm")
_NORM_WRT = ("x", "w", "b", "gamma", "beta")
register_layer(
    "affine_relu", C.affine_relu_forward, C.affine_relu_backward,
    lambda r: (r.standard_normal((4, 6)), r.standard_normal((6, 5)), r.standard_normal(5)),
    ("x", "w", "b"), ("x", "w", "b"), kink=True,
    twin=lambda t: t.TF.affine_relu,
    reference=lambda t: lambda x, w, b: t.F.relu(_linear(x, w, b, t)),
)  # fmt: skip
register_layer(
    "affine_batchnorm_relu", C.affine_norm_relu_forward, C.affine_norm_relu_backward,
    _affine_norm_args("batchnorm"), _NORM_RELU_ARGS, _NORM_WRT, kink=True,
    zero_grads=("b",),  # batch norm removes any per-feature shift before it
    twin=lambda t: t.TF.affine_norm_relu, reference=_norm_relu_ref,
)  # fmt: skip
register_layer(
    "affine_layernorm_relu", C.affine_norm_relu_forward, C.affine_norm_relu_backward,
    _affine_norm_args("layernorm"), _NORM_RELU_ARGS, _NORM_WRT, kink=True,
    twin=lambda t: t.TF.affine_norm_relu, reference=_norm_relu_ref,
)  # fmt: skip


def _affine_norm_act_args(r):
    x = r.standard_normal((5, 2, 3))
    w, b = r.standard_normal((6, 4)), r.standard_normal(4)
    alpha = r.uniform(0.1, 0.5, 4)
    return x, w, b, r.standard_normal(4), r.standard_normal(4), {}, "layernorm", "prelu", alpha


def _affine_norm_act_ref(t):
    def ref(x, w, b, g, be, param, norm, activation, alpha):
        a = t.F.layer_norm(_linear(x, w, b, t), (w.shape[1],), g, be, eps=1e-5)
        return t.F.prelu(a, alpha)

    return ref


register_layer(
    "affine_layernorm_prelu", C.affine_norm_act_forward, C.affine_norm_act_backward,
    _affine_norm_act_args, (*_NORM_RELU_ARGS, "activation", "alpha"), (*_NORM_WRT, "alpha"),
    kink=True, twin=lambda t: t.TF.affine_norm_act, reference=_affine_norm_act_ref,
)  # fmt: skip
register_layer(
    "affine_elu", C.affine_norm_act_forward, C.affine_norm_act_backward,
    lambda r: (r.standard_normal((4, 6)), r.standard_normal((6, 5)), r.standard_normal(5),
               None, None, None, None, "elu"),
    ("x", "w", "b", "gamma", "beta", "norm_param", "norm", "activation"), ("x", "w", "b"),
    twin=lambda t: t.TF.affine_norm_act,
    reference=lambda t: lambda x, w, b, *_: t.F.elu(_linear(x, w, b, t)),
)  # fmt: skip

# ----------------------------------------------------------------------------- losses
_SCORES = lambda r: (r.standard_normal((7, 4)), r.integers(0, 4, 7))  # noqa: E731
register_layer(
    "svm_loss", svm_loss, None, _SCORES, ("x", "y"), ("x",), kink=True,
    twin=lambda t: t.TF.svm_loss,
    # torch divides the hinge sum by the number of classes; the classic loss does not.
    reference=lambda t: lambda x, y: t.F.multi_margin_loss(x, y, margin=1.0) * x.shape[1],
)  # fmt: skip
register_layer(
    "softmax_loss", softmax_loss, None, _SCORES, ("x", "y"), ("x",),
    twin=lambda t: t.TF.softmax_loss, reference=lambda t: t.F.cross_entropy,
)  # fmt: skip
