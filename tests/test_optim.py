"""Update rules against PyTorch's optimizers, and the learning-rate schedules."""

import math

import numpy as np
import pytest

from helpers import torch
from visionblocks.optim import (
    adagrad,
    adam,
    cosine_decay,
    exponential_decay,
    get_update_rule,
    linear_warmup,
    make_schedule,
    nesterov,
    rmsprop,
    sgd,
    sgd_momentum,
    step_decay,
)


def _run_ours(rule, config, w0, grads):
    w, cfg = w0.copy(), dict(config)
    for g in grads:
        w, cfg = rule(w, g, cfg)
    return w


def _run_torch(make_opt, w0, grads):
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = make_opt([p])
    for g in grads:
        opt.zero_grad()
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


TORCH_CASES = [
    (sgd, {"learning_rate": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    (
        sgd_momentum,
        {"learning_rate": 0.1, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    (
        nesterov,
        {"learning_rate": 0.1, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    ),
    (
        adagrad,
        {"learning_rate": 0.1, "epsilon": 1e-10},
        lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10),
    ),
    (
        rmsprop,
        {"learning_rate": 0.01, "decay_rate": 0.99, "epsilon": 1e-8},
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8),
    ),
    (adam, {"learning_rate": 1e-2}, lambda p: torch.optim.Adam(p, lr=1e-2)),
]


@pytest.mark.torch
@pytest.mark.parametrize(
    "rule, config, make_opt", TORCH_CASES, ids=lambda v: getattr(v, "__name__", "")
)
def test_update_rules_match_torch_optimizers(rule, config, make_opt, rng):
    if torch is None:
        pytest.skip("torch not installed")
    w0 = rng.standard_normal((4, 5))
    grads = [rng.standard_normal((4, 5)) for _ in range(7)]
    np.testing.assert_allclose(
        _run_ours(rule, config, w0, grads), _run_torch(make_opt, w0, grads), rtol=1e-10, atol=1e-12
    )


def test_adam_first_step_has_the_size_of_the_learning_rate(rng):
    w = rng.standard_normal(10)
    next_w, config = adam(w, rng.standard_normal(10), {"learning_rate": 1e-3})
    assert config["t"] == 1
    np.testing.assert_allclose(np.abs(next_w - w), 1e-3, rtol=1e-4)


def test_rules_keep_state_per_config_and_fill_defaults(rng):
    w, dw = rng.standard_normal(3), rng.standard_normal(3)
    _, config = sgd_momentum(w, dw)
    assert config["momentum"] == 0.9 and config["velocity"].shape == (3,)
    _, config2 = sgd_momentum(w, dw, config)
    assert config2 is config


def test_unknown_rule_and_negative_learning_rate_are_errors(rng):
    with pytest.raises(ValueError, match="unknown update rule 'adamw'"):
        get_update_rule("adamw")
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        sgd(np.ones(2), np.ones(2), {"learning_rate": -1.0})


def test_step_and_exponential_schedules():
    s = step_decay(1.0, step_size=10, gamma=0.5)
    assert [s(0), s(9), s(10), s(25)] == [1.0, 1.0, 0.5, 0.25]
    assert exponential_decay(2.0, 0.5)(3) == 0.25


def test_cosine_schedule_ends_at_min_lr():
    s = cosine_decay(1.0, 100, min_lr=0.1)
    assert s(0) == 1.0 and s(100) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
    assert s(50) == pytest.approx(0.55)


def test_linear_warmup_ramps_then_follows():
    s = linear_warmup(lambda step: 1.0, warmup_steps=10)
    assert s(0) == 0.0 and s(5) == pytest.approx(0.5) and s(10) == 1.0 and s(50) == 1.0


def test_make_schedule_by_name():
    s = make_schedule("cosine", 0.1, total_steps=100, warmup_steps=10)
    assert s(0) == 0.0 and s(10) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.1)))
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("triangle", 0.1, 10)
