"""The course's SimCLR loss API: closed form, naive == vectorised == cross-entropy, symmetry,
rotation invariance; MoCo's InfoNCE with the positive in column 0."""

import math

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.ssl.contrastive import (  # noqa: E402
    compute_sim_matrix,
    info_nce,
    nt_xent_cross_entropy,
    sim,
    sim_positive_pairs,
    simclr_loss_naive,
    simclr_loss_vectorized,
)


def _pair(n=5, d=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn((n, d), generator=g, dtype=torch.float64),
            torch.randn((n, d), generator=g, dtype=torch.float64))  # fmt: skip


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_closed_form_for_orthogonal_pairs(tau):
    n, d = 4, 6
    basis = torch.eye(d, dtype=torch.float64)[:n]  # n orthogonal unit vectors
    left, right = basis.clone(), basis.clone()  # each positive pair identical
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2 * n - 2))
    for loss in (simclr_loss_naive(left, right, tau),
                 simclr_loss_vectorized(left, right, tau, device="cuda"),
                 nt_xent_cross_entropy(left, right, tau)):  # fmt: skip
        assert abs(float(loss) - expected) < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_naive_equals_vectorized_equals_cross_entropy(seed):
    left, right = _pair(seed=seed)
    tau = 0.3
    naive = simclr_loss_naive(left, right, tau)
    vec = simclr_loss_vectorized(left, right, tau)  # device defaults to 'cuda': runs on CPU
    ce = nt_xent_cross_entropy(left, right, tau)
    assert abs(float(naive - vec)) < 1e-7 and abs(float(vec - ce)) < 1e-7
    # the gradients agree too
    grads = []
    for fn in (simclr_loss_naive, simclr_loss_vectorized, nt_xent_cross_entropy):
        a, b = left.clone().requires_grad_(), right.clone().requires_grad_()
        fn(a, b, tau).backward()
        grads.append(torch.cat([a.grad, b.grad]))
    assert torch.allclose(grads[0], grads[1], atol=1e-7) and torch.allclose(grads[1], grads[2])


def test_symmetric_and_rotation_invariant():
    left, right = _pair(n=6, d=5, seed=3)
    tau = 0.2
    assert abs(float(simclr_loss_vectorized(left, right, tau)
                     - simclr_loss_vectorized(right, left, tau))) < 1e-12  # fmt: skip
    q, _ = torch.linalg.qr(torch.randn((5, 5), generator=torch.Generator().manual_seed(9),
                                       dtype=torch.float64))  # fmt: skip
    rotated = simclr_loss_vectorized(left @ q, right @ q, tau)
    assert abs(float(rotated - simclr_loss_vectorized(left, right, tau))) < 1e-10
    # scaling any row does not matter either: similarities are cosine ones
    scale = torch.arange(1, 7, dtype=torch.float64)[:, None]
    assert abs(float(simclr_loss_vectorized(left * scale, right, tau)
                     - simclr_loss_vectorized(left, right, tau))) < 1e-10  # fmt: skip


def test_the_building_blocks():
    left, right = _pair(n=3, d=4)
    assert abs(float(sim(left[0], right[0])) - float(torch.nn.functional.cosine_similarity(
        left[:1], right[:1]))) < 1e-12  # fmt: skip
    pos = sim_positive_pairs(left, right)
    assert pos.shape == (3, 1)
    m = compute_sim_matrix(torch.cat([left, right]))
    assert m.shape == (6, 6) and torch.allclose(m, m.t())
    assert torch.allclose(torch.diagonal(m), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(m[torch.arange(3), torch.arange(3) + 3], pos[:, 0])


def test_info_nce_puts_the_positive_in_column_0():
    q, k = _pair(n=4, d=6, seed=5)
    queue = torch.nn.functional.normalize(torch.randn(6, 10, dtype=torch.float64), dim=0)
    loss, logits = info_nce(q, k, queue, tau=0.07)
    assert logits.shape == (4, 11)
    qn = torch.nn.functional.normalize(q, dim=1)
    kn = torch.nn.functional.normalize(k, dim=1)
    assert torch.allclose(logits[:, 0], (qn * kn).sum(1) / 0.07)
    manual = -torch.log_softmax(logits, dim=1)[:, 0].mean()
    assert abs(float(loss - manual)) < 1e-12
    # a queue whose negatives are the query's opposite: the loss is near 0
    _, lg = info_nce(qn, qn, -qn.t().repeat(1, 3), tau=0.07)
    assert float(torch.nn.functional.cross_entropy(lg, torch.zeros(4, dtype=torch.long))) < 1e-6


def test_bad_input_is_named():
    left, right = _pair()
    with pytest.raises(ShapeError, match="out_right"):
        simclr_loss_vectorized(left, right[:, :3], 0.5)
    with pytest.raises(ShapeError, match="out_left"):
        simclr_loss_naive(left[0], right, 0.5)
    with pytest.raises(ConfigError, match="tau"):
        simclr_loss_vectorized(left, right, 0.0)
    with pytest.raises(ShapeError, match="queue"):
        info_nce(left, right, torch.zeros(3, 4, dtype=torch.float64), 0.1)
