"""CaptioningRNN through its public API: the course's fixed-parameter losses, the gradient check
of the model loss, overfitting 50 captions, greedy and beam-search decoding."""

import contextlib
import itertools

import numpy as np
import pytest

try:  # small matmuls: BLAS threads only contend on the shared cores
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from course import course_rs
from visionblocks.captioning.beam import beam_search, log_softmax
from visionblocks.captioning.rnn import CaptioningRNN
from visionblocks.errors import ShapeError
from visionblocks.gradcheck import eval_numerical_gradient
from visionblocks.optim import adam

COURSE_VOCAB = {"<NULL>": 0, "cat": 2, "dog": 3}


def _course_model(cell_type, feature_range):
    N, D, W, H, T = 10, 20, 30, 40, 13
    model = CaptioningRNN(COURSE_VOCAB, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)  # fmt: skip
    for k, v in model.params.items():
        model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)
    features = np.linspace(*feature_range, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % len(COURSE_VOCAB)).reshape(N, T)
    return model, features, captions


@pytest.mark.parametrize(
    "cell_type, feature_range, expected",
    [("rnn", (-1.5, 0.3), 9.83235591003), ("lstm", (-0.5, 1.7), 9.82445935443)],
)
def test_fixed_parameter_loss_matches_the_course(cell_type, feature_range, expected):
    model, features, captions = _course_model(cell_type, feature_range)
    loss, grads = model.loss(features, captions)
    assert abs(loss - expected) < 1e-10
    assert set(grads) == set(model.params)


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_model_loss_gradient_check_as_the_notebook(cell_type):
    rs = course_rs()
    batch_size, timesteps, input_dim, wordvec_dim, hidden_dim = 2, 3, 4, 5, 6
    captions = rs.randint(len(COURSE_VOCAB), size=(batch_size, timesteps))
    features = rs.randn(batch_size, input_dim)
    model = CaptioningRNN(COURSE_VOCAB, input_dim=input_dim, wordvec_dim=wordvec_dim,
                          hidden_dim=hidden_dim, cell_type=cell_type, dtype=np.float64,
                          seed=0)  # fmt: skip
    # O(1) weights: the course's W_embed / 100 leaves gradient entries so small (~1e-5) that
    # central differences' rounding (~1e-10) dominates their relative error
    for name in model.params:
        model.params[name] = 0.5 * rs.randn(*model.params[name].shape)
    loss, grads = model.loss(features, captions)
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(features, captions)[0],
                                      model.params[name], verbose=False, h=1e-5)  # fmt: skip
        # per element: 1e-6 relative, or 1e-9 absolute for entries near 0 (rounding ~1e-11)
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-9, err_msg=name)


def test_params_have_the_course_names_shapes_and_init():
    vocab = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3}
    shapes = {"rnn": (1, 1), "lstm": (4, 4), "gru": (3, 4)}
    for cell, (k, kb) in shapes.items():
        m = CaptioningRNN(vocab, input_dim=7, wordvec_dim=5, hidden_dim=6, cell_type=cell, seed=1)
        assert {n: p.shape for n, p in m.params.items()} == {
            "W_embed": (4, 5), "W_proj": (7, 6), "b_proj": (6,), "Wx": (5, k * 6),
            "Wh": (6, k * 6), "b": (kb * 6,), "W_vocab": (6, 4), "b_vocab": (4,),
        }  # fmt: skip
        assert all(p.dtype == np.float32 for p in m.params.values())
        assert not m.params["b"].any() and not m.params["b_vocab"].any()
    big = CaptioningRNN(vocab, input_dim=400, wordvec_dim=300, hidden_dim=200, seed=0)
    assert big.params["W_embed"].std() == pytest.approx(0.01, rel=0.1)
    assert big.params["W_proj"].std() == pytest.approx(1 / np.sqrt(400), rel=0.05)
    same = CaptioningRNN(vocab, input_dim=400, wordvec_dim=300, hidden_dim=200, seed=0)
    assert all(np.array_equal(big.params[k], same.params[k]) for k in big.params)


def test_forget_bias_option_sets_only_the_lstm_forget_gates():
    vocab = {"<NULL>": 0, "<START>": 1, "<END>": 2}
    m = CaptioningRNN(vocab, input_dim=3, wordvec_dim=2, hidden_dim=4, cell_type="lstm",
                      forget_bias=1.0)  # fmt: skip
    b = m.params["b"]
    assert np.all(b[4:8] == 1.0) and not b[:4].any() and not b[8:].any()
    with pytest.raises(ValueError, match="forget_bias is an LSTM option"):
        CaptioningRNN(vocab, cell_type="rnn", forget_bias=1.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="cell_type must be one of"):
        CaptioningRNN(COURSE_VOCAB, cell_type="transformer")
    with pytest.raises(ValueError, match="<NULL>"):
        CaptioningRNN({"cat": 0})
    m = CaptioningRNN(COURSE_VOCAB, input_dim=4, wordvec_dim=3, hidden_dim=2)
    with pytest.raises(ShapeError, match=r"features must have shape \(N, 4\)"):
        m.loss(np.zeros((2, 5), np.float32), np.zeros((2, 3), int))
    with pytest.raises(ShapeError, match="captions must have shape"):
        m.loss(np.zeros((2, 4), np.float32), np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="sampling needs '<START>'"):
        m.sample(np.zeros((2, 4), np.float32))


# ----------------------------------------------------------------------- overfitting
def synthetic_captions(n=50, length=8, vocab_words=12, input_dim=16, seed=0):
    """n random captions <START> w1 .. wk <END> <NULL>... with k in [3, length - 2], and
    random image features; the vocabulary has <NULL>, <START>, <END> and ``vocab_words``."""
    r = np.random.default_rng(seed)
    vocab = {"<NULL>": 0, "<START>": 1, "<END>": 2}
    vocab.update({f"w{i}": 3 + i for i in range(vocab_words)})
    captions = np.zeros((n, length), dtype=np.int64)
    for i in range(n):
        k = r.integers(3, length - 1)
        captions[i, 0] = 1
        captions[i, 1 : k + 1] = r.integers(3, 3 + vocab_words, k)
        captions[i, k + 1] = 2
    return vocab, r.standard_normal((n, input_dim)), captions


def _overfit(cell_type, steps, lr=1e-2):
    vocab, features, captions = synthetic_captions()
    model = CaptioningRNN(vocab, input_dim=16, wordvec_dim=16, hidden_dim=48,
                          cell_type=cell_type, seed=0)  # fmt: skip
    configs = {k: {"learning_rate": lr} for k in model.params}
    features = features.astype(np.float32)
    limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with limit:
        for _ in range(steps):
            loss, grads = model.loss(features, captions)
            for k in model.params:
                model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
    return model, loss, features, captions


@pytest.mark.parametrize("cell_type, steps, bound", [("rnn", 250, 0.1), ("lstm", 250, 0.5)])
def test_overfits_50_captions(cell_type, steps, bound):
    model, loss, features, captions = _overfit(cell_type, steps)
    assert loss < bound
    # the memorised captions come back from greedy decoding
    sampled = model.sample(features, max_length=captions.shape[1] - 1)
    mask = captions[:, 1:] != 0
    assert np.mean(sampled[mask] == captions[:, 1:][mask]) > 0.95


# -------------------------------------------------------------------------- decoding
@pytest.fixture(scope="module")
def small_model():
    vocab = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4, "c": 5}
    model = CaptioningRNN(vocab, input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type="lstm",
                          dtype=np.float64, seed=3)  # fmt: skip
    for k in model.params:  # scores far from uniform, so the search has something to find
        model.params[k] = 3 * np.random.default_rng(7).standard_normal(model.params[k].shape)
    features = np.random.default_rng(8).standard_normal((6, 4))
    return model, features


def _until_end(caption, end):
    caption = list(caption)
    return caption[: caption.index(end) + 1] if end in caption else caption


def test_sample_is_greedy_and_has_the_course_shape(small_model):
    model, features = small_model
    captions = model.sample(features, max_length=7)
    assert captions.shape == (6, 7) and captions.dtype == np.int32
    state = model.initial_state(features)
    words = np.full(6, model._start)
    for t in range(7):
        scores, state = model.decode_step(words, state)
        words = scores.argmax(axis=1)
        assert np.array_equal(captions[:, t], words)


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_beam_of_width_one_is_greedy(cell_type):
    vocab, features, _ = synthetic_captions(n=8)
    model = CaptioningRNN(vocab, input_dim=16, wordvec_dim=8, hidden_dim=10,
                          cell_type=cell_type, dtype=np.float64, seed=2)  # fmt: skip
    model.params["W_vocab"] *= 20  # decisive scores, no near-ties
    greedy = model.sample(features, max_length=10)
    beam = model.sample_beam(features, beam_size=1, max_length=10)
    for g, b in zip(greedy, beam):
        kept = _until_end(g, model._end)
        assert list(b[: len(kept)]) == kept and not b[len(kept) :].any()


def _log_prob(model, feature, caption):
    """log p(caption | image), caption given until (and with) <END>."""
    state = model.initial_state(feature[None])
    words, total = np.array([model._start]), 0.0
    for w in caption:
        scores, state = model.decode_step(words, state)
        total += log_softmax(scores)[0, w]
        words = np.array([w])
    return total


def test_a_wide_beam_finds_the_exhaustive_best_caption(small_model):
    model, features = small_model
    L, words = 3, [2, 0, 1, 3, 4, 5]  # every word may be emitted; <END> (2) ends
    for i, feature in enumerate(features):
        candidates = [list(c) for n in range(L) for c in itertools.product(words[1:], repeat=n)]
        candidates = [c + [2] for c in candidates]  # ends with <END> within L words
        candidates += [list(c) for c in itertools.product(words[1:], repeat=L)]  # cut at L
        best = max(candidates, key=lambda c: _log_prob(model, feature, c))
        found = model.sample_beam(feature[None], beam_size=len(candidates), max_length=L)[0]
        assert _until_end(found[: len(best)], 2) == best, i


def test_beam_search_scores_and_length_penalty(small_model):
    model, features = small_model
    state = model.initial_state(features)
    caps0, s0 = beam_search(model.decode_step, state, 1, 2, beam_size=4, max_length=6)
    caps1, s1 = beam_search(model.decode_step, state, 1, 2, beam_size=4, max_length=6,
                            length_penalty=1.0)  # fmt: skip
    for i, feature in enumerate(features):
        kept0, kept1 = _until_end(caps0[i], 2), _until_end(caps1[i], 2)
        lp0, lp1 = _log_prob(model, feature, kept0), _log_prob(model, feature, kept1)
        assert s0[i] == pytest.approx(lp0, abs=1e-10)  # alpha = 0: the log-probability
        assert s1[i] == pytest.approx(lp1 / len(kept1), abs=1e-10)  # alpha = 1: per word
        # the same final beams ranked per word: never a worse average than alpha = 0's pick
        assert lp1 / len(kept1) >= lp0 / len(kept0) - 1e-12
        assert lp0 >= lp1 - 1e-12
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        model.sample_beam(features, beam_size=0)
