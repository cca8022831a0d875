"""Random expression trees of the primitives agree with torch autograd to 1e-10 (float64).

Hypothesis draws trees over five broadcastable leaves (some used more than once, so gradients
accumulate); log, pow and div get positive inputs (sigmoid(e) + 0.5), exp a bounded one.
The output's gradient is a random array, so ``backward(grad=...)`` is exercised too.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionblocks.autograd as ag

torch = pytest.importorskip("torch")

LEAVES = {"a": (2, 3), "b": (3,), "c": (2, 1), "d": (), "w": (3, 3)}
UNARY = ["neg", "exp", "log", "tanh", "sigmoid", "relu", "sum", "mean", "max", "reshape",
         "transpose", "index"]  # fmt: skip
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "matmul"]


def _pos(tree):
    return ("add", ("sigmoid", tree), ("const", 0.5))


def _reduced_shape(shape, axis, keepdims):
    axes = range(len(shape)) if axis is None else [axis]
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


@st.composite
def trees(draw, depth=4):
    """(tree, shape) of a random expression; trees are nested tuples (op, *children)."""
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(sorted(LEAVES)))
        return ("leaf", name), LEAVES[name]
    if draw(st.booleans()):
        op = draw(st.sampled_from(UNARY))
        sub, shape = draw(trees(depth - 1))
        if op == "exp":
            return ("exp", ("tanh", sub)), shape
        if op == "log":
            return ("log", _pos(sub)), shape
        if op in ("sum", "mean", "max"):
            axis = draw(st.sampled_from([None, *range(len(shape))]))
            keepdims = draw(st.booleans())
            return (op, sub, axis, keepdims), _reduced_shape(shape, axis, keepdims)
        if op == "reshape":
            return ("reshape", sub), (int(np.prod(shape)),)
        if op == "transpose" and len(shape) >= 2:
            return ("transpose", sub), shape[::-1]
        if op == "index" and len(shape) >= 1 and shape[0] >= 2:
            if draw(st.booleans()):
                return ("take", sub), (3, *shape[1:])  # rows [0, -1, 0]: a repeated index
            return ("slice", sub), (shape[0] - 1, *shape[1:])
        return (op if op in ("neg", "tanh", "sigmoid", "relu") else "neg", sub), shape
    op = draw(st.sampled_from(BINARY))
    left, ls = draw(trees(depth - 1))
    if op == "matmul" and len(ls) >= 1 and ls[-1] == 3:
        return ("matmul", left, ("leaf", "w")), (*ls[:-1], 3)
    right, rs = draw(trees(depth - 1))
    try:
        shape = np.broadcast_shapes(ls, rs)
    except ValueError:
        right, rs = ("sum", right, None, False), ()
        shape = ls
    if op == "div":
        return ("div", left, _pos(right)), shape
    if op == "pow":
        return ("pow", _pos(left), ("tanh", right)), shape
    return (op if op in ("add", "sub", "mul", "maximum") else "add", left, right), shape


def evaluate(tree, env, lib):
    """The tree's value with leaves from env and operations from lib (ours or torch's)."""
    op, *args = tree
    if op == "leaf":
        return env[args[0]]
    if op == "const":
        return args[0]
    if op in ("sum", "mean", "max"):
        return lib[op](evaluate(args[0], env, lib), *args[1:])
    return lib[op](*(evaluate(a, env, lib) for a in args))


OURS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a**b, "matmul": lambda a, b: a @ b,
    "maximum": ag.maximum, "neg": lambda a: -a, "exp": ag.exp, "log": ag.log, "tanh": ag.tanh,
    "sigmoid": ag.sigmoid, "relu": ag.relu,
    "sum": lambda a, axis, k: a.sum(axis=axis, keepdims=k),
    "mean": lambda a, axis, k: a.mean(axis=axis, keepdims=k),
    "max": lambda a, axis, k: a.max(axis=axis, keepdims=k),
    "reshape": lambda a: a.reshape(-1), "transpose": lambda a: a.transpose(),
    "take": lambda a: a[[0, -1, 0]], "slice": lambda a: a[1:],
}  # fmt: skip


def _dims(a, axis):
    return tuple(range(a.ndim)) if axis is None else (axis,)


def _torch_reduce(name):
    def reduce(a, axis, keepdims):
        if a.ndim == 0:
            return a * 1.0 if name != "mean" else a.mean()
        fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[name]
        return fn(a, dim=_dims(a, axis), keepdim=keepdims)

    return reduce


TORCH = {
    **{k: OURS[k] for k in ("add", "sub", "mul", "div", "pow", "matmul", "neg", "take", "slice")},
    "maximum": torch.maximum, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu,
    "sum": _torch_reduce("sum"), "mean": _torch_reduce("mean"), "max": _torch_reduce("max"),
    "reshape": lambda a: a.reshape(-1), "transpose": lambda a: a.permute(*range(a.ndim)[::-1]),
}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(trees(), st.integers(0, 2**16))
def test_random_expressions_agree_with_torch_autograd(tree_shape, seed):
    tree, shape = tree_shape
    rng = np.random.default_rng(seed)
    values = {k: rng.standard_normal(s) for k, s in LEAVES.items()}
    ours = {k: ag.tensor(v, requires_grad=True) for k, v in values.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    out, ref = evaluate(tree, ours, OURS), evaluate(tree, theirs, TORCH)
    assert out.shape == tuple(ref.shape) == shape
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(shape)
    out.backward(dout)
    ref.backward(torch.tensor(dout))
    for k in LEAVES:
        if theirs[k].grad is None:
            assert ours[k].grad is None, k
            continue
        np.testing.assert_allclose(
            ours[k].grad, theirs[k].grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=f"{k}: {tree}"
        )


def test_tie_rules_match_torch():
    a = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.maximum(a, torch.tensor([1.0, 3.0, 0.0], dtype=torch.float64)).sum().backward()
    x = ag.tensor([1.0, 2.0, 2.0], requires_grad=True)
    ag.maximum(x, [1.0, 3.0, 0.0]).sum().backward()
    np.testing.assert_array_equal(x.grad, a.grad.numpy())
    a.grad = None
    torch.amax(a, dim=0).backward()
    x.zero_grad()
    x.max().backward()
    np.testing.assert_array_equal(x.grad, a.grad.numpy())
