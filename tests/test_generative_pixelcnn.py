"""PixelCNN: exact causality of the logits, masks, bits/dim (uniform model = 8), sampling."""

import math

import pytest

from helpers import torch

pytestmark = pytest.mark.torch

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.generative import pixelcnn as P  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one torch thread (two threads spin-wait on a shared, loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(seed=0, h=6, w=5, **kw):
    torch.manual_seed(seed)
    kw = {"channels": 8, "num_layers": 3, **kw}
    return P.PixelCNN((1, h, w), **kw).double()


def test_masks_of_type_a_and_b():
    a, b = P.causal_mask(3, "A"), P.causal_mask(3, "B")
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert P.causal_mask(7, "A").sum() == 24  # 3 rows of 7 and 3 to the left
    with pytest.raises(ConfigError, match="mask_type"):
        P.causal_mask(3, "C")
    with pytest.raises(ConfigError, match="odd"):
        P.causal_mask(4, "A")


def test_logits_at_each_pixel_have_exactly_zero_gradient_from_it_and_later_pixels():
    model = _model()
    h, w = 6, 5
    x = torch.rand(1, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = (2 * x - 1).requires_grad_(True)
    logits = model.logits_from_inputs(x)  # (1, 256, h, w)
    for i in range(h):
        for j in range(w):
            (grad,) = torch.autograd.grad(logits[0, :, i, j].sum(), x, retain_graph=True)
            g = grad[0, 0].reshape(-1)  # raster order
            k = i * w + j
            assert torch.count_nonzero(g[k:]) == 0, f"pixel ({i}, {j}) sees itself or later"
            if k > 0:
                assert torch.count_nonzero(g[:k]) > 0
            if j > 0:
                assert grad[0, 0, i, j - 1] != 0, f"pixel ({i}, {j}) does not see its left"
            if i > 0:
                assert grad[0, 0, i - 1, j] != 0, f"pixel ({i}, {j}) does not see above"


def test_masked_weights_get_no_gradient_and_the_mask_holds_after_a_step():
    model = _model()
    q = torch.randint(0, 256, (4, 1, 6, 5), generator=torch.Generator().manual_seed(1))
    model.loss(q).backward()
    grad = model.first.weight.grad
    assert torch.count_nonzero(grad * (1 - model.first.mask)) == 0
    assert torch.count_nonzero(grad * model.first.mask) > 0


def test_a_uniform_model_scores_exactly_8_bits_per_dim():
    model = _model()
    last = model.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    q = torch.randint(0, 256, (3, 1, 6, 5), generator=torch.Generator().manual_seed(0))
    assert model.bits_per_dim(q).item() == pytest.approx(8.0, abs=1e-12)
    torch.testing.assert_close(model.nll(q), torch.full((3,), 30 * math.log(256),
                                                        dtype=torch.float64))  # fmt: skip


def test_nll_is_the_sum_of_per_pixel_cross_entropies():
    model = _model()
    q = torch.randint(0, 256, (2, 1, 6, 5), generator=torch.Generator().manual_seed(0))
    logp = torch.log_softmax(model(q), dim=1)  # (2, 256, 6, 5)
    by_hand = -logp.gather(1, q).reshape(2, -1).sum(1)
    torch.testing.assert_close(model.nll(q), by_hand)


def test_sampling_is_seeded_in_range_and_cropping_gives_the_same_samples():
    model = _model(h=7, w=4, num_layers=1)  # sees 4 rows above: the crop matters at row 5+
    a = model.sample(3, torch.Generator().manual_seed(0))
    b = model.sample(3, torch.Generator().manual_seed(0), crop=False)
    assert a.shape == (3, 1, 7, 4) and a.dtype == torch.int64
    assert int(a.min()) >= 0 and int(a.max()) <= 255
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(3, torch.Generator().manual_seed(1)))


def test_training_lowers_bits_per_dim_below_the_uniform_8():
    torch.manual_seed(0)
    model = P.PixelCNN((1, 6, 6), channels=8, num_layers=1)
    x = torch.zeros(8, 1, 6, 6)
    x[:, :, 1:5, 2:4] = 1.0  # a bar: very predictable
    q = P.quantize(x)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(20):
        opt.zero_grad()
        model.loss(q).backward()
        opt.step()
    assert model.bits_per_dim(q).item() < 2.0


def test_quantize_histogram_baseline_and_bad_inputs():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert P.quantize(x).tolist() == [0, 128, 255]
    q = torch.randint(0, 256, (50, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    assert P.histogram_bits_per_dim(q, q, alpha=1e-9) < 8
    const = torch.zeros(10, 1, 2, 2, dtype=torch.long)
    assert P.histogram_bits_per_dim(const, const, alpha=1e-9) == pytest.approx(0, abs=1e-6)
    model = _model()
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 1, 6, 5))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        model(torch.full((1, 1, 6, 5), 256))
    with pytest.raises(ShapeError, match="grayscale"):
        P.PixelCNN((3, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        P.quantize(torch.tensor([2.0]))
