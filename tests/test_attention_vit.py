"""The torch Vision Transformer: shapes, patch embedding, seeded init, attention maps and rollout,
and that it learns a toy task."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.torchkit.models_vit import (  # noqa: E402
    PatchEmbedding,
    VisionTransformer,
    attention_rollout,
)

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


def test_patch_embedding_is_a_linear_map_of_each_patch():
    torch.manual_seed(0)
    pe = PatchEmbedding(2, 4, 6)
    x = torch.randn(3, 2, 8, 12)
    out = pe(x)
    assert out.shape == (3, 2 * 3, 6)
    patch = x[1, :, 4:8, 8:12].reshape(-1)  # row 1, column 2 of the 2 x 3 grid
    expected = pe.proj.weight.reshape(6, -1) @ patch + pe.proj.bias
    torch.testing.assert_close(out[1, 1 * 3 + 2], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        pe(torch.randn(1, 2, 9, 12))


def test_vit_shapes_seed_and_bad_patch_size():
    a = VisionTransformer((1, 28, 28), 10, patch_size=7, embed_dim=16, depth=2, num_heads=2, seed=3)
    b = VisionTransformer((1, 28, 28), 10, patch_size=7, embed_dim=16, depth=2, num_heads=2, seed=3)
    x = torch.randn(5, 1, 28, 28)
    assert a(x).shape == (5, 10)
    torch.testing.assert_close(a(x), b(x))
    with pytest.raises(ValueError, match="patch_size"):
        VisionTransformer((1, 28, 28), patch_size=5)


def test_attention_maps_and_rollout():
    vit = VisionTransformer((1, 8, 8), 3, patch_size=4, embed_dim=8, depth=3, num_heads=2, seed=0)
    maps = vit.attention_maps(torch.randn(2, 1, 8, 8))
    assert len(maps) == 3 and maps[0].shape == (2, 2, 5, 5)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 2, 5))
    roll = attention_rollout(maps)
    assert roll.shape == (2, 5, 5)
    torch.testing.assert_close(roll.sum(-1), torch.ones(2, 5))
    # one layer of uniform attention: rollout = 0.5 * uniform + 0.5 * I
    uniform = torch.full((1, 1, 4, 4), 0.25)
    torch.testing.assert_close(attention_rollout([uniform])[0], 0.125 + 0.5 * torch.eye(4))
    assert vit.training  # attention_maps restores the mode


def test_vit_learns_a_toy_task():
    """Bright left half vs bright right half: a few Adam steps separate them."""
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) * 0.2
    y = torch.randint(0, 2, (64,))
    x[y == 0, :, :, :4] += 1.0
    x[y == 1, :, :, 4:] += 1.0
    vit = VisionTransformer((1, 8, 8), 2, patch_size=4, embed_dim=16, depth=1, num_heads=2, seed=0)
    opt = torch.optim.Adam(vit.parameters(), lr=3e-3)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(vit(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (vit(x).argmax(1) == y).float().mean().item()
    assert loss.item() < 0.1 and acc == 1.0
    assert np.isfinite(loss.item())


def test_cli_trains_vit_on_digits(tmp_path):
    from visionblocks.cli import main

    out = tmp_path / "vit"
    args = ["train", "--data", "digits", "--model", "vit", "--engine", "torch", "--epochs", "1",
            "--num-train", "300", "--num-val", "100", "--embed-dim", "16", "--depth", "1",
            "--num-heads", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert (out / "metrics.jsonl").exists() and (out / "best.npz").exists()
