"""Gradient checking: central differences (the course's functions) and the table-driven checker
that runs every entry of the layer registry (``visionblocks.layers.registry.LAYERS``)."""

from visionblocks.gradcheck.harness import (
    LayerCase,
    analytic_grads,
    check_layer,
    format_table,
    run_table,
)
from visionblocks.gradcheck.numeric import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)
from visionblocks.layers.registry import KINK_TOL, TOL, ZERO_TOL, LayerEntry, all_layers, find_layer

__all__ = [
    "KINK_TOL",
    "TOL",
    "ZERO_TOL",
    "LayerCase",
    "LayerEntry",
    "all_layers",
    "analytic_grads",
    "check_layer",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "find_layer",
    "format_table",
    "grad_check_sparse",
    "rel_error",
    "run_table",
]
