"""`visionblocks analyze` profiles the ViT: its parameter count equals the torch model's, and
the token layers count what they should (attention 4E^2 + 4E, MACs 4TE^2 + 2T^2E)."""

import pytest

from visionblocks.analysis import layers as L
from visionblocks.analysis.profile import analyze
from visionblocks.errors import ConfigError, ShapeError
from visionblocks.model_registry import MODELS


@pytest.mark.parametrize("options, shape", [
    ({}, (1, 28, 28)),
    ({"patch_size": 7, "embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_ratio": 3.0},
     (1, 28, 28)),
    ({"patch_size": 4, "embed_dim": 32, "depth": 1}, (3, 32, 32)),
])  # fmt: skip
def test_the_vit_profile_counts_the_torch_models_parameters(options, shape):
    torch = pytest.importorskip("torch")
    from visionblocks.torchkit.models_vit import VisionTransformer

    spec = MODELS["vit"]
    o = {**spec.defaults(), **options}
    profile = analyze(spec.profile(o, shape, 10), shape)
    model = VisionTransformer(**spec.kwargs(o, shape, 10, 0))
    assert profile.params == sum(p.numel() for p in model.parameters())
    assert profile.layers[-1].output_shape == (10,)
    with torch.no_grad():  # the profile's token shape is the model's
        t = model.tokens(torch.zeros(1, *shape))
    assert [r for r in profile.layers if r.kind == "Tokens"][0].output_shape == tuple(t.shape[1:])


def test_token_layers_count_params_and_macs_by_their_formulas():
    t, e, f = 1 + 4 * 4, 16, 40
    layers = [L.Conv2d(e, 2, 2), L.Tokens(), L.SelfAttention(4), L.TokenLinear(f)]
    rows = analyze(layers, (1, 8, 8)).layers
    tokens, attn, lin = rows[1], rows[2], rows[3]
    assert tokens.output_shape == (t, e) and tokens.params == e + t * e
    assert attn.params == 4 * e * e + 4 * e and attn.macs == 4 * t * e * e + 2 * t * t * e
    assert lin.output_shape == (t, f) and lin.params == e * f + f and lin.macs == t * e * f
    assert tokens.receptive_field == (8, 8)  # after one attention a token may see every pixel


def test_token_layers_refuse_the_wrong_input():
    with pytest.raises(ShapeError, match="SelfAttention needs \\(T, E\\) tokens"):
        analyze([L.SelfAttention(2)], (1, 8, 8))
    with pytest.raises(ConfigError, match="num_heads=3 must divide the width 16"):
        analyze([L.Conv2d(16, 2, 2), L.Tokens(), L.SelfAttention(3)], (1, 8, 8))
