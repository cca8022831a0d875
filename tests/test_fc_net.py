"""FullyConnectedNet and TwoLayerNet: gradients, the classic sanity checks, and bad input."""

import numpy as np
import pytest

from visionblocks.errors import ShapeError
from visionblocks.gradcheck import eval_numerical_gradient, rel_error
from visionblocks.models import FullyConnectedNet, TwoLayerNet
from visionblocks.models.init import init_std
from visionblocks.solver import Solver


def _small_problem(rng, n=5, d=12, c=4):
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


@pytest.mark.parametrize(
    "normalization, keep, reg",
    [
        (None, 1, 0.0),
        (None, 1, 3.14),
        ("batchnorm", 1, 0.7),
        ("layernorm", 1, 0.0),
        (None, 0.5, 0.1),
    ],
)
def test_fc_net_gradients_match_central_differences(normalization, keep, reg, rng):
    X, y = _small_problem(rng)
    model = FullyConnectedNet(
        [7, 6], input_dim=12, num_classes=4, normalization=normalization, reg=reg,
        dropout_keep_ratio=keep, weight_scale=2e-1, dtype=np.float64, seed=1,
    )  # fmt: skip
    if keep < 1:  # the same mask in every evaluation
        model.dropout_param["seed"] = 3
    for k in model.params:  # zero biases put units whose inputs all dropped exactly on the kink
        if k.startswith("b"):
            model.params[k] += 0.1 * rng.standard_normal(model.params[k].shape)
    _, grads = model.loss(X, y)
    for name, w in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], w, verbose=False)
        assert rel_error(numeric, grads[name]) < 1e-6, name


def test_initial_loss_is_log_num_classes(rng):
    X, y = rng.standard_normal((200, 30)), rng.integers(0, 10, 200)
    model = FullyConnectedNet([50, 50], input_dim=30, num_classes=10, weight_scale=1e-4, seed=0)
    loss, _ = model.loss(X.astype(np.float32), y)
    assert loss == pytest.approx(np.log(10), rel=0.01)


def test_regularisation_adds_half_reg_sum_of_squared_weights(rng):
    X, y = _small_problem(rng)
    model = FullyConnectedNet([6], input_dim=12, num_classes=4, dtype=np.float64, seed=0)
    base, _ = model.loss(X, y)
    model.reg = 2.0
    with_reg, _ = model.loss(X, y)
    expected = 0.5 * 2.0 * sum(np.sum(model.params[k] ** 2) for k in ("W1", "W2"))
    assert with_reg - base == pytest.approx(expected)


def test_two_layer_net_has_classic_params_and_scores(rng):
    model = TwoLayerNet(input_dim=12, hidden_dim=8, num_classes=3, seed=0)
    assert sorted(model.params) == ["W1", "W2", "b1", "b2"]
    assert model.params["W1"].shape == (12, 8) and model.params["W1"].dtype == np.float64
    assert model.loss(rng.standard_normal((4, 12)).astype(np.float32)).dtype == np.float64
    fast = TwoLayerNet(input_dim=12, hidden_dim=8, num_classes=3, dtype=np.float32, seed=0)
    assert fast.params["W1"].dtype == np.float32
    assert fast.loss(rng.standard_normal((4, 12))).shape == (4, 3)
    assert fast.loss(rng.standard_normal((4, 12))).dtype == np.float32


def test_same_seed_same_weights_and_he_init_scale():
    a = FullyConnectedNet([400], input_dim=300, num_classes=10, seed=5, init="he")
    b = FullyConnectedNet([400], input_dim=300, num_classes=10, seed=5, init="he")
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert a.params["W1"].std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    assert init_std(100, 300, init="xavier") == pytest.approx(np.sqrt(2 / 400))


def test_overfits_fifty_images_within_twenty_epochs():
    from visionblocks.data import load_dataset

    data = load_dataset("digits", num_train=50, seed=0)
    model = FullyConnectedNet([100, 100], input_dim=64, num_classes=10, init="he", seed=0)
    solver = Solver(
        model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
        batch_size=25, num_epochs=20, verbose=False, seed=0,
    )  # fmt: skip
    solver.train()
    assert solver.train_acc_history[-1] == 1.0


def test_bad_input_is_rejected(rng):
    model = FullyConnectedNet([5], input_dim=12, num_classes=3, seed=0)
    with pytest.raises(ShapeError, match="12 values"):
        model.loss(rng.standard_normal((4, 10)).astype(np.float32))
    with pytest.raises(TypeError, match="floating dtype"):
        model.loss(np.zeros((4, 12), dtype=np.int64))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
        model.loss(np.zeros((2, 12), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match="normalization must be one of"):
        FullyConnectedNet([5], normalization="groupnorm")
    with pytest.raises(ValueError, match="dropout_keep_ratio"):
        FullyConnectedNet([5], dropout_keep_ratio=0.0)


def test_batchnorm_net_uses_running_statistics_at_test_time(rng):
    X, y = rng.standard_normal((64, 12)).astype(np.float32), rng.integers(0, 3, 64)
    model = FullyConnectedNet([8], input_dim=12, num_classes=3, normalization="batchnorm", seed=0)
    model.loss(X, y)
    assert set(model.buffers()) == {"running_mean1", "running_var1"}
    one = model.loss(X[:1])
    np.testing.assert_allclose(one, model.loss(X)[:1], rtol=1e-5)  # no dependence on the batch


def test_dropout_masks_fixed_by_a_seed_as_the_course_or_fresh_for_training(rng):
    X, y = rng.standard_normal((6, 12)), np.arange(6) % 4

    def losses(**kw):
        model = FullyConnectedNet([20], input_dim=12, num_classes=4, dropout_keep_ratio=0.5,
                                  dtype=np.float64, **kw)  # fmt: skip
        return model.loss(X, y)[0], model.loss(X, y)[0], model

    a, b, model = losses(seed=123)  # the course: a seed fixes the mask of every pass
    assert a == b and model.dropout_masks == "fixed"
    a, b, model = losses(seed=123, dropout_masks="fresh")  # training: new masks each pass
    assert a != b and model.dropout_masks == "fresh"
    assert losses(seed=123, dropout_masks="fresh")[:2] == (a, b)  # still reproducible
    assert losses()[2].dropout_masks == "fresh"
    with pytest.raises(ValueError, match="dropout_masks='fixed' needs a seed"):
        FullyConnectedNet([5], input_dim=3, dropout_keep_ratio=0.5, dropout_masks="fixed")
    with pytest.raises(ValueError, match="dropout_masks must be one of"):
        FullyConnectedNet([5], input_dim=3, dropout_masks="random", seed=0)


def test_the_cli_model_trains_with_fresh_masks_and_twolayer_in_float32():
    from visionblocks.config import config_from_dict
    from visionblocks.runs import build_model

    data = {"X_train": np.zeros((2, 1, 8, 8), np.float32), "class_names": list("0123456789")}
    cfg = config_from_dict({"data": "digits", "dropout_keep": 0.8, "seed": 0}).validate()
    assert build_model(cfg, data).dropout_masks == "fresh"
    cfg = config_from_dict({"data": "digits", "model": "twolayer", "hidden_dims": [16]})
    assert build_model(cfg.validate(), data).params["W1"].dtype == np.float32
