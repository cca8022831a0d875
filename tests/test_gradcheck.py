"""Tests of the gradient-check table: every layer against central differences and PyTorch."""

import dataclasses

import numpy as np
import pytest

from helpers import TORCH_REFS, to_torch_args, torch
from visionblocks.gradcheck import (
    analytic_grads,
    check_layer,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    format_table,
    grad_check_sparse,
    rel_error,
    run_table,
)
from visionblocks.gradcheck_cases import LAYER_CASES, find_case

CASE_IDS = [c.name for c in LAYER_CASES]


@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_backward_matches_central_differences(case):
    for arg, err in check_layer(case).items():
        assert err < case.tol_for(arg), f"{case.name}.{arg}: rel. error {err:.2e}"


@pytest.mark.torch
@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_forward_and_gradients_match_torch(case):
    if torch is None:
        pytest.skip("torch not installed")
    args = case.make_args(np.random.default_rng(0))
    out, dout, grads = analytic_grads(case, args)
    targs = to_torch_args(case, args)
    ref = TORCH_REFS[case.name](*targs)
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    if case.is_loss:
        ref.backward()
    else:
        ref.backward(torch.from_numpy(dout))
    for name in case.wrt:
        tgrad = targs[case.arg_names.index(name)].grad.numpy()
        np.testing.assert_allclose(grads[name], tgrad, rtol=1e-9, atol=1e-12, err_msg=name)


def test_every_case_has_a_torch_reference():
    assert set(TORCH_REFS) >= set(CASE_IDS)


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
    rows = run_table(LAYER_CASES[:2])
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
