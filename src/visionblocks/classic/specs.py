"""The classic models, each described once: ``knn``, ``svm`` and ``softmax`` with their typed
options and the runners (``visionblocks.classic.runner``) that train and evaluate them."""

from __future__ import annotations

import visionblocks.models.specs  # noqa: F401  (the networks come first in the registry)
from visionblocks.analysis.layers import Linear
from visionblocks.classic.knn import METRICS
from visionblocks.classic.runner import (
    DEFAULT_K_CHOICES,
    evaluate_knn,
    evaluate_linear,
    train_knn,
    train_linear,
)
from visionblocks.errors import ConfigError
from visionblocks.model_registry import ModelSpec, Runner, register
from visionblocks.options import Option


def _knn_check(o, given):
    if o["k"] is not None and o["k_choices"] is not None:
        raise ConfigError("options k and k_choices: give k (a fixed k) or k_choices "
                          "(cross-validated), not both")  # fmt: skip


def _knn_check_data(cfg, data):
    k = cfg.model_options["k"]
    fit_on = cfg.fit_on or "train+val"
    n = len(data["y_train"]) + (len(data["y_val"]) if fit_on == "train+val" else 0)
    if k is not None and k > n:
        raise ConfigError(f"option k: k must be in [1, {n}] (the {fit_on} examples), got {k}")


KNN = register(ModelSpec(
    name="knn",
    summary="k-nearest neighbours (k chosen by cross-validation on the training split)",
    engines=("numpy",),
    options=(
        Option("k", "int", None, "a fixed k (skips the cross-validation)", optional=True, low=1),
        Option("k_choices", "int_list", None, "the k values to cross-validate (default "
               f"{','.join(map(str, DEFAULT_K_CHOICES))})", optional=True, low=1, nonempty=True),
        Option("num_folds", "int", 5, "cross-validation folds", low=2),
        Option("metric", "str", "l2", "distance: l2 or l1", choices=METRICS),
        Option("max_memory_mb", "float", 512.0, "memory bound of the distance blocks", low=0,
               low_open=True),
        Option("cv_num_train", "int", None, "cross-validate on a seeded subsample of this size",
               optional=True, low=1),
    ),
    uses=("classic",),
    runner=Runner(train=train_knn, evaluate=evaluate_knn),
    check=_knn_check,
    check_data=_knn_check_data,
))  # fmt: skip


def _range(name, help):
    return Option(name, "float_list", None, help, optional=True, low=0, low_open=True, length=2)


def _linear_profile(o, shape, num_classes):
    return [Linear(num_classes, name="scores")]  # W (D + 1, C) with the bias trick = D*C + C


LINEAR_OPTIONS = (
    Option("reg", "float", 0.0, "L2 strength: loss += reg * sum(W**2)", low=0),
    Option("weight_scale", "float", 1e-2, "std of the Gaussian init of W", low=0,
           low_open=True),
    Option("learning_rates", "float_list", None, "grid search: the learning rates (default "
           "lr * 0.3, 1, 3)", optional=True, low=0, low_open=True, nonempty=True),
    Option("regs", "float_list", None, "grid search: the reg values (default: reg)",
           optional=True, low=0, nonempty=True),
    _range("lr_range", "random search: [low, high] of the learning rate (default lr/10, lr*10)"),
    _range("reg_range", "random search: [low, high] of reg (default reg/10, reg*10)"),
    Option("search_rounds", "int", 2, "random search: rounds of narrowing", low=1),
)  # fmt: skip

for _name, _summary in (("svm", "linear SVM (multiclass hinge loss), minibatch SGD"),
                        ("softmax", "softmax (linear) classifier, minibatch SGD")):  # fmt: skip
    register(ModelSpec(
        name=_name,
        summary=_summary,
        engines=("numpy",),
        options=LINEAR_OPTIONS,
        uses=("classic", "linear"),
        runner=Runner(train=train_linear, evaluate=evaluate_linear),
        profile=_linear_profile,
    ))  # fmt: skip
