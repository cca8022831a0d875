"""Registry entries of the attention family: scaled dot-product and multi-head attention,
positional encodings, the feed-forward network, residual blocks and Transformer layers.

References are torch's own: ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``,
``nn.TransformerEncoderLayer`` and ``nn.TransformerDecoderLayer`` run with our weights through
``torch.func.functional_call`` (so gradients reach them). No row has a fully masked query row:
torch's modules disagree on what that means (see ``layers/attention.py`` for ours).
"""

from __future__ import annotations

import numpy as np

from visionblocks.layers import attention as AT
from visionblocks.layers import transformer as TR
from visionblocks.layers.registry import register_layer

N, S, T, D, H, FF = 2, 3, 4, 4, 2, 6  # batch, targets, memory, width, heads, ffn width
_W = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")


def _attn_weights(r, d=D):
    return tuple(0.6 * r.standard_normal((d, d)) if n[0] == "w" else 0.3 * r.standard_normal(d)
                 for n in _W)  # fmt: skip


def _padding(n, t, lengths):
    return np.arange(t)[None, :] >= np.asarray(lengths)[:, None]  # (N, T) True = padded


def _random_mask(r, s, t):
    mask = r.random((s, t)) < 0.6
    mask[np.arange(s), r.integers(0, t, s)] = True  # every query keeps a key
    return mask


# ---------------------------------------------------------------- torch references (t: ns)
def _torch_mask(t, attn_param, n, s, k):
    """Combined boolean mask (True = may attend), (N, 1, S, T) or None."""
    mask = t.torch.ones(n, 1, s, k, dtype=t.torch.bool)
    if attn_param.get("attn_mask") is not None:
        mask = mask & t.torch.as_tensor(attn_param["attn_mask"])
    if attn_param.get("key_padding_mask") is not None:
        mask = mask & ~t.torch.as_tensor(attn_param["key_padding_mask"])[:, None, None, :]
    if attn_param.get("causal"):
        mask = mask & t.torch.ones(s, k, dtype=t.torch.bool).tril()
    return mask


def _sdpa_ref(t):
    def ref(q, k, v, attn_param):
        mask = _torch_mask(t, attn_param, q.shape[0], q.shape[-2], k.shape[-2])
        return t.F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    return ref


def _mha_module(t, e, h):
    return t.torch.nn.MultiheadAttention(e, h, dropout=0.0, batch_first=True,
                                         dtype=t.torch.float64)  # fmt: skip


def _mha_state(t, prefix, wq, bq, wk, bk, wv, bv, wo, bo):
    cat = t.torch.cat
    return {f"{prefix}in_proj_weight": cat([wq.T, wk.T, wv.T]),
            f"{prefix}in_proj_bias": cat([bq, bk, bv]),
            f"{prefix}out_proj.weight": wo.T, f"{prefix}out_proj.bias": bo}  # fmt: skip


def _mha_call(t, query, key, value, weights, attn_param):
    """``nn.MultiheadAttention`` with our weights; its masks use True = blocked."""
    module = _mha_module(t, query.shape[-1], attn_param["num_heads"])
    s, k = query.shape[1], key.shape[1]
    kwargs = {"need_weights": False}
    blocked = t.torch.zeros(s, k, dtype=t.torch.bool)
    if attn_param.get("attn_mask") is not None:
        blocked = blocked | ~t.torch.as_tensor(attn_param["attn_mask"])
    if attn_param.get("causal"):
        blocked = blocked | ~t.torch.ones(s, k, dtype=t.torch.bool).tril()
    kwargs["attn_mask"] = blocked
    if attn_param.get("key_padding_mask") is not None:
        kwargs["key_padding_mask"] = t.torch.as_tensor(attn_param["key_padding_mask"])
    state = _mha_state(t, "", *weights)
    return t.torch.func.functional_call(module, state, (query, key, value), kwargs)[0]


def _mha_ref(t):
    return lambda q, k, v, *rest: _mha_call(t, q, k, v, rest[:8], rest[8])


def _ln(t, x, g, b):
    return t.F.layer_norm(x, (x.shape[-1],), g, b, eps=1e-5)


def _ffn_ref(t, x, w1, b1, w2, b2):
    return t.F.linear(t.F.relu(t.F.linear(x, w1.T, b1)), w2.T, b2)


def _residual_ref(t, x, g, b, f, norm):
    return x + f(_ln(t, x, g, b)) if norm == "pre" else _ln(t, x + f(x), g, b)


def _self_block_ref(t):
    def ref(x, g, b, *rest):
        w, bp = rest[:8], rest[8]
        ap = {k: bp.get(k) for k in ("num_heads", "causal", "attn_mask", "key_padding_mask")}
        return _residual_ref(t, x, g, b, lambda h: _mha_call(t, h, h, h, w, ap), bp["norm"])

    return ref


def _cross_block_ref(t):
    def ref(x, m, g, b, *rest):
        w, bp = rest[:8], rest[8]
        ap = {"num_heads": bp["num_heads"], "key_padding_mask": bp.get("memory_padding_mask")}
        return _residual_ref(t, x, g, b, lambda h: _mha_call(t, h, m, m, w, ap), bp["norm"])

    return ref


def _ffn_block_ref(t):
    def ref(x, g, b, w1, b1, w2, b2, bp):
        return _residual_ref(t, x, g, b, lambda h: _ffn_ref(t, h, w1, b1, w2, b2), bp["norm"])

    return ref


# ------------------------------------------------------------------------ attention rows
def _sdpa_args(attn_param_fn, s=S, t=T):
    def make(r):
        q = r.standard_normal((N, H, s, 3))
        k, v = r.standard_normal((N, H, t, 3)), r.standard_normal((N, H, t, 5))
        return q, k, v, attn_param_fn(r)

    return make


_SDPA = ("q", "k", "v", "attn_param")
for _name, _param, _st in [
    ("scaled_dot_product_attention", lambda r: {}, (S, T)),
    ("scaled_dot_product_attention_causal", lambda r: {"causal": True}, (T, T)),
    ("scaled_dot_product_attention_masked",
     lambda r: {"attn_mask": _random_mask(r, S, T), "key_padding_mask": _padding(N, T, [4, 3])},
     (S, T)),
    ("scaled_dot_product_attention_causal_padded",
     lambda r: {"causal": True, "key_padding_mask": _padding(N, T, [4, 2])}, (T, T)),
]:  # fmt: skip
    register_layer(_name, AT.scaled_dot_product_attention_forward,
                   AT.scaled_dot_product_attention_backward, _sdpa_args(_param, *_st), _SDPA,
                   ("q", "k", "v"), twin=lambda t: t.TF.scaled_dot_product_attention,
                   reference=_sdpa_ref)  # fmt: skip


def _mha_args(attn_param_fn, s=S, t=T):
    def make(r):
        q, k, v = (r.standard_normal((N, n, D)) for n in (s, t, t))
        return (q, k, v, *_attn_weights(r), {"num_heads": H, **attn_param_fn(r)})

    return make


_MHA = ("query", "key", "value", *_W, "attn_param")
for _name, _param, _st in [
    ("multihead_attention", lambda r: {}, (S, T)),
    ("multihead_attention_masked",
     lambda r: {"attn_mask": _random_mask(r, S, T), "key_padding_mask": _padding(N, T, [3, 4])},
     (S, T)),
    ("multihead_attention_causal", lambda r: {"causal": True}, (T, T)),
]:  # fmt: skip
    register_layer(_name, AT.multihead_attention_forward, AT.multihead_attention_backward,
                   _mha_args(_param, *_st), _MHA, _MHA[:-1],
                   zero_grads=("bk",),  # a key bias shifts a whole row of scores: softmax drops it
                   twin=lambda t: t.TF.multihead_attention, reference=_mha_ref)  # fmt: skip


# ---------------------------------------------------------------- encodings, norm, ffn
def _pe_ref(t):
    def ref(x, pe_param):
        off = pe_param.get("offset", 0)
        pos = t.torch.arange(off, off + x.shape[1], dtype=t.torch.float64)  # (T,)
        freq = 1.0 / 10000.0 ** (t.torch.arange(0, x.shape[2], 2, dtype=t.torch.float64)
                                 / x.shape[2])  # fmt: skip
        angles = t.torch.outer(pos, freq)  # (T, D/2)
        pe = t.torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # interleaved
        return x + pe

    return ref


register_layer(
    "positional_encoding", TR.positional_encoding_forward, TR.positional_encoding_backward,
    lambda r: (r.standard_normal((N, 5, 6)), {"offset": 2}), ("x", "pe_param"), ("x",),
    twin=lambda t: t.TF.positional_encoding, reference=_pe_ref,
    public=("sinusoidal_positional_encoding",),
)  # fmt: skip
register_layer(
    "learned_positional_embedding", TR.learned_positional_embedding_forward,
    TR.learned_positional_embedding_backward,
    lambda r: (r.standard_normal((N, T, D)), r.standard_normal((7, D))), ("x", "pos_embed"),
    ("x", "pos_embed"), twin=lambda t: t.TF.learned_positional_embedding,
    reference=lambda t: lambda x, p: x + t.torch.narrow(p, 0, 0, x.shape[1]),
)  # fmt: skip
register_layer(
    "sequence_layernorm", TR.sequence_layernorm_forward, TR.sequence_layernorm_backward,
    lambda r: (2.0 * r.standard_normal((N, T, D)) + 1.0, r.standard_normal(D),
               r.standard_normal(D), {}),
    ("x", "gamma", "beta", "ln_param"), ("x", "gamma", "beta"),
    twin=lambda t: t.TF.sequence_layernorm, reference=lambda t: lambda x, g, b, p: _ln(t, x, g, b),
)  # fmt: skip


def _ffn_weights(r):
    return (r.standard_normal((D, FF)), r.standard_normal(FF), r.standard_normal((FF, D)),
            r.standard_normal(D))  # fmt: skip


register_layer(
    "feedforward", TR.feedforward_forward, TR.feedforward_backward,
    lambda r: (r.standard_normal((N, T, D)), *_ffn_weights(r)),
    ("x", "w1", "b1", "w2", "b2"), ("x", "w1", "b1", "w2", "b2"), kink=True,
    twin=lambda t: t.TF.feedforward, reference=lambda t: lambda *a: _ffn_ref(t, *a),
)  # fmt: skip


# -------------------------------------------------------------------- residual blocks
def _ln_params(r):
    return 1.0 + 0.3 * r.standard_normal(D), 0.3 * r.standard_normal(D)


_SELF = ("x", "gamma", "beta", *_W, "block_param")
_CROSS = ("x", "memory", "gamma", "beta", *_W, "block_param")
_FFB = ("x", "gamma", "beta", "w1", "b1", "w2", "b2", "block_param")
for _norm in ("post", "pre"):
    register_layer(
        f"self_attention_block_{_norm}", TR.self_attention_block_forward,
        TR.self_attention_block_backward,
        lambda r, n=_norm: (r.standard_normal((N, T, D)), *_ln_params(r), *_attn_weights(r),
                            {"norm": n, "num_heads": H, "causal": True,
                             "key_padding_mask": _padding(N, T, [4, 3])}),
        _SELF, _SELF[:-1], zero_grads=("bk",), twin=lambda t: t.TF.self_attention_block,
        reference=_self_block_ref,
    )  # fmt: skip
    register_layer(
        f"cross_attention_block_{_norm}", TR.cross_attention_block_forward,
        TR.cross_attention_block_backward,
        lambda r, n=_norm: (r.standard_normal((N, S, D)), r.standard_normal((N, T, D)),
                            *_ln_params(r), *_attn_weights(r),
                            {"norm": n, "num_heads": H,
                             "memory_padding_mask": _padding(N, T, [2, 4])}),
        _CROSS, _CROSS[:-1], zero_grads=("bk",), twin=lambda t: t.TF.cross_attention_block,
        reference=_cross_block_ref,
    )  # fmt: skip
    register_layer(
        f"feedforward_block_{_norm}", TR.feedforward_block_forward, TR.feedforward_block_backward,
        lambda r, n=_norm: (r.standard_normal((N, T, D)), *_ln_params(r), *_ffn_weights(r),
                            {"norm": n}),
        _FFB, _FFB[:-1], kink=True, twin=lambda t: t.TF.feedforward_block,
        reference=_ffn_block_ref,
    )  # fmt: skip


# --------------------------------------------------------------- encoder / decoder layers
_ENC = tuple(TR.encoder_layer_param_shapes(D, FF))
_DEC = tuple(TR.decoder_layer_param_shapes(D, FF))


def _layer_params(r, shapes):
    out = []
    for name, shape in shapes.items():
        if name.endswith("gamma"):
            out.append(1.0 + 0.3 * r.standard_normal(shape))
        else:
            out.append((0.6 if "_w" in name else 0.3) * r.standard_normal(shape))
    return out


def _encoder_forward(x, *rest):
    return TR.transformer_encoder_layer_forward(x, dict(zip(_ENC, rest[:-1])), rest[-1])


def _encoder_backward(dout, cache):
    dx, grads = TR.transformer_encoder_layer_backward(dout, cache)
    return (dx, *(grads[k] for k in _ENC))


def _decoder_forward(x, memory, *rest):
    return TR.transformer_decoder_layer_forward(x, memory, dict(zip(_DEC, rest[:-1])), rest[-1])


def _decoder_backward(dout, cache):
    dx, dmemory, grads = TR.transformer_decoder_layer_backward(dout, cache)
    return (dx, dmemory, *(grads[k] for k in _DEC))


def _encoder_ref(t):
    def ref(x, *rest):
        p, lp = dict(zip(_ENC, rest[:-1])), rest[-1]
        layer = t.torch.nn.TransformerEncoderLayer(
            D, lp["num_heads"], FF, dropout=0.0, batch_first=True, norm_first=lp["norm"] == "pre",
            dtype=t.torch.float64)  # fmt: skip
        state = {**_mha_state(t, "self_attn.", *(p[f"attn_{n}"] for n in _W)),
                 **_torch_ln_ffn(p, ("norm1", "ln1"), ("norm2", "ln2"))}  # fmt: skip
        pad = t.torch.as_tensor(lp["key_padding_mask"])
        return t.torch.func.functional_call(layer, state, (x,), {"src_key_padding_mask": pad})

    return ref


def _decoder_ref(t):
    def ref(x, m, *rest):
        p, lp = dict(zip(_DEC, rest[:-1])), rest[-1]
        layer = t.torch.nn.TransformerDecoderLayer(
            D, lp["num_heads"], FF, dropout=0.0, batch_first=True, norm_first=lp["norm"] == "pre",
            dtype=t.torch.float64)  # fmt: skip
        state = {**_mha_state(t, "self_attn.", *(p[f"self_{n}"] for n in _W)),
                 **_mha_state(t, "multihead_attn.", *(p[f"cross_{n}"] for n in _W)),
                 **_torch_ln_ffn(p, ("norm1", "ln1"), ("norm2", "ln2"),
                                 ("norm3", "ln3"))}  # fmt: skip
        causal = ~t.torch.ones(x.shape[1], x.shape[1], dtype=t.torch.bool).tril()  # True = blocked
        pad = t.torch.as_tensor
        kwargs = {"tgt_mask": causal, "tgt_key_padding_mask": pad(lp["key_padding_mask"]),
                  "memory_key_padding_mask": pad(lp["memory_padding_mask"])}  # fmt: skip
        return t.torch.func.functional_call(layer, state, (x, m), kwargs)

    return ref


def _torch_ln_ffn(p, *norms):
    state = {"linear1.weight": p["ffn_w1"].T, "linear1.bias": p["ffn_b1"],
             "linear2.weight": p["ffn_w2"].T, "linear2.bias": p["ffn_b2"]}  # fmt: skip
    for torch_name, ours in norms:
        state[f"{torch_name}.weight"] = p[f"{ours}_gamma"]
        state[f"{torch_name}.bias"] = p[f"{ours}_beta"]
    return state


for _norm in ("post", "pre"):
    register_layer(
        f"transformer_encoder_layer_{_norm}", _encoder_forward, _encoder_backward,
        lambda r, n=_norm: (r.standard_normal((N, T, D)),
                            *_layer_params(r, TR.encoder_layer_param_shapes(D, FF)),
                            {"norm": n, "num_heads": H,
                             "key_padding_mask": _padding(N, T, [4, 3])}),
        ("x", *_ENC, "layer_param"), ("x", *_ENC), kink=True, zero_grads=("attn_bk",),
        twin=lambda t: lambda x, *a: t.TF.transformer_encoder_layer(x, dict(zip(_ENC, a[:-1])),
                                                                    a[-1]),
        reference=_encoder_ref,
        public=("transformer_encoder_layer_forward", "transformer_encoder_layer_backward",
                "encoder_layer_param_shapes"),
    )  # fmt: skip
    register_layer(
        f"transformer_decoder_layer_{_norm}", _decoder_forward, _decoder_backward,
        lambda r, n=_norm: (r.standard_normal((N, S, D)), r.standard_normal((N, T, D)),
                            *_layer_params(r, TR.decoder_layer_param_shapes(D, FF)),
                            {"norm": n, "num_heads": H,
                             "key_padding_mask": _padding(N, S, [3, 2]),
                             "memory_padding_mask": _padding(N, T, [4, 2])}),
        ("x", "memory", *_DEC, "layer_param"), ("x", "memory", *_DEC), kink=True,
        zero_grads=("self_bk", "cross_bk"),
        twin=lambda t: lambda x, m, *a: t.TF.transformer_decoder_layer(
            x, m, dict(zip(_DEC, a[:-1])), a[-1]),
        reference=_decoder_ref,
        public=("transformer_decoder_layer_forward", "transformer_decoder_layer_backward",
                "decoder_layer_param_shapes"),
    )  # fmt: skip
