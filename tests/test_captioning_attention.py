"""The Show, Attend and Tell captioner: gradient check of its loss (with the doubly stochastic
penalty), the penalty's closed form, attention maps from sampling, overfitting, beam search,
and its torch twin (loss and every gradient to 1e-10 in float64, same decoding)."""

import numpy as np
import pytest

from visionblocks.captioning.attention import AttentionCaptioner
from visionblocks.errors import ShapeError
from visionblocks.gradcheck import eval_numerical_gradient
from visionblocks.layers import additive_attention_forward
from visionblocks.optim import adam

VOCAB = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4, "c": 5}
CAPTIONS = np.array([[1, 3, 4, 2, 0], [1, 5, 2, 0, 0], [1, 4, 4, 5, 2]])


def _model(reg=0.7, rng=None, dtype=np.float64):
    m = AttentionCaptioner(VOCAB, feature_shape=(3, 2, 2), wordvec_dim=4, hidden_dim=5,
                           attention_dim=3, attention_reg=reg, dtype=dtype, seed=0)  # fmt: skip
    if rng is not None:
        for k in m.params:
            m.params[k] = 0.5 * rng.standard_normal(m.params[k].shape)
    return m


def test_loss_gradient_check_with_the_attention_penalty(rng):
    model = _model(rng=rng)
    features = rng.standard_normal((3, 3, 2, 2))
    loss, grads = model.loss(features, CAPTIONS)
    assert set(grads) == set(model.params)
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(features, CAPTIONS)[0],
                                      model.params[name], verbose=False, h=1e-5)  # fmt: skip
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-9, err_msg=name)


def test_doubly_stochastic_penalty_is_its_closed_form(rng):
    model = _model(reg=0.0, rng=rng)
    features = rng.standard_normal((3, 3, 2, 2))
    plain, _ = model.loss(features, CAPTIONS)
    model.attention_reg = 2.5
    penalised, _ = model.loss(features, CAPTIONS)
    # the attention weights of teacher forcing, step by step through the public decode_step
    state = model.initial_state(features)
    coverage = np.zeros((3, 4))
    for t in range(CAPTIONS.shape[1] - 1):
        h, _, a, pa = state
        p = model.params
        _, alpha, _ = additive_attention_forward(a, pa, h, p["W_ha"], p["b_att"], p["w_att"])
        coverage += alpha * (CAPTIONS[:, t + 1] != 0)[:, None]
        _, state = model.decode_step(CAPTIONS[:, t], state)
    expected = 2.5 * np.sum((1 - coverage) ** 2) / 3
    assert penalised - plain == pytest.approx(expected, rel=1e-10)


def test_sample_returns_attention_maps(rng):
    model = _model(rng=rng)
    features = rng.standard_normal((2, 3, 2, 2))
    captions, alphas = model.sample(features, max_length=6, return_attention=True)
    assert captions.shape == (2, 6) and captions.dtype == np.int32
    assert alphas.shape == (2, 6, 2, 2)
    np.testing.assert_allclose(alphas.sum(axis=(2, 3)), 1.0, rtol=1e-12)
    assert np.array_equal(model.sample(features, max_length=6), captions)


def test_beam_of_width_one_is_greedy(rng):
    model = _model(rng=rng)
    model.params["W_vocab"] *= 10  # decisive scores
    features = rng.standard_normal((4, 3, 2, 2))
    greedy = model.sample(features, max_length=7)
    beam = model.sample_beam(features, beam_size=1, max_length=7)
    for g, b in zip(greedy, beam):
        g = list(g)
        kept = g[: g.index(2) + 1] if 2 in g else g
        assert list(b[: len(kept)]) == kept and not b[len(kept) :].any()


def test_overfits_a_few_captions():
    r = np.random.default_rng(1)
    features = r.standard_normal((6, 3, 2, 2)).astype(np.float32)
    captions = np.array([[1, 3, 4, 5, 2], [1, 4, 2, 0, 0], [1, 5, 3, 2, 0],
                         [1, 3, 3, 2, 0], [1, 5, 5, 4, 2], [1, 4, 3, 2, 0]])  # fmt: skip
    model = AttentionCaptioner(VOCAB, feature_shape=(3, 2, 2), wordvec_dim=8, hidden_dim=16,
                               attention_dim=8, attention_reg=0.0, seed=0)  # fmt: skip
    configs = {k: {"learning_rate": 2e-2} for k in model.params}
    for _ in range(150):
        loss, grads = model.loss(features, captions)
        for k in model.params:
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
    assert loss < 0.1
    sampled = model.sample(features, max_length=4)
    mask = captions[:, 1:] != 0
    assert np.array_equal(sampled[mask], captions[:, 1:][mask])


def test_bad_features_are_named():
    model = _model()
    with pytest.raises(ShapeError, match=r"features must have shape \(N, 3, 2, 2\)"):
        model.loss(np.zeros((2, 3, 3, 2)), CAPTIONS[:2])
    with pytest.raises(ValueError, match="attention_reg must be >= 0"):
        AttentionCaptioner(VOCAB, attention_reg=-1)


# --------------------------------------------------------------------------- twin
@pytest.mark.torch
def test_torch_twin_loss_gradients_and_decoding_equal_the_numpy_model(rng):
    torch = pytest.importorskip("torch")
    from visionblocks.torchkit.bridge import numpy_grads
    from visionblocks.torchkit.models_captioning import AttentionCaptioner as TorchAttention

    torch.set_num_threads(1)
    model = _model(rng=rng)
    twin = TorchAttention.from_numpy(model)
    features = rng.standard_normal((3, 3, 2, 2))
    loss, grads = model.loss(features, CAPTIONS)
    tf = torch.from_numpy(features)
    tloss = twin.loss(tf, CAPTIONS)
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-10
    tgrads = numpy_grads(twin)
    assert set(tgrads) == set(grads)
    for k in grads:
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=0, atol=1e-10, err_msg=k)
    model.params["W_vocab"] *= 10
    twin = TorchAttention.from_numpy(model)
    captions, alphas = model.sample(features, 6, return_attention=True)
    tcaptions, talphas = twin.sample(tf, 6, return_attention=True)
    assert np.array_equal(captions, tcaptions)
    np.testing.assert_allclose(alphas, talphas, rtol=0, atol=1e-12)
    assert np.array_equal(model.sample_beam(features, 3, 6), twin.sample_beam(tf, 3, 6))
    same = TorchAttention(VOCAB, feature_shape=(3, 2, 2), wordvec_dim=4, hidden_dim=5,
                          attention_dim=3, seed=0)  # fmt: skip
    ref = AttentionCaptioner(VOCAB, feature_shape=(3, 2, 2), wordvec_dim=4, hidden_dim=5,
                             attention_dim=3, seed=0)  # fmt: skip
    assert np.array_equal(same.Wz.detach().numpy(), ref.params["Wz"])
