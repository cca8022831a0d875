"""NumPy attention and Transformer layers: torch agreement to 1e-10 in float64 (outputs and
every gradient, with and without masks), exact causality, exact zero weight on padding, the
positional encoding's closed form, fully masked rows and clear errors."""

import math

import numpy as np
import pytest

import visionblocks.layers as L
from helpers import torch
from visionblocks.errors import ShapeError
from visionblocks.layers.transformer import decoder_layer_param_shapes

RTOL, ATOL = 1e-10, 1e-12


def _t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _weights(rng, e):
    return [0.5 * rng.standard_normal((e, e)) if i % 2 == 0 else 0.2 * rng.standard_normal(e)
            for i in range(8)]  # fmt: skip


def _pad(lengths, t):
    return np.arange(t)[None] >= np.asarray(lengths)[:, None]  # (N, T) True = padded


MASKS = {
    "none": lambda rng, n, s, t: {},
    "causal": lambda rng, n, s, t: {"causal": True},
    "padding": lambda rng, n, s, t: {"key_padding_mask": _pad(rng.integers(2, t + 1, n), t)},
    "causal+padding": lambda rng, n, s, t: {"causal": True,
                                            "key_padding_mask": _pad(np.full(n, t - 2), t)},
}  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("mask", list(MASKS))
def test_sdpa_equals_torch_outputs_and_gradients(rng, mask):
    n, h, s, d = 3, 2, 6, 4
    q, k, v = (rng.standard_normal((n, h, s, d)) for _ in range(3))
    param = MASKS[mask](rng, n, s, s)
    out, cache = L.scaled_dot_product_attention_forward(q, k, v, param)
    dout = rng.standard_normal(out.shape)
    grads = L.scaled_dot_product_attention_backward(dout, cache)
    tq, tk, tv = _t(q), _t(k), _t(v)
    tmask = torch.ones(n, 1, s, s, dtype=torch.bool)
    if param.get("causal"):
        tmask &= torch.ones(s, s, dtype=torch.bool).tril()
    if "key_padding_mask" in param:
        tmask &= ~torch.from_numpy(param["key_padding_mask"])[:, None, None, :]
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask)
    ref.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    for g, t in zip(grads, (tq, tk, tv)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.torch
@pytest.mark.parametrize("mask", list(MASKS))
def test_multihead_attention_equals_nn_multiheadattention_with_copied_weights(rng, mask):
    n, s, t, e, h = 2, 5, 7, 8, 4
    query, key, value = rng.standard_normal((n, s, e)), *rng.standard_normal((2, n, t, e))
    w = _weights(rng, e)
    param = {"num_heads": h, **MASKS[mask](rng, n, s, t)}
    out, cache = L.multihead_attention_forward(query, key, value, *w, param)
    dout = rng.standard_normal(out.shape)
    dq, dk, dv, *dw = L.multihead_attention_backward(dout, cache)

    mha = torch.nn.MultiheadAttention(e, h, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # copy our weights in: torch holds (out, in), we hold (in, out)
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w[0].T, w[2].T, w[4].T])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([w[1], w[3], w[5]])))
        mha.out_proj.weight.copy_(torch.from_numpy(w[6].T))
        mha.out_proj.bias.copy_(torch.from_numpy(w[7]))
    kwargs = {"need_weights": False}
    if param.get("causal"):
        kwargs["attn_mask"] = ~torch.ones(s, t, dtype=torch.bool).tril()  # True = blocked
    if "key_padding_mask" in param:
        kwargs["key_padding_mask"] = torch.from_numpy(param["key_padding_mask"])
    tq, tk, tv = _t(query), _t(key), _t(value)
    ref = mha(tq, tk, tv, **kwargs)[0]
    ref.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    for g, tt in zip((dq, dk, dv), (tq, tk, tv)):
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=RTOL, atol=ATOL)
    gw = mha.in_proj_weight.grad.numpy()
    gb = mha.in_proj_bias.grad.numpy()
    for i in range(3):
        np.testing.assert_allclose(dw[2 * i], gw[i * e : (i + 1) * e].T, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(dw[2 * i + 1], gb[i * e : (i + 1) * e], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dw[6], mha.out_proj.weight.grad.numpy().T, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dw[7], mha.out_proj.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


def _decoder_params(rng, d, f):
    return {k: (1.0 if k.endswith("gamma") else 0.0) + 0.4 * rng.standard_normal(shape)
            for k, shape in decoder_layer_param_shapes(d, f).items()}  # fmt: skip


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_decoder_layer_is_causal_exactly(rng, norm):
    n, t, s, d = 2, 7, 3, 8
    params = _decoder_params(rng, d, 16)
    x, memory = rng.standard_normal((n, t, d)), rng.standard_normal((n, s, d))
    lp = {"num_heads": 2, "norm": norm}
    out, _ = L.transformer_decoder_layer_forward(x, memory, params, lp)
    for cut in (1, 4):
        x2 = x.copy()
        x2[:, cut:] = rng.standard_normal((n, t - cut, d)) * 10.0
        out2, _ = L.transformer_decoder_layer_forward(x2, memory, params, lp)
        assert np.array_equal(out[:, :cut], out2[:, :cut])  # bit for bit
        assert not np.allclose(out[:, cut:], out2[:, cut:])


def test_padded_keys_get_exactly_zero_weight_and_rows_sum_to_one(rng):
    n, e, t = 3, 8, 6
    x = rng.standard_normal((n, t, e))
    pad = np.arange(t)[None] >= np.array([6, 4, 1])[:, None]  # lengths 6, 4, 1
    out, cache = L.multihead_attention_forward(
        x, x, x, *_weights(rng, e), {"num_heads": 2, "key_padding_mask": pad}
    )
    w = L.attention_weights(cache)  # (N, H, T, T)
    assert np.all(w[np.broadcast_to(pad[:, None, None, :], w.shape)] == 0.0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-14)
    # the padded keys' values do not matter at all
    x2 = x.copy()
    x2[pad] = 1e3
    out2, _ = L.multihead_attention_forward(
        x, x2, x2, *_weights(np.random.default_rng(0), e), {"num_heads": 2, "key_padding_mask": pad}
    )
    out1, _ = L.multihead_attention_forward(
        x, x, x, *_weights(np.random.default_rng(0), e), {"num_heads": 2, "key_padding_mask": pad}
    )
    np.testing.assert_array_equal(out1, out2)


def test_masking_scores_not_weights(rng):
    """-inf before the softmax renormalises over the kept keys (zeroing after would not)."""
    q, k, v = (rng.standard_normal((1, 1, 3, 2)) for _ in range(3))
    _, cache = L.scaled_dot_product_attention_forward(q, k, v, {"causal": True})
    w = L.attention_weights(cache)[0, 0]
    np.testing.assert_allclose(w[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(w.sum(-1), 1.0)


def test_fully_masked_rows_give_zero_output_and_gradient_not_nan(rng):
    q, k, v = (rng.standard_normal((2, 1, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    out, cache = L.scaled_dot_product_attention_forward(q, k, v, {"attn_mask": mask})
    assert np.all(np.isfinite(out)) and np.all(out[:, :, 1] == 0.0)
    dq, dk, dv = L.scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert np.all(dq[:, :, 1] == 0.0) and all(np.all(np.isfinite(g)) for g in (dq, dk, dv))


def test_positional_encoding_equals_its_closed_form():
    max_len, dim = 9, 6
    pe = L.sinusoidal_positional_encoding(max_len, dim)
    for pos in range(max_len):
        for i in range(dim // 2):
            angle = pos / 10000 ** (2 * i / dim)
            assert pe[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-15)
            assert pe[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-15)
    x = np.zeros((2, 4, dim))
    out, _ = L.positional_encoding_forward(x, {"offset": 3})
    np.testing.assert_array_equal(out[1], pe[3:7])


def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    w = [a.astype(np.float32) for a in _weights(rng, 8)]
    out, cache = L.multihead_attention_forward(x, x, x, *w, {"num_heads": 2, "causal": True})
    grads = L.multihead_attention_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


def test_bad_inputs_name_the_argument(rng):
    x = rng.standard_normal((2, 5, 8))
    w = _weights(rng, 8)
    with pytest.raises(ValueError, match="num_heads"):
        L.multihead_attention_forward(x, x, x, *w, {"num_heads": 3})
    with pytest.raises(ShapeError, match="key_padding_mask"):
        L.multihead_attention_forward(
            x, x, x, *w, {"num_heads": 2, "key_padding_mask": np.zeros((2, 4), bool)}
        )
    with pytest.raises(TypeError, match="attn_mask"):
        L.scaled_dot_product_attention_forward(x, x, x, {"attn_mask": np.ones((5, 5))})
    with pytest.raises(ShapeError, match="attn_mask"):
        L.scaled_dot_product_attention_forward(x, x, x, {"attn_mask": np.ones((4, 5), bool)})
    with pytest.raises(ValueError, match="norm"):
        L.feedforward_block_forward(x, np.ones(8), np.zeros(8), np.ones((8, 4)), np.zeros(4),
                                    np.ones((4, 8)), np.zeros(8), {"norm": "middle"})  # fmt: skip
    with pytest.raises(ShapeError, match="pos_embed"):
        L.learned_positional_embedding_forward(x, np.zeros((3, 8)))


@pytest.mark.torch
def test_torch_twin_and_course_module_agree_on_fully_masked_rows(rng):
    from visionblocks.torchkit.functional_attention import scaled_dot_product_attention
    from visionblocks.torchkit.transformer_layers import MultiHeadAttention

    q, k, v = (rng.standard_normal((2, 1, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), dtype=bool)
    mask[2] = False
    out, _ = L.scaled_dot_product_attention_forward(q, k, v, {"attn_mask": mask})
    twin = scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), {"attn_mask": mask})
    np.testing.assert_allclose(out, twin.numpy(), rtol=RTOL, atol=ATOL)
    mha = MultiHeadAttention(4, 1).eval()
    x = torch.randn(2, 3, 4)
    y = mha(x, x, x, attn_mask=torch.from_numpy(mask))
    torch.testing.assert_close(y[:, 2], mha.proj.bias.expand(2, 4))  # zero weights: bias only
    assert torch.isfinite(y).all()
