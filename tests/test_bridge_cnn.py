"""Conv twins: the same scores, loss and gradients as the NumPy conv nets, weights both ways."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cnn = pytest.importorskip("visionblocks.models.cnn")

from visionblocks.torchkit import models_cnn as tc  # noqa: E402
from visionblocks.torchkit.bridge import (  # noqa: E402
    load_into_numpy,
    load_numpy_params,
    numpy_grads,
    numpy_params,
)
from visionblocks.torchkit.models import twin_of  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend

CONVNETS = {
    "plain": dict(num_filters=(4, 6), hidden_dims=(10,), normalization=None),
    "batchnorm": dict(num_filters=(4, 6), hidden_dims=(10,)),
    "groupnorm": dict(num_filters=(4, 6), hidden_dims=(), normalization="groupnorm", groups=2),
    "residual": dict(num_filters=(4, 6), hidden_dims=(8,), residual=True, global_pool=True),
}


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    for k, v in model.params.items():
        model.params[k] = v + 0.05 * rng.standard_normal(v.shape)
    return model


def _check_same(np_model, twin, X, y):
    loss, grads = np_model.loss(X, y)  # train mode (fills the running statistics)
    twin.train()
    t_loss = twin.loss(torch.from_numpy(X), torch.from_numpy(y))
    t_loss.backward()
    assert float(t_loss.detach()) == pytest.approx(loss, rel=1e-10)
    t_grads = numpy_grads(twin)
    assert set(t_grads) == set(grads)
    for k in grads:
        np.testing.assert_allclose(t_grads[k], grads[k], rtol=1e-7, atol=1e-10, err_msg=k)
    load_numpy_params(twin, np_model.params, np_model.buffers()).eval()
    scores = twin(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(scores, np_model.loss(X), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", sorted(CONVNETS))
def test_convnet_twin_matches_numpy(rng, kind):
    kw = dict(input_dim=(2, 8, 8), num_classes=3, reg=0.05, dtype=np.float64, seed=0)
    np_model = _perturb(cnn.ConvNet(**kw, **CONVNETS[kind]))
    twin = tc.ConvNet(**kw, **CONVNETS[kind])
    load_numpy_params(twin, np_model.params)
    X, y = rng.standard_normal((5, 2, 8, 8)), rng.integers(0, 3, 5)
    _check_same(np_model, twin, X, y)


def test_three_layer_convnet_twin_matches_numpy(rng):
    kw = dict(input_dim=(1, 6, 6), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4,
              reg=0.1, dtype=np.float64, seed=2, init="he")  # fmt: skip
    np_model = cnn.ThreeLayerConvNet(**kw)
    twin = tc.ThreeLayerConvNet(**kw)
    for k, v in numpy_params(twin).items():  # same constructor arguments, same initial weights
        np.testing.assert_array_equal(v, np_model.params[k])
    _check_same(np_model, twin, rng.standard_normal((4, 1, 6, 6)), rng.integers(0, 4, 4))


def test_from_numpy_and_back_with_running_statistics(rng):
    np_model = cnn.ConvNet((1, 8, 8), (4,), 2, (6,), 3, dropout_keep=0.5, seed=0)
    X = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    np_model.loss(X, rng.integers(0, 3, 6))  # running statistics exist now
    twin = twin_of(np_model).eval()
    assert isinstance(twin, tc.ConvNet) and twin.dropout.p == 0.5
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), np_model.loss(X),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    with torch.no_grad():  # torch -> NumPy: change the twin, copy back, same scores
        for p in twin.parameters():
            p.mul_(1.1)
        twin.norms["1"].running_var.mul_(2.0)
    other = cnn.ConvNet((1, 8, 8), (4,), 2, (6,), 3, dropout_keep=0.5, seed=7)
    load_into_numpy(twin, other)
    np.testing.assert_allclose(other.loss(X), twin(torch.from_numpy(X)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_twin_of_refuses_a_model_without_a_twin():
    with pytest.raises(TypeError, match="has no torch twin"):
        twin_of(object())
