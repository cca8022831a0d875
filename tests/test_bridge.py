"""The bridge: torch.autograd.gradcheck on every NumPy backward, and model weights both ways."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.gradcheck import all_layers  # noqa: E402
from visionblocks.gradcheck import find_layer as find_case  # noqa: E402
from visionblocks.models import FullyConnectedNet, TwoLayerNet  # noqa: E402
from visionblocks.torchkit import models as tm  # noqa: E402
from visionblocks.torchkit.bridge import (  # noqa: E402
    bridge_case,
    case_inputs,
    load_into_numpy,
    load_numpy_params,
    numpy_buffers,
    numpy_function,
    numpy_grads,
    numpy_params,
)

LAYER_CASES = all_layers()
pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend


def _gradcheck(case, seed=0):
    args = case.make_args(np.random.default_rng(seed))
    targs = case_inputs(case, args)
    f = bridge_case(case)
    pos = [case.arg_names.index(n) for n in case.wrt]

    def fn(*tensors):
        full = list(targs)
        for p, t in zip(pos, tensors):
            full[p] = t
        return f(*full)

    inputs = tuple(targs[p] for p in pos)
    return torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4,
                                    raise_exception=False)  # fmt: skip


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_numpy_backward_passes_torch_gradcheck(case):
    assert _gradcheck(case), f"{case.name}: the NumPy backward disagrees with gradcheck"


def test_gradcheck_catches_a_wrong_backward():
    case = find_case("tanh")
    wrong = dataclasses.replace(case, backward=lambda dout, cache: dout * (1 - cache))
    assert not _gradcheck(wrong)


def test_bridged_function_is_usable_in_a_graph(rng):
    from visionblocks.layers import affine_backward, affine_forward

    affine = numpy_function(affine_forward, affine_backward, (0, 1, 2))
    x, w, b = (torch.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((4, 3), (3, 2), (2,)))  # fmt: skip
    (affine(x, w, b).tanh().sum()).backward()
    ref = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    (ref[0] @ ref[1] + ref[2]).tanh().sum().backward()
    for t, r in zip((x, w, b), ref):
        torch.testing.assert_close(t.grad, r.grad)


def _perturbed_fc(normalization, dtype=np.float64):
    np_model = FullyConnectedNet([7, 5], input_dim=12, num_classes=4, normalization=normalization,
                                 reg=0.1, dtype=dtype, seed=3, init="he")  # fmt: skip
    rng = np.random.default_rng(1)
    for k, v in np_model.params.items():
        np_model.params[k] = (v + 0.1 * rng.standard_normal(v.shape)).astype(dtype)
    return np_model


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_numpy_to_torch_same_scores_loss_and_grads(rng, normalization):
    np_model = _perturbed_fc(normalization)
    X, y = rng.standard_normal((6, 3, 2, 2)), rng.integers(0, 4, 6)
    loss, grads = np_model.loss(X, y)  # train mode: also fills the running statistics
    twin = tm.FullyConnectedNet([7, 5], input_dim=12, num_classes=4, normalization=normalization,
                                reg=0.1, dtype=np.float64)  # fmt: skip
    load_numpy_params(twin, np_model.params, np_model.buffers())
    twin.train()
    t_loss = twin.loss(torch.from_numpy(X), torch.from_numpy(y))
    t_loss.backward()
    assert float(t_loss.detach()) == pytest.approx(loss, rel=1e-12)
    t_grads = numpy_grads(twin)
    for k in grads:
        np.testing.assert_allclose(t_grads[k], grads[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # torch's own train step moved its running statistics (unbiased variance): copy them again
    load_numpy_params(twin, np_model.params, np_model.buffers()).eval()
    np.testing.assert_allclose(
        twin(torch.from_numpy(X)).detach().numpy(), np_model.loss(X), rtol=1e-10, atol=1e-12
    )


def test_torch_to_numpy_after_a_torch_update(rng):
    twin = tm.FullyConnectedNet([16], input_dim=10, num_classes=3, normalization="batchnorm",
                                dtype=np.float64, seed=0)  # fmt: skip
    X, y = torch.from_numpy(rng.standard_normal((8, 10))), torch.from_numpy(rng.integers(0, 3, 8))
    opt = torch.optim.SGD(twin.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        twin.loss(X, y).backward()
        opt.step()
    np_model = FullyConnectedNet([16], input_dim=10, num_classes=3, normalization="batchnorm",
                                 dtype=np.float64, seed=99)  # fmt: skip
    load_into_numpy(twin, np_model)
    twin.eval()
    np.testing.assert_allclose(np_model.loss(X.numpy()), twin(X).detach().numpy(), rtol=1e-10)
    assert set(numpy_buffers(twin)) == {"running_mean1", "running_var1"}


def test_twins_start_from_the_numpy_initialisation():
    a = TwoLayerNet(20, 8, 3, seed=5, init="xavier", dtype=np.float32)  # the twin's default
    twin = tm.TwoLayerNet(20, 8, 3, seed=5, init="xavier")
    got = numpy_params(twin)
    assert set(got) == set(a.params) == {"W1", "b1", "W2", "b2"}
    for k in a.params:
        np.testing.assert_array_equal(got[k], a.params[k])
    assert twin.out.weight.dtype == torch.float32


def test_bridge_refuses_params_that_do_not_fit():
    twin = tm.TwoLayerNet(20, 8, 3)
    params = TwoLayerNet(20, 8, 3).params
    with pytest.raises(ValueError, match="missing"):
        load_numpy_params(twin, {k: v for k, v in params.items() if k != "b2"})
    with pytest.raises(ValueError, match="needs"):
        load_numpy_params(twin, {**params, "W1": np.zeros((21, 8), np.float32)})
    with pytest.raises(TypeError, match="not a twin"):
        load_numpy_params(torch.nn.Linear(2, 2), params)
