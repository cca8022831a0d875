"""Registry entries of the convolutional family: conv, pools, spatial norms, transposed conv,
unpooling, conv sandwiches and the residual block."""

from __future__ import annotations

from visionblocks.layers import conv as CV
from visionblocks.layers import conv_composite as CC
from visionblocks.layers import pool as P
from visionblocks.layers import spatial_norm as SN
from visionblocks.layers import upsample as U
from visionblocks.layers.entries import distinct
from visionblocks.layers.registry import register_layer

POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}
POOL_3x3_S1 = {"pool_height": 3, "pool_width": 3, "stride": 1}
_CONV = ("x", "w", "b", "conv_param")


def _conv_args(conv_param, shape=(2, 3, 5, 5), filters=4, size=3):
    def make(r):
        w = r.standard_normal((filters, shape[1], size, size))
        return r.standard_normal(shape), w, r.standard_normal(filters), dict(conv_param)

    return make


def _conv_ref(t):
    return lambda x, w, b, cp: t.F.conv2d(x, w, b, stride=cp.get("stride", 1),
                                          padding=cp.get("pad", 0))  # fmt: skip


def _pool_ref(name):
    def ref(t):
        pool = getattr(t.F, name)
        return lambda x, pp: pool(x, (pp["pool_height"], pp["pool_width"]), pp["stride"])

    return ref


def _bn(t, x, g, b):
    return t.F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)


def _norm4d_args(r, shape=(3, 4, 3, 2)):
    x = 2.0 * r.standard_normal(shape) + 1.0
    return x, r.standard_normal(shape[1]), r.standard_normal(shape[1])


def _conv_norm_args(r):
    x, w = r.standard_normal((3, 2, 4, 4)), r.standard_normal((4, 2, 3, 3))
    return x, w, r.standard_normal(4), r.standard_normal(4), r.standard_normal(4)


def _unpool_args(r):
    x = distinct(r, (2, 3, 4, 6))
    _, cache = P.max_pool_forward_fast(x, POOL_2x2)
    values = r.standard_normal((2, 3, 2, 3))
    return values, P.max_pool_indices(cache), {**POOL_2x2, "output_size": (4, 6)}


def _unpool_ref(t):
    def ref(x, indices, up):
        size = (up["pool_height"], up["pool_width"])
        return t.F.max_unpool2d(x, indices, size, up["stride"], output_size=up["output_size"])

    return ref


# ------------------------------------------------------------------------------ conv
for _name, _fwd, _bwd, _param, _kw in [
    ("conv_naive", CV.conv_forward_naive, CV.conv_backward_naive, {"stride": 2, "pad": 1},
     {"shape": (2, 3, 7, 5)}),
    ("conv_fast", CV.conv_forward_fast, CV.conv_backward_fast, {"stride": 1, "pad": 1}, {}),
    # 12 channels: the stride-1 row-window kernel (WW * C >= 32)
    ("conv_fast_rows", CV.conv_forward_fast, CV.conv_backward_fast, {"stride": 1, "pad": 1},
     {"shape": (2, 12, 4, 5), "filters": 5}),
    ("conv_fast_strided", CV.conv_forward_fast, CV.conv_backward_fast, {"stride": 2, "pad": 0},
     {"shape": (2, 3, 7, 5)}),
]:  # fmt: skip
    register_layer(_name, _fwd, _bwd, _conv_args(_param, **_kw), _CONV, ("x", "w", "b"),
                   twin=lambda t: t.TF.conv, reference=_conv_ref)  # fmt: skip

# ----------------------------------------------------------------------------- pools
for _name, _fwd, _bwd, _param, _shape in [
    ("max_pool_naive", P.max_pool_forward_naive, P.max_pool_backward_naive, POOL_2x2,
     (2, 3, 6, 6)),
    ("max_pool_fast", P.max_pool_forward_fast, P.max_pool_backward_fast, POOL_2x2, (2, 3, 6, 6)),
    ("max_pool_fast_overlap", P.max_pool_forward_fast, P.max_pool_backward_fast, POOL_3x3_S1,
     (2, 2, 5, 6)),
]:  # fmt: skip
    register_layer(_name, _fwd, _bwd, lambda r, s=_shape, p=_param: (distinct(r, s), dict(p)),
                   ("x", "pool_param"), ("x",), kink=True, twin=lambda t: t.TF.max_pool,
                   reference=_pool_ref("max_pool2d"))  # fmt: skip
for _name, _param, _shape in [("avg_pool", POOL_2x2, (2, 3, 6, 4)),
                              ("avg_pool_overlap", POOL_3x3_S1, (2, 2, 5, 6))]:  # fmt: skip
    register_layer(_name, P.avg_pool_forward, P.avg_pool_backward,
                   lambda r, s=_shape, p=_param: (r.standard_normal(s), dict(p)),
                   ("x", "pool_param"), ("x",), twin=lambda t: t.TF.avg_pool,
                   reference=_pool_ref("avg_pool2d"))  # fmt: skip
register_layer(
    "global_avg_pool", P.global_avg_pool_forward, P.global_avg_pool_backward,
    lambda r: (r.standard_normal((3, 4, 3, 5)),), ("x",), ("x",),
    twin=lambda t: t.TF.global_avg_pool,
    reference=lambda t: lambda x: t.F.adaptive_avg_pool2d(x, 1).flatten(1),
    public=("max_pool_indices",),  # checked through max_unpool's inputs
)  # fmt: skip

# --------------------------------------------------------------------- spatial norms
register_layer(
    "spatial_batchnorm", SN.spatial_batchnorm_forward, SN.spatial_batchnorm_backward,
    lambda r: (*_norm4d_args(r), {"mode": "train"}), ("x", "gamma", "beta", "bn_param"),
    ("x", "gamma", "beta"), twin=lambda t: t.TF.spatial_batchnorm,
    reference=lambda t: lambda x, g, b, p: _bn(t, x, g, b),
)  # fmt: skip
register_layer(
    "spatial_groupnorm", SN.spatial_groupnorm_forward, SN.spatial_groupnorm_backward,
    lambda r: (*_norm4d_args(r, (2, 6, 3, 2)), 2, {}), ("x", "gamma", "beta", "G", "gn_param"),
    ("x", "gamma", "beta"), twin=lambda t: t.TF.spatial_groupnorm,
    reference=lambda t: lambda x, g, b, G, p: t.F.group_norm(x, G, g, b, eps=1e-5),
)  # fmt: skip

# -------------------------------------------------------------------------- upsample
register_layer(
    "conv_transpose", U.conv_transpose_forward, U.conv_transpose_backward,
    lambda r: (r.standard_normal((2, 3, 3, 4)), r.standard_normal((3, 2, 3, 3)),
               r.standard_normal(2), {"stride": 2, "pad": 1}),
    _CONV, ("x", "w", "b"), twin=lambda t: t.TF.conv_transpose,
    reference=lambda t: lambda x, w, b, cp: t.F.conv_transpose2d(x, w, b, stride=cp["stride"],
                                                                 padding=cp["pad"]),
)  # fmt: skip
register_layer(
    "max_unpool", U.max_unpool_forward, U.max_unpool_backward, _unpool_args,
    ("x", "indices", "unpool_param"), ("x",), twin=lambda t: t.TF.max_unpool,
    reference=_unpool_ref,
)  # fmt: skip

# ------------------------------------------------------------------------ sandwiches
register_layer(
    "conv_relu", CC.conv_relu_forward, CC.conv_relu_backward,
    _conv_args({"stride": 1, "pad": 1}), _CONV, ("x", "w", "b"), kink=True,
    twin=lambda t: t.TF.conv_relu,
    reference=lambda t: lambda *a: t.F.relu(_conv_ref(t)(*a)),
)  # fmt: skip
register_layer(
    "conv_relu_pool", CC.conv_relu_pool_forward, CC.conv_relu_pool_backward,
    lambda r: (*_conv_args({"stride": 1, "pad": 1}, shape=(2, 3, 4, 4))(r), dict(POOL_2x2)),
    (*_CONV, "pool_param"), ("x", "w", "b"), kink=True, twin=lambda t: t.TF.conv_relu_pool,
    reference=lambda t: lambda x, w, b, cp, pp: t.F.max_pool2d(
        t.F.relu(_conv_ref(t)(x, w, b, cp)), 2, 2),
)  # fmt: skip
register_layer(
    "conv_bn_relu", CC.conv_bn_relu_forward, CC.conv_bn_relu_backward,
    lambda r: (*_conv_norm_args(r), {"pad": 1}, {}),
    ("x", "w", "b", "gamma", "beta", "conv_param", "bn_param"),
    ("x", "w", "b", "gamma", "beta"), kink=True,
    zero_grads=("b",),  # batch norm removes any per-channel shift before it
    twin=lambda t: t.TF.conv_bn_relu,
    reference=lambda t: lambda x, w, b, g, be, cp, p: t.F.relu(
        _bn(t, t.F.conv2d(x, w, b, padding=1), g, be)),
)  # fmt: skip
register_layer(
    "conv_groupnorm_relu", CC.conv_norm_relu_forward, CC.conv_norm_relu_backward,
    lambda r: (*_conv_norm_args(r), {"pad": 1}, {"G": 2}, "groupnorm"),
    ("x", "w", "b", "gamma", "beta", "conv_param", "norm_param", "norm"),
    ("x", "w", "b", "gamma", "beta"), kink=True, twin=lambda t: t.TF.conv_norm_relu,
    reference=lambda t: lambda x, w, b, g, be, *_: t.F.relu(
        t.F.group_norm(t.F.conv2d(x, w, b, padding=1), 2, g, be, eps=1e-5)),
)  # fmt: skip
register_layer(
    "conv_batchnorm_gelu", CC.conv_norm_act_forward, CC.conv_norm_act_backward,
    lambda r: (*_conv_norm_args(r), {"pad": 1}, {}, "batchnorm", "gelu"),
    ("x", "w", "b", "gamma", "beta", "conv_param", "norm_param", "norm", "activation"),
    ("x", "w", "b", "gamma", "beta"), zero_grads=("b",), twin=lambda t: t.TF.conv_norm_act,
    reference=lambda t: lambda x, w, b, g, be, *_: t.F.gelu(
        _bn(t, t.F.conv2d(x, w, b, padding=1), g, be)),
)  # fmt: skip


# -------------------------------------------------------------------------- residual
def _residual_args(channels_in, channels_out, projection, stride, size=4):
    def make(r):
        x = r.standard_normal((2, channels_in, size, size))
        args = [x]
        for c_in in (channels_in, channels_out):
            args += [
                0.5 * r.standard_normal((channels_out, c_in, 3, 3)),
                r.standard_normal(channels_out),
                1.0 + 0.2 * r.standard_normal(channels_out),
                r.standard_normal(channels_out),
            ]
        args.append({"stride": stride})
        if projection:
            args += [r.standard_normal((channels_out, channels_in, 1, 1))]
            args += [r.standard_normal(channels_out)]
        return tuple(args)

    return make


def _residual_ref(t):
    def ref(x, w1, b1, g1, be1, w2, b2, g2, be2, block_param, wp=None, bp=None):
        stride = block_param["stride"]
        h = t.F.relu(_bn(t, t.F.conv2d(x, w1, b1, stride=stride, padding=1), g1, be1))
        z = _bn(t, t.F.conv2d(h, w2, b2, padding=1), g2, be2)
        shortcut = x if wp is None else t.F.conv2d(x, wp, bp, stride=stride)
        return t.F.relu(z + shortcut)

    return ref


_RES = ("x", "w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2")
register_layer(
    "residual_block", CC.residual_block_forward, CC.residual_block_backward,
    _residual_args(3, 3, projection=False, stride=1), (*_RES, "block_param"), _RES, kink=True,
    zero_grads=("b1", "b2"), twin=lambda t: t.TF.residual_block, reference=_residual_ref,
)  # fmt: skip
register_layer(
    "residual_block_proj", CC.residual_block_forward, CC.residual_block_backward,
    _residual_args(2, 4, projection=True, stride=2, size=5), (*_RES, "block_param", "wp", "bp"),
    (*_RES, "wp", "bp"), kink=True, zero_grads=("b1", "b2"), twin=lambda t: t.TF.residual_block,
    reference=_residual_ref,
)  # fmt: skip
