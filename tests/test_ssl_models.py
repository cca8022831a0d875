"""SSL models: the encoder's shapes, MoCo's momentum update, FIFO queue and frozen key
encoder, SimSiam's stop-gradient, and the pretext tasks' batches and losses."""

import copy

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from visionblocks.errors import ConfigError, ShapeError  # noqa: E402
from visionblocks.ssl import pretext as P  # noqa: E402
from visionblocks.ssl.augment import SimCLRAugment, no_augment  # noqa: E402
from visionblocks.ssl.models import Encoder, MoCo, SimCLR, SimSiam  # noqa: E402


def _x(n=8, c=1, h=28, seed=0):
    return torch.rand((n, c, h, h), generator=torch.Generator().manual_seed(seed))


def _small(c=1):
    torch.manual_seed(0)
    return Encoder(in_channels=c, widths=(4, 8, 16))


def test_encoder_shapes_for_28_8_and_rgb():
    enc = Encoder()
    assert enc(_x(2)).shape == (2, 128) and enc.feature_map(_x(2)).shape == (2, 128, 4, 4)
    assert enc(_x(2, h=8)).shape == (2, 128) and enc(_x(2, h=7)).shape == (2, 128)
    assert Encoder(in_channels=3)(_x(2, c=3, h=16)).shape == (2, 128)
    with pytest.raises(ConfigError, match="in_channels"):
        Encoder(in_channels=0)


def _moco(m, **kw):
    torch.manual_seed(0)
    return MoCo(_small(), proj_dim=8, hidden_dim=16, queue_size=10, momentum=m, **kw)


def _moco_step(model):
    opt = torch.optim.SGD(model.parameters_to_train(), lr=0.5)
    loss = model.loss(_x(6), torch.Generator().manual_seed(1), SimCLRAugment())
    opt.zero_grad()
    loss.backward()
    opt.step()
    model.after_step()
    return loss


def test_moco_momentum_0_copies_the_query_and_1_leaves_the_key_unchanged():
    model = _moco(0.0)
    _moco_step(model)
    q = [*model.encoder.parameters(), *model.head.parameters()]
    for pk, pq in zip(model.key_parameters(), q, strict=True):
        assert torch.equal(pk, pq)
    model = _moco(1.0)
    before = copy.deepcopy(model.key_encoder.state_dict())
    _moco_step(model)
    assert any(not torch.equal(a, b) for a, b in zip(model.encoder.parameters(),
               model.key_encoder.parameters(), strict=True))  # fmt: skip
    for k, v in model.key_encoder.named_parameters():
        assert torch.equal(v, before[k]), k


def test_moco_no_gradient_reaches_the_key_encoder():
    model = _moco(0.9)
    loss = model.loss(_x(6), torch.Generator().manual_seed(2), SimCLRAugment())
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.key_parameters())
    assert all(p.grad is not None for p in model.query_parameters())
    assert loss.item() > 0


def test_moco_queue_is_fifo_with_wrap_around():
    model = _moco(0.9)
    assert model.queue.shape == (8, 10) and int(model.queue_ptr) == 0
    a, b, c = (torch.full((4, 8), float(v)) for v in (1, 2, 3))
    model.enqueue(a)
    assert int(model.queue_ptr) == 4 and (model.queue[:, :4] == 1).all()
    model.enqueue(b)
    model.enqueue(c)  # 8 + 4 > 10: columns 8, 9 then 0, 1
    assert int(model.queue_ptr) == 2
    assert (model.queue[:, 8:] == 3).all() and (model.queue[:, :2] == 3).all()
    assert (model.queue[:, 2:4] == 1).all() and (model.queue[:, 4:8] == 2).all()
    assert "queue" in model.state_dict() and "queue_ptr" in model.state_dict()
    model.enqueue(torch.arange(12 * 8, dtype=torch.float32).reshape(12, 8))  # more than K
    assert int(model.queue_ptr) == 2 and model.queue[0, 2] == 2 * 8  # the last 10 kept


def test_moco_loss_enqueues_the_keys_and_the_positive_is_column_0():
    model = _moco(0.9)
    before = model.queue.clone()
    model.loss(_x(4), torch.Generator().manual_seed(3), SimCLRAugment())
    assert int(model.queue_ptr) == 4 and torch.equal(model.queue[:, 4:], before[:, 4:])
    assert torch.allclose(model.queue[:, :4].norm(dim=0), torch.ones(4))


def test_simsiam_stop_gradient_and_simclr_loss():
    torch.manual_seed(0)
    model = SimSiam(_small(), proj_dim=8, pred_hidden=4)
    p = torch.randn(5, 8, requires_grad=True)
    z = torch.randn(5, 8, requires_grad=True)
    SimSiam.negative_cosine(p, z).backward()
    assert z.grad is None and p.grad is not None  # no gradient through the target branch
    loss = model.loss(_x(6), torch.Generator().manual_seed(0), SimCLRAugment())
    assert 0 <= loss.item() <= 2
    loss.backward()
    assert all(q.grad is not None for q in model.predictor.parameters())
    torch.manual_seed(0)
    simclr = SimCLR(_small(), proj_dim=8, hidden_dim=16, tau=0.5)
    assert simclr.loss(_x(6), torch.Generator().manual_seed(0), SimCLRAugment()).item() > 0


def test_rotation_batch_and_loss():
    x = _x(3, h=6)
    x4, y4 = P.rotation_batch(x)
    assert x4.shape == (12, 1, 6, 6) and y4.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert torch.equal(x4[3], torch.rot90(x[0], 1, dims=(1, 2)))
    assert torch.equal(torch.rot90(x4[6], 2, dims=(1, 2)), x[0])
    with pytest.raises(ShapeError, match="square"):
        P.rotation_batch(torch.zeros(2, 1, 4, 5))
    net = P.RotationNet(_small())
    loss = net.loss(_x(4), torch.Generator(), no_augment)
    assert abs(loss.item() - 1.386) < 0.5  # about log 4 at initialisation


def test_patch_pairs_take_the_centre_and_the_labelled_neighbour():
    # an image whose pixel values encode their cell: the patch's cell can be read back
    h = 27
    rows = torch.arange(h)[:, None].expand(h, h) // 9
    cols = torch.arange(h)[None, :].expand(h, h) // 9
    img = (rows * 3 + cols).float()[None, None].expand(16, 1, h, h)
    centre, other, labels = P.patch_pairs(img, torch.Generator().manual_seed(0), gap=2)
    assert centre.shape == (16, 1, 7, 7) and (centre == 4).all()
    for i in range(16):
        r, c = P.NEIGHBOURS[int(labels[i])]
        assert (other[i] == r * 3 + c).all()
    assert len(set(labels.tolist())) > 3
    with pytest.raises(ShapeError, match="9 x 9"):
        P.patch_pairs(torch.zeros(2, 1, 8, 8), torch.Generator())
    net = P.RelativePositionNet(_small())
    loss = net.loss(_x(4), torch.Generator(), no_augment)
    assert abs(loss.item() - 2.079) < 0.5  # about log 8


def test_inpainting_masks_and_masked_loss():
    m = P.block_masks(5, 28, 28, torch.Generator().manual_seed(0), frac=0.5)
    assert m.shape == (5, 1, 28, 28) and (m.sum(dim=(1, 2, 3)) == 14 * 14).all()
    centre = P.block_masks(1, 28, 28, torch.Generator(), frac=0.5, random_place=False)
    assert centre[0, 0, 7:21, 7:21].all() and centre.sum() == 196
    target = torch.zeros(1, 1, 28, 28)
    pred = torch.ones(1, 1, 28, 28) - centre  # wrong only outside the hole
    assert float(P.masked_mse(pred, target, centre)) == 0.0
    net = P.ContextEncoder(_small())
    x = _x(4)
    with torch.no_grad():
        rec = net(x)
    assert rec.shape == x.shape and 0 < float(rec.min()) and float(rec.max()) < 1
    loss = net.loss(x, torch.Generator(), no_augment)
    loss.backward()
    assert loss.item() > 0 and net.encoder.body[0].weight.grad is not None
    with pytest.raises(ConfigError, match="frac"):
        P.block_masks(1, 8, 8, torch.Generator(), frac=1.0)
