"""Lecture 4's gates and ComputationalGraph, on the engine's own local gradients."""

import numpy as np
import pytest

import visionblocks.autograd as ag
from visionblocks.autograd import functions as F
from visionblocks.autograd.gates import (
    AddGate,
    ComputationalGraph,
    DivideGate,
    ExpGate,
    MaxGate,
    MultiplyGate,
    SigmoidGate,
    SumGate,
)


def test_gates_share_the_engine_primitives():
    assert MultiplyGate.function is F.Mul and SigmoidGate.function is F.Sigmoid
    assert MultiplyGate().symbol == "*" and AddGate().name == "add"


def test_single_gates_follow_the_lecture_patterns():
    add, mul, mx = AddGate(), MultiplyGate(), MaxGate()
    assert add.forward(3.0, -4.0) == -1.0
    assert add.backward(2.0) == [2.0, 2.0]  # add distributes
    assert mul.forward(3.0, -4.0) == -12.0
    assert mul.backward(2.0) == [-8.0, 6.0]  # multiply swaps
    assert mx.forward(4.0, -1.0) == 4.0
    assert mx.backward(2.0) == [2.0, 0.0]  # max routes
    s = SigmoidGate()
    out = s.forward(0.0)
    assert out == 0.5 and s.backward(1.0) == [0.25]  # (1 - s) s
    total = SumGate(axis=0)
    np.testing.assert_array_equal(total.forward(np.ones((2, 3))), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(total.backward(np.arange(3.0))[0], [[0, 1, 2], [0, 1, 2]])
    add = AddGate()
    np.testing.assert_array_equal(add.forward([1, 2], [[3], [4]]), [[4, 5], [5, 6]])
    dx, dy = add.backward(np.ones((2, 2)))  # broadcasting summed back to each input
    np.testing.assert_array_equal(dx, [2.0, 2.0])
    np.testing.assert_array_equal(dy, [[2.0], [2.0]])
    with pytest.raises(RuntimeError, match="before forward"):
        ExpGate().backward(1.0)


def test_graph_of_the_add_multiply_example():
    g = ComputationalGraph()
    x, y, z = g.inputs("x", "y", "z")
    q = g.gate(AddGate(), x, y, name="q")
    f = g.gate(MultiplyGate(), q, z, name="f")
    assert [n.name for n in g.nodes_topologically_sorted()] == ["x", "y", "q", "z", "f"]
    assert g.forward(x=-2, y=5, z=-4) == -12.0
    assert g.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert (q.data, q.grad, f.grad) == (3.0, -4.0, 1.0)


def test_graph_of_the_sigmoid_neuron_in_the_slides_gates():
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = g.inputs("w0", "x0", "w1", "x1", "w2")
    dot = g.gate(AddGate(), g.gate(MultiplyGate(), w0, x0), g.gate(MultiplyGate(), w1, x1))
    s = g.gate(AddGate(), dot, w2)
    e = g.gate(ExpGate(), g.gate(MultiplyGate(), s, g.constant(-1.0)))
    g.gate(DivideGate(), g.constant(1.0), g.gate(AddGate(), e, g.constant(1.0)))
    values = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    assert round(g.forward(**values), 2) == 0.73
    grads = g.backward()
    assert {k: round(v, 2) for k, v in grads.items()} == {
        "w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}  # fmt: skip
    t = {k: ag.tensor(v, requires_grad=True) for k, v in values.items()}
    ag.sigmoid(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"]).backward()
    for k, v in grads.items():  # the slides' gates and the sigmoid primitive agree
        assert v == pytest.approx(float(t[k].grad), abs=1e-15)


def test_gradients_add_at_branches():
    g = ComputationalGraph()
    x, y = g.inputs("x", "y")
    g.gate(AddGate(), g.gate(MultiplyGate(), x, y), g.gate(MultiplyGate(), x, x))  # xy + x^2
    g.forward(x=3.0, y=2.0)
    assert g.backward(dout=2.0) == {"x": 2.0 * (2.0 + 6.0), "y": 2.0 * 3.0}


def test_graph_errors():
    g = ComputationalGraph()
    with pytest.raises(RuntimeError, match="no gate"):
        g.forward()
    x, y = g.inputs("x", "y")
    gate = AddGate()
    g.gate(gate, x, y)
    with pytest.raises(ValueError, match="already in the graph"):
        g.gate(gate, x, y)
    with pytest.raises(ValueError, match=r"missing \['y'\], unknown \['z'\]"):
        g.forward(x=1.0, z=2.0)
    with pytest.raises(ValueError, match="already has an input named 'x'"):
        g.input("x")
    with pytest.raises(ValueError, match="nodes of this graph"):
        g.gate(AddGate(), x, ComputationalGraph().input("w"))
