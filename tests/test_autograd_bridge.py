"""Registered layer pairs as graph nodes, and FullyConnectedNet on the engine both ways."""

import numpy as np
import pytest

import visionblocks.autograd as ag
from visionblocks.autograd import GraphFullyConnectedNet, layer_node
from visionblocks.layers import LAYERS
from visionblocks.models.fc_net import FullyConnectedNet


def _fresh(value):
    return {k: v for k, v in value.items() if k != "cache"} if isinstance(value, dict) else value


@pytest.mark.parametrize("name", [e.name for e in LAYERS.values()])
def test_every_registered_pair_is_one_node(name):
    entry = LAYERS[name]
    args = entry.make_args(np.random.default_rng(0))
    out, cache = entry.forward(*(_fresh(a) for a in args))
    inputs = {
        n: ag.tensor(a, requires_grad=True) if n in entry.wrt else _fresh(a)
        for n, a in zip(entry.arg_names, args)
    }
    node = layer_node(name, *inputs.values())
    np.testing.assert_allclose(node.data, out, rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(np.shape(out))
    node.backward(dout)
    if entry.is_loss:
        want = {entry.wrt[0]: dout * cache}  # a loss pair differentiates one argument
    else:
        grads = entry.backward(dout, cache)
        want = dict(zip(entry.wrt, grads if isinstance(grads, tuple) else (grads,)))
    for n in entry.wrt:
        np.testing.assert_allclose(inputs[n].grad, want[n], rtol=1e-12, atol=1e-12, err_msg=n)


def test_a_layer_node_inside_a_larger_expression(rng):
    x = ag.tensor(rng.standard_normal((4, 5)) + 0.1, requires_grad=True)
    w = ag.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    out = (layer_node("relu", x * 2.0) @ w).sum()
    out.backward()
    np.testing.assert_allclose(x.grad, 2.0 * (x.data > 0) * w.data.sum(1))


def test_layer_node_keywords_and_errors(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), np.zeros(4)
    by_kw = layer_node("affine", x, b=b, w=ag.tensor(w, requires_grad=True))
    np.testing.assert_allclose(by_kw.data, x @ w)
    with pytest.raises(KeyError, match="affne"):
        layer_node("affne", x, w, b)
    with pytest.raises(TypeError, match=r"missing arguments \['b'\]"):
        layer_node("affine", x, w)
    with pytest.raises(TypeError, match="no argument 'bias'"):
        layer_node("affine", x, w, bias=b)
    y = ag.tensor(np.array([0, 1]), requires_grad=True)
    with pytest.raises(TypeError, match="does not differentiate 'y'"):
        layer_node("softmax_loss", ag.tensor(x), y)


def _pair_and_graph_nets(build, activation="relu", reg=0.3):
    kw = dict(input_dim=12, num_classes=4, reg=reg, weight_scale=0.3, dtype=np.float64, seed=0)
    pairs = FullyConnectedNet([7, 6], activation=activation, **kw)
    graph = GraphFullyConnectedNet([7, 6], activation=activation, build=build, **kw)
    for k, v in pairs.params.items():  # same weights (non-zero biases too)
        graph.params[k] = v.copy() + (0.1 if k.startswith("b") else 0.0)
        pairs.params[k] = graph.params[k].copy()
    return pairs, graph


@pytest.mark.parametrize(
    "build, activation",
    [("primitives", "relu"), ("primitives", "tanh"), ("primitives", "sigmoid"),
     ("layers", "relu"), ("layers", "elu"), ("layers", "prelu"), ("layers", "maxout")],
)  # fmt: skip
def test_fc_net_on_the_engine_equals_the_layer_pairs(build, activation, rng):
    pairs, graph = _pair_and_graph_nets(build, activation)
    X, y = rng.standard_normal((9, 3, 4)), rng.integers(0, 4, 9)
    loss, grads = pairs.loss(X, y)
    graph_loss, graph_grads = graph.loss(X, y)
    assert graph_loss == pytest.approx(loss, rel=1e-13, abs=1e-13)
    assert sorted(graph_grads) == sorted(grads) == sorted(pairs.params)
    for k in grads:
        np.testing.assert_allclose(graph_grads[k], grads[k], rtol=1e-10, atol=1e-13, err_msg=k)
    np.testing.assert_allclose(graph.loss(X), pairs.loss(X), rtol=1e-13, atol=1e-13)


def test_the_two_builds_agree_and_reg_counts(rng):
    _, layers = _pair_and_graph_nets("layers", reg=0.0)
    _, prims = _pair_and_graph_nets("primitives", reg=0.0)
    X, y = rng.standard_normal((5, 12)), rng.integers(0, 4, 5)
    l0, g0 = layers.loss(X, y)
    l1, g1 = prims.loss(X, y)
    assert l0 == pytest.approx(l1, abs=1e-13)
    prims.reg = 0.5
    l2, g2 = prims.loss(X, y)
    penalty = 0.25 * sum(float((prims.params[f"W{i}"] ** 2).sum()) for i in (1, 2, 3))
    assert l2 == pytest.approx(l1 + penalty, abs=1e-12)
    np.testing.assert_allclose(g2["W2"], g1["W2"] + 0.5 * prims.params["W2"], atol=1e-13)


def test_graph_net_options_are_checked():
    with pytest.raises(ValueError, match="build must be one of"):
        GraphFullyConnectedNet([4], input_dim=3, build="tape")
    with pytest.raises(ValueError, match="offers activation in"):
        GraphFullyConnectedNet([4], input_dim=3, build="primitives", activation="elu")


def test_the_solver_trains_the_engine_net_as_the_layer_pair_net(rng):
    from visionblocks.solver import Solver

    data = {"X_train": rng.standard_normal((60, 12)), "y_train": rng.integers(0, 4, 60),
            "X_val": rng.standard_normal((20, 12)), "y_val": rng.integers(0, 4, 20)}  # fmt: skip
    histories = []
    for build in (None, "primitives"):
        pairs, graph = _pair_and_graph_nets("layers" if build is None else build, reg=0.01)
        model = pairs if build is None else graph
        solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                        batch_size=20, num_epochs=2, verbose=False, seed=0)  # fmt: skip
        solver.train()
        histories.append(solver.loss_history)
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-10)
    assert len(histories[0]) == 6
