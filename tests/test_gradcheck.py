"""Tests of the gradient-check table (generated from the layer registry): every layer against
central differences and against an independent PyTorch reference; every public pair has an
entry."""

import dataclasses
import inspect

import numpy as np
import pytest

import visionblocks.layers as L
from helpers import torch
from visionblocks.gradcheck import (
    all_layers,
    analytic_grads,
    check_layer,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    find_layer,
    format_table,
    grad_check_sparse,
    rel_error,
    run_table,
)
from visionblocks.layers.registry import ACTIVATIONS, LAYERS, register_layer

LAYER_CASES = all_layers()
CASE_IDS = [c.name for c in LAYER_CASES]
WITH_REFERENCE = [c for c in LAYER_CASES if not c.no_reference]
find_case = find_layer


@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_backward_matches_central_differences(case):
    for arg, err in check_layer(case).items():
        assert err < case.tol_for(arg), f"{case.name}.{arg}: rel. error {err:.2e}"


@pytest.mark.torch
@pytest.mark.parametrize("case", WITH_REFERENCE, ids=[c.name for c in WITH_REFERENCE])
def test_forward_and_gradients_match_an_independent_torch_reference(case):
    from visionblocks.torchkit.bridge import case_inputs
    from visionblocks.torchkit.parity import reference_for

    args = case.make_args(np.random.default_rng(0))
    out, dout, grads = analytic_grads(case, args)
    targs = case_inputs(case, case.make_args(np.random.default_rng(0)))
    ref = reference_for(case)(*targs)
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    if case.is_loss:
        ref.backward()
    else:
        ref.backward(torch.from_numpy(dout))
    for name in case.wrt:
        tgrad = targs[case.arg_names.index(name)].grad.numpy()
        np.testing.assert_allclose(grads[name], tgrad, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.torch
def test_every_entry_has_a_reference_or_says_why_not():
    from visionblocks.torchkit.parity import reference_for

    for case in LAYER_CASES:
        if case.no_reference:
            assert case.twin is not None, case.name
            continue
        reference_for(case)  # raises, naming the layer, when an entry with our twin has none


def _public_pairs():
    """Every public *_forward / *_backward of visionblocks.layers."""
    names = [n for n in L.__all__ if callable(getattr(L, n)) and not inspect.isclass(getattr(L, n))]
    return [n for n in names if "_forward" in n or "_backward" in n or n.endswith("_loss")]


def test_every_public_pair_has_a_registry_entry():
    covered = {name for case in LAYER_CASES for name in case.public_names()}
    missing = sorted(set(_public_pairs()) - covered)
    assert not missing, f"public layer functions without a registry entry: {missing}"


def test_a_new_public_forward_without_an_entry_is_named(monkeypatch):
    def swish_forward(x):
        return x, x

    monkeypatch.setattr(L, "swish_forward", swish_forward, raising=False)
    monkeypatch.setattr(L, "__all__", [*L.__all__, "swish_forward"])
    covered = {name for case in LAYER_CASES for name in case.public_names()}
    assert set(_public_pairs()) - covered == {"swish_forward"}


def test_registry_refuses_a_duplicate_and_names_unknown_layers():
    with pytest.raises(ValueError, match="'relu' is registered twice"):
        register_layer("relu", L.relu_forward, L.relu_backward, None, ("x",), ("x",))
    with pytest.raises(KeyError, match="unknown layer 'rleu'; known: affine, relu"):
        LAYERS["rleu"]
    with pytest.raises(KeyError, match="unknown activation 'swish'"):
        ACTIVATIONS["swish"]


def test_lecture6_activations_are_registered():
    for name in ("elu", "gelu", "selu", "prelu", "maxout"):
        assert name in LAYERS and name in ACTIVATIONS


def test_harness_catches_a_wrong_backward():
    case = find_case("sigmoid")
    wrong = dataclasses.replace(case, backward=lambda dout, cache: dout * cache)
    assert check_layer(wrong)["x"] > 1e-2


def test_harness_catches_a_slightly_wrong_backward():
    case = find_case("affine")

    def off_by_a_bit(dout, cache):
        dx, dw, db = case.backward(dout, cache)
        return dx, dw * (1 + 1e-4), db

    errors = check_layer(dataclasses.replace(case, backward=off_by_a_bit))
    assert errors["w"] > case.tol_for("w") and errors["x"] < case.tol_for("x")


def test_run_table_formats_every_row():
    rows = run_table([find_case("affine"), find_case("relu")])
    text = format_table(rows)
    assert all(r[4] for r in rows)
    assert "affine" in text and "relu" in text and "FAIL" not in text


def test_eval_numerical_gradient_of_quadratic(rng):
    x = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient(lambda v: float(np.sum(v**2)), x, verbose=False)
    assert rel_error(grad, 2 * x) < 1e-8


def test_eval_numerical_gradient_array_of_product(rng):
    x, df = rng.standard_normal(5), rng.standard_normal(5)
    grad = eval_numerical_gradient_array(lambda v: 3 * v, x, df)
    assert rel_error(grad, 3 * df) < 1e-8


def test_grad_check_sparse_reports_small_errors(rng, capsys):
    x = rng.standard_normal((4, 4))
    errors = grad_check_sparse(lambda v: float(np.sum(v**3)), x, 3 * x**2, num_checks=5, seed=0)
    assert errors.shape == (5,) and errors.max() < 1e-7
    assert "relative error" in capsys.readouterr().out


def test_rel_error_is_zero_for_equal_and_one_for_opposite():
    a = np.array([1.0, -2.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)
