"""The autograd engine: lecture 4's numbers, accumulation, no_grad, every primitive, errors."""

import math

import numpy as np
import pytest

import visionblocks.autograd as ag
from visionblocks.autograd import functions as F
from visionblocks.errors import ShapeError
from visionblocks.layers import softmax_loss


def leaves(*values):
    return [ag.tensor(v, requires_grad=True) for v in values]


def test_lecture_add_multiply_example():
    x, y, z = leaves(-2.0, 5.0, -4.0)
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad, y.grad, z.grad) == (-4.0, -4.0, 3.0)
    q = f.parents[0]  # the add node keeps its gradient for the drawing
    assert q.data == 3.0 and q.grad == -4.0


def _neuron_closed_form(w0, x0, w1, x1, w2):
    s = 1 / (1 + math.exp(-(w0 * x0 + w1 * x1 + w2)))
    local = (1 - s) * s
    return s, {"w0": x0 * local, "x0": w0 * local, "w1": x1 * local, "x1": w1 * local,
               "w2": local}  # fmt: skip


def test_lecture_sigmoid_neuron():
    values = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    t = {k: ag.tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    f = 1 / (1 + ag.exp(-(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"])))
    f.backward()
    grads = {k: float(v.grad) for k, v in t.items()}
    assert round(f.item(), 2) == 0.73
    lecture = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert {k: round(g, 2) for k, g in grads.items()} == lecture
    s, closed = _neuron_closed_form(**values)
    assert f.item() == pytest.approx(s, abs=1e-15)
    for k in closed:
        assert grads[k] == pytest.approx(closed[k], abs=1e-15)
    # the sigmoid primitive gives the same numbers through its (1 - s) s local gradient
    w0, x0, w1, x1, w2 = leaves(*values.values())
    g = ag.sigmoid(w0 * x0 + w1 * x1 + w2)
    g.backward()
    assert g.item() == pytest.approx(s, abs=1e-15)
    assert float(w0.grad) == pytest.approx(closed["w0"], abs=1e-15)


def test_gradients_accumulate_where_a_value_is_used_twice():
    (x,) = leaves(3.0)
    f = x * x + x  # df/dx = 2x + 1
    f.backward()
    assert x.grad == 7.0
    f.backward()  # leaves accumulate over backward calls until zero_grad
    assert x.grad == 14.0
    x.zero_grad()
    (x * x * x).backward()
    assert x.grad == 27.0


def test_two_leaves_never_share_a_gradient_array():
    a, b = leaves(np.ones(3), np.ones(3))
    (a + b).sum().backward()
    a.grad[0] = 5.0  # writing one leaf's gradient leaves the other alone
    assert b.grad[0] == 1.0


def test_no_grad_records_nothing():
    (x,) = leaves(2.0)
    with ag.no_grad():
        y = x * 3 + 1
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert y.data == 7.0 and not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        y.backward()


def test_deep_graph_needs_no_recursion():
    (x,) = leaves(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert float(x.grad) == pytest.approx(1.0001**5000)


def test_broadcasting_is_summed_in_backward(rng):
    a, b, c = leaves(
        rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 1))
    )
    (a * b + c).sum().backward()
    np.testing.assert_allclose(b.grad, a.data.sum(0))
    np.testing.assert_allclose(c.grad, np.full((3, 1), 4.0))
    assert a.grad.shape == (3, 4)


def test_python_numbers_keep_the_tensor_dtype():
    x = ag.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = 2 * x + 1.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_arrays_on_the_left_still_build_the_graph(rng):
    (x,) = leaves(rng.standard_normal(3))
    a = rng.standard_normal(3)
    out = a + x * np.float64(2.0) - a @ x
    assert isinstance(out, ag.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 - 3 * a)
    with pytest.raises(TypeError):
        np.exp(x)  # a NumPy ufunc would lose the graph: use ag.exp


def test_boolean_mask_indexing(rng):
    (x,) = leaves(rng.standard_normal((3, 4)))
    mask = x.data > 0
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(float))


def test_reductions_reshape_transpose_and_indexing(rng):
    a = rng.standard_normal((2, 3, 4))
    (x,) = leaves(a)
    out = x.max(axis=1, keepdims=True).sum() + x.mean(axis=(0, 2)).sum()
    out.backward()
    want = (a == a.max(axis=1, keepdims=True)) + 1.0 / 8
    np.testing.assert_allclose(x.grad, want)
    x.zero_grad()
    x.transpose(2, 0, 1).reshape(4, 6)[1:3].sum().backward()
    want = np.zeros((4, 2, 3))
    want[1:3] = 1.0
    np.testing.assert_allclose(x.grad, want.transpose(1, 2, 0))
    x.zero_grad()
    x[[0, 0, 1], 1].sum().backward()  # repeated integer-array positions add
    assert x.grad[0, 1].tolist() == [2.0] * 4 and x.grad[1, 1].tolist() == [1.0] * 4
    assert x.grad.sum() == 12.0


def test_matmul_with_vectors(rng):
    a, b, v = leaves(
        rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(4)
    )
    (a @ b).sum().backward()
    np.testing.assert_allclose(a.grad, np.ones((3, 2)) @ b.data.T)
    np.testing.assert_allclose(b.grad, a.data.T @ np.ones((3, 2)))
    a.zero_grad()
    (a @ v).sum().backward()
    np.testing.assert_allclose(v.grad, a.data.sum(0))
    np.testing.assert_allclose(a.grad, np.outer(np.ones(3), v.data))


def test_max_gate_routes_and_ties_split():
    a, b = leaves(np.array([1.0, 5.0, 2.0]), np.array([3.0, 4.0, 2.0]))
    ag.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, 1.0, 0.5] and b.grad.tolist() == [1.0, 0.0, 0.5]


def test_composites_equal_the_layer_pairs(rng):
    scores = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    (s,) = leaves(scores)
    loss = ag.softmax_cross_entropy(s, y)
    loss.backward()
    want, dx = softmax_loss(scores, y)
    assert loss.item() == pytest.approx(want, abs=1e-14)
    np.testing.assert_allclose(s.grad, dx, atol=1e-15)
    np.testing.assert_allclose(ag.softmax(s).data.sum(1), 1.0)
    big = ag.tensor([[1000.0, 0.0]])  # no overflow: the shift is the row max
    assert ag.logsumexp(big, axis=1).item() == pytest.approx(1000.0)
    x, w, b = rng.standard_normal((2, 3, 2)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    np.testing.assert_allclose(ag.affine(x, w, b).data, x.reshape(2, 6) @ w + b)


def test_sigmoid_does_not_overflow():
    x = ag.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    with np.errstate(over="raise"):
        s = ag.sigmoid(x)
    assert s.data.tolist() == [0.0, 0.5, 1.0]


def test_unbroadcast():
    g = np.ones((2, 3, 4))
    assert F.unbroadcast(g, (3, 1)).tolist() == [[8.0]] * 3
    assert F.unbroadcast(g, ()).item() == 24.0


def test_errors_name_the_shapes():
    a, b = leaves(np.ones((2, 3)), np.ones((4,)))
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        a + b
    with pytest.raises(ShapeError, match=r"matmul: shapes \(2, 3\) @ \(4,\).*3 and 4"):
        a @ b
    with pytest.raises(ShapeError, match=r"without grad= needs a single-element.*\(2, 3\)"):
        (a * 2).backward()
    with pytest.raises(ShapeError, match=r"grad has shape \(3,\), expected \(2, 3\)"):
        (a * 2).backward(np.ones(3))
    with pytest.raises(ShapeError, match=r"cannot reshape \(2, 3\) to \(4,\)"):
        a.reshape(4)
    with pytest.raises(ShapeError, match="y must be"):
        ag.softmax_cross_entropy(a, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        ag.softmax_cross_entropy(a, np.array([0, 3]))
    (a * 2).backward(np.ones((2, 3)))  # a grad= argument makes a non-scalar fine
    assert a.grad.tolist() == [[2.0] * 3] * 2
