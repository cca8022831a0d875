"""Every row of the gradient-check table against its torch twin, outputs and all gradients."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.gradcheck import all_layers, find_layer  # noqa: E402
from visionblocks.torchkit import functional as TF  # noqa: E402
from visionblocks.torchkit.parity import compare, parity_errors, twin_for  # noqa: E402

LAYER_CASES = all_layers()

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend
TOL = 1e-9


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_numpy_layer_matches_its_torch_twin(case):
    errors = parity_errors(case)  # a row without a twin fails here with a KeyError
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"{case.name}: {bad}"


def test_every_row_has_a_twin():
    missing = []
    for case in LAYER_CASES:
        try:
            twin_for(case)
        except KeyError:
            missing.append(case.name)
    assert not missing, f"rows without a torch twin: {missing}"


def test_a_row_without_a_twin_is_reported():
    import dataclasses

    case = dataclasses.replace(LAYER_CASES[0], name="brand_new_layer", twin=None)
    with pytest.raises(KeyError, match="brand_new_layer"):
        twin_for(case)


def test_parity_catches_a_wrong_twin():
    case = find_layer("layernorm")
    assert compare(case, lambda x, g, b, p: TF.layernorm(x, g, b, p) * 1.01)["out"] > 1e-3


def test_batchnorm_twin_keeps_the_numpy_running_statistics(rng):
    from visionblocks.layers import batchnorm_forward

    x, g, b = rng.standard_normal((8, 3)), np.ones(3), np.zeros(3)
    np_param, t_param = {"mode": "train"}, {"mode": "train"}
    for _ in range(2):
        batchnorm_forward(x, g, b, np_param)
        TF.batchnorm(torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(b), t_param)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(np_param[key], t_param[key].numpy(), rtol=1e-12)
    np_param["mode"] = t_param["mode"] = "test"
    out, _ = batchnorm_forward(x, g, b, np_param)
    t_out = TF.batchnorm(torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(b), t_param)
    np.testing.assert_allclose(out, t_out.numpy(), rtol=1e-12)


def test_dropout_twin_is_inverted_and_keeps_about_p(rng):
    x = torch.ones(200, 50)
    out = TF.dropout(x, {"p": 0.8, "mode": "train"})
    assert abs(float((out > 0).float().mean()) - 0.8) < 0.02
    assert torch.allclose(out[out > 0], torch.tensor(1 / 0.8))
    assert TF.dropout(x, {"p": 0.8, "mode": "test"}) is x
    with pytest.raises(ValueError, match="keep probability"):
        TF.dropout(x, {"p": 0.0})
