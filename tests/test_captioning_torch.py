"""The torch twin of CaptioningRNN: same parameter names, loss and gradients equal to the NumPy
model's to 1e-10 in float64 (with torch's fused kernels and with the explicit formulas), the
course's fixed-parameter losses, and the same greedy and beam decoding."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.captioning.rnn import CaptioningRNN  # noqa: E402
from visionblocks.torchkit.bridge import numpy_grads, numpy_params  # noqa: E402
from visionblocks.torchkit.models_captioning import CaptioningRNN as TorchCaptioningRNN  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend
VOCAB = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4, "c": 5, "d": 6}


def _models(cell_type, rng, fused):
    model = CaptioningRNN(VOCAB, input_dim=5, wordvec_dim=4, hidden_dim=6, cell_type=cell_type,
                          dtype=np.float64, seed=0)  # fmt: skip
    for k in model.params:
        model.params[k] = 0.7 * rng.standard_normal(model.params[k].shape)
    return model, TorchCaptioningRNN.from_numpy(model, fused=fused)


@pytest.mark.parametrize("fused", [True, False], ids=["nn-kernels", "formulas"])
@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_twin_loss_and_gradients_equal_the_numpy_model(rng, cell_type, fused):
    model, twin = _models(cell_type, rng, fused)
    features = rng.standard_normal((4, 5))
    captions = rng.integers(0, len(VOCAB), (4, 6))
    captions[:, -2:] = 0  # padding is masked out
    loss, grads = model.loss(features, captions)
    tloss = twin.loss(torch.from_numpy(features), captions)
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-10
    tgrads = numpy_grads(twin)
    assert set(tgrads) == set(grads) == set(dict(twin.named_parameters()))
    for k in grads:
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=0, atol=1e-10, err_msg=k)


@pytest.mark.parametrize(
    "cell_type, feature_range, expected",
    [("rnn", (-1.5, 0.3), 9.83235591003), ("lstm", (-0.5, 1.7), 9.82445935443)],
)
def test_twin_gives_the_course_fixed_parameter_loss(cell_type, feature_range, expected):
    vocab = {"<NULL>": 0, "cat": 2, "dog": 3}
    N, D, W, H, T = 10, 20, 30, 40, 13
    twin = TorchCaptioningRNN(vocab, D, W, H, cell_type, np.float64)
    with torch.no_grad():
        for p in twin.parameters():
            p.copy_(torch.linspace(-1.4, 1.3, p.numel(), dtype=torch.float64).reshape(p.shape))
    features = torch.linspace(*feature_range, N * D, dtype=torch.float64).reshape(N, D)
    captions = (np.arange(N * T) % len(vocab)).reshape(N, T)
    assert abs(twin.loss(features, captions).item() - expected) < 1e-10


def test_same_seed_same_initialisation_as_the_numpy_model():
    model = CaptioningRNN(VOCAB, input_dim=5, wordvec_dim=4, hidden_dim=6, cell_type="lstm",
                          seed=3, forget_bias=1.0)  # fmt: skip
    twin = TorchCaptioningRNN(VOCAB, input_dim=5, wordvec_dim=4, hidden_dim=6,
                              cell_type="lstm", seed=3, forget_bias=1.0)  # fmt: skip
    params = numpy_params(twin)
    assert all(np.array_equal(params[k], model.params[k]) for k in model.params)
    assert twin.W_embed.dtype == torch.float32


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_twin_decodes_like_the_numpy_model(rng, cell_type):
    model, twin = _models(cell_type, rng, fused=True)
    model.params["W_vocab"] *= 5  # decisive scores: no near-ties between the engines
    twin = TorchCaptioningRNN.from_numpy(model)
    features = rng.standard_normal((5, 5))
    tf = torch.from_numpy(features)
    assert np.array_equal(model.sample(features, 8), twin.sample(tf, 8))
    assert np.array_equal(model.sample_beam(features, 3, 8), twin.sample_beam(tf, 3, 8))
