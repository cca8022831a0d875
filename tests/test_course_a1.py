"""CS231n 2024 assignment 1 (and the fully-connected checks it shares with assignment 2), replayed.

Each test calls the public API exactly as the course's notebooks call it (the same names,
arguments and shapes, with ``np.random.RandomState(231)`` draws for the notebooks'
``np.random.seed(231)``) and asserts what the notebook checks: its fixed expected arrays and
losses, and its numerical gradient checks with the error the notebook says to expect. The
expected numbers are the course's; nothing here needs CIFAR-10 (data-driven checks use made
data or the embedded digits). The notebooks only print most errors; where a notebook says
"around e-N", the bound asserted is 10 ** (1 - N). Where a gradient check's model draws its
weights from the global stream, ``course_init`` redraws them as the course's model does, so
the check sees the notebook's weights (and gives its printed errors); other models get
``seed=231``.
"""

# ruff: noqa: B023  (the notebooks' closures over loop variables run at once, in the loop)

import numpy as np
import pytest

from course import course_init
from course import course_rs as _rs
from visionblocks.classic import (
    KNearestNeighbor,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from visionblocks.data import load_dataset
from visionblocks.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)
from visionblocks.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from visionblocks.models import FullyConnectedNet, TwoLayerNet
from visionblocks.optim import adam, rmsprop, sgd_momentum
from visionblocks.solver import Solver


# ------------------------------------------------------------------------------ layers
def test_affine_forward_expected_output():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])  # fmt: skip
    assert rel_error(out, correct_out) < 1e-8  # "around e-9 or less"


def test_affine_backward_numerical_gradients():
    rs = _rs()
    x, w, b = rs.randn(10, 2, 3), rs.randn(6, 5), rs.randn(5)
    dout = rs.randn(10, 5)
    dx_num = eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    for num, ana in ((dx_num, dx), (dw_num, dw), (db_num, db)):
        assert rel_error(num, ana) < 1e-9  # "around e-10 or less"


def test_relu_forward_expected_output_and_backward():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array([[0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])  # fmt: skip
    assert rel_error(out, correct_out) < 1e-7  # "on the order of e-8"
    rs = _rs()
    x = rs.randn(10, 10)
    dout = rs.randn(*x.shape)
    dx_num = eval_numerical_gradient_array(lambda x: relu_forward(x)[0], x, dout)
    _, cache = relu_forward(x)
    assert rel_error(dx_num, relu_backward(dout, cache)) < 1e-11  # "on the order of e-12"


def test_affine_relu_sandwich_numerical_gradients():
    rs = _rs()
    x, w, b = rs.randn(2, 3, 4), rs.randn(12, 10), rs.randn(10)
    dout = rs.randn(2, 10)
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    f = affine_relu_forward
    dx_num = eval_numerical_gradient_array(lambda x: f(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: f(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: f(x, w, b)[0], b, dout)
    for num, ana in ((dx_num, dx), (dw_num, dw), (db_num, db)):
        assert rel_error(num, ana) < 1e-9  # "around e-10 or less"


def test_svm_and_softmax_layer_losses():
    rs = _rs()
    num_classes, num_inputs = 10, 50
    x = 0.001 * rs.randn(num_inputs, num_classes)
    y = rs.randint(num_classes, size=num_inputs)
    dx_num = eval_numerical_gradient(lambda x: svm_loss(x, y)[0], x, verbose=False)
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx(9.0, abs=0.01)  # "loss should be around 9"
    assert rel_error(dx_num, dx) < 1e-8  # "around the order of e-9"
    dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
    loss, dx = softmax_loss(x, y)
    assert loss == pytest.approx(np.log(10), abs=0.01)  # "close to 2.3"
    assert rel_error(dx_num, dx) < 1e-7  # "around e-8"


# -------------------------------------------------------------------------- TwoLayerNet
def _two_layer_net_with_course_weights(**kw):
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, **kw)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    return model, X


def test_two_layer_net_initialisation():
    std, D, H, C = 1e-3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std, seed=231)
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)
    assert model.params["W1"].dtype == np.float64  # the course's TwoLayerNet is float64


@pytest.mark.parametrize("kw", [{}, {"dtype": np.float32}], ids=["default", "float32-built"])
def test_two_layer_net_expected_scores_and_losses(kw):
    # a float32-built model given float64 params computes in float64, as the course's does
    model, X = _two_layer_net_with_course_weights(**kw)
    scores = model.loss(X)
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319]]
    )  # fmt: skip
    assert np.abs(scores - correct_scores).sum() < 1e-6
    y = np.asarray([0, 5, 1])
    loss, _ = model.loss(X, y)
    assert abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0
    loss, _ = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10


def test_two_layer_net_numerical_gradients():
    # the notebook's cell runs on the model and inputs of the cells before it
    model, X = _two_layer_net_with_course_weights()
    y = np.asarray([0, 5, 1])
    for reg in [0.0, 0.7]:
        model.reg = reg
        _, grads = model.loss(X, y)
        for name in sorted(grads):
            grad_num = eval_numerical_gradient(
                lambda _: model.loss(X, y)[0], model.params[name], verbose=False
            )
            assert rel_error(grad_num, grads[name]) < 1e-6, (reg, name)  # "around e-7 or less"


# -------------------------------------------------------------------- FullyConnectedNet
def test_fully_connected_net_initial_loss_and_numerical_gradients():
    rs = _rs()
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = rs.randn(N, D)
    y = rs.randint(C, size=(N,))
    for reg in [0, 3.14]:
        model = FullyConnectedNet(
            [H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, dtype=np.float64
        )
        course_init(model, rs, 5e-2)  # the notebook's weights, drawn after X and y
        loss, grads = model.loss(X, y)
        if reg == 0:
            assert loss == pytest.approx(np.log(C), abs=0.1)  # small weights: ~ log C
        for name in sorted(grads):
            grad_num = eval_numerical_gradient(
                lambda _: model.loss(X, y)[0],
                model.params[name],
                verbose=False,
                h=1e-5,
            )
            # "most errors on the order of e-7 or smaller; fine to see e-5 for W2 at reg 0"
            assert rel_error(grad_num, grads[name]) < 1e-4, (reg, name)


def _digits_subset(num_train):
    data = load_dataset("digits", seed=0)
    return {
        "X_train": data["X_train"][:num_train].astype(np.float64),
        "y_train": data["y_train"][:num_train],
        "X_val": data["X_val"].astype(np.float64),
        "y_val": data["y_val"],
    }


@pytest.mark.parametrize("hidden_dims", [[100, 100], [100, 100, 100, 100]], ids=["3", "5"])
def test_fully_connected_net_overfits_50_images(hidden_dims):
    small_data = _digits_subset(50)  # the course uses 50 CIFAR-10 images, here 50 digits
    # only the learning rate and the initialisation scale tuned, as the notebook asks
    learning_rate = 2e-1 if len(hidden_dims) == 2 else 1e-1
    model = FullyConnectedNet(
        hidden_dims, input_dim=64, num_classes=10, weight_scale=2e-1, dtype=np.float64, seed=0
    )
    solver = Solver(
        model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule="sgd",
        optim_config={"learning_rate": learning_rate}, verbose=False,
    )  # fmt: skip
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < 0.1 * solver.loss_history[0]


# ---------------------------------------------------------------------- update rules
def _wdw(N=4, D=5):
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    return w, dw, np.linspace(0.6, 0.9, num=N * D).reshape(N, D)


def test_sgd_momentum_expected_next_w():
    w, dw, v = _wdw()
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, _ = sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])  # fmt: skip
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])  # fmt: skip
    assert rel_error(next_w, expected_next_w) < 1e-7  # "around e-8 or less"
    assert rel_error(expected_velocity, config["velocity"]) < 1e-7


def test_rmsprop_expected_next_w():
    w, dw, cache = _wdw()
    config = {"learning_rate": 1e-2, "cache": cache}
    next_w, _ = rmsprop(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])  # fmt: skip
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])  # fmt: skip
    assert rel_error(expected_next_w, next_w) < 1e-6  # "around e-7 or less"
    assert rel_error(expected_cache, config["cache"]) < 1e-6


def test_adam_expected_next_w():
    w, dw, m = _wdw()
    v = np.linspace(0.7, 0.5, num=20).reshape(4, 5)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, _ = adam(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])  # fmt: skip
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])  # fmt: skip
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])  # fmt: skip
    assert rel_error(expected_next_w, next_w) < 1e-6  # "around e-7 or less"
    assert rel_error(expected_v, config["v"]) < 1e-6
    assert rel_error(expected_m, config["m"]) < 1e-6


# --------------------------------------------------- kNN, SVM and softmax classifiers
def test_knn_distance_versions_agree():
    rs = _rs()
    knn = KNearestNeighbor()
    knn.train(rs.randn(200, 30), rs.randint(10, size=200))
    X_test = rs.randn(40, 30)
    dists = knn.compute_distances_two_loops(X_test)
    assert dists.shape == (40, 200)
    for other in (knn.compute_distances_one_loop(X_test), knn.compute_distances_no_loops(X_test)):
        assert np.linalg.norm(dists - other, ord="fro") < 0.001  # the notebook's threshold
    assert np.array_equal(knn.predict_labels(dists, k=1), knn.predict(X_test, k=1))


@pytest.mark.parametrize(
    "naive, vectorized", [(svm_loss_naive, svm_loss_vectorized),
                          (softmax_loss_naive, softmax_loss_vectorized)], ids=["svm", "softmax"]
)  # fmt: skip
def test_linear_losses_gradient_check_and_vectorised_agreement(naive, vectorized):
    rs = _rs()
    X_dev = np.hstack([rs.randn(500, 64), np.ones((500, 1))])  # the bias trick, as X_dev
    y_dev = rs.randint(10, size=500)
    W = rs.randn(65, 10) * 0.0001
    loss, grad = naive(W, X_dev, y_dev, 0.0)
    if naive is softmax_loss_naive:
        assert loss == pytest.approx(-np.log(0.1), abs=0.01)  # "should be close to -log(0.1)"
    for reg in (0.0, 5e1):
        loss, grad = naive(W, X_dev, y_dev, reg)
        errors = grad_check_sparse(
            lambda w: naive(w, X_dev, y_dev, reg)[0],
            W,
            grad,
            10,
            seed=0,
            verbose=False,
        )
        assert np.max(errors) < 1e-5  # the notebook's "relative errors should be small"
        loss_v, grad_v = vectorized(W, X_dev, y_dev, reg)
        assert abs(loss - loss_v) < 1e-10  # the notebook's difference
        assert np.linalg.norm(grad - grad_v, ord="fro") < 1e-10
