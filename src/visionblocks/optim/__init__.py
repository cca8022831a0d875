"""Update rules and learning-rate schedules."""

from visionblocks.optim.rules import (
    UPDATE_RULES,
    adagrad,
    adam,
    get_update_rule,
    nesterov,
    rmsprop,
    sgd,
    sgd_momentum,
)
from visionblocks.optim.schedules import (
    cosine_decay,
    exponential_decay,
    linear_warmup,
    make_schedule,
    one_cycle,
    step_decay,
)

__all__ = [
    "UPDATE_RULES",
    "adagrad",
    "adam",
    "cosine_decay",
    "exponential_decay",
    "get_update_rule",
    "linear_warmup",
    "make_schedule",
    "nesterov",
    "one_cycle",
    "rmsprop",
    "sgd",
    "sgd_momentum",
    "step_decay",
]
