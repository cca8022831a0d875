"""A small autograd engine over NumPy: the computational graph of lecture 4.

``Tensor`` records the graph of the primitives in ``functions.py`` and ``backward()`` walks it
in reverse topological order; ``gates`` is the lecture's gate / ``ComputationalGraph`` face of
the same primitives; ``layer_node`` makes any registered layer pair one node; ``draw`` turns a
graph into Graphviz dot with every value and gradient. See docs/autograd.md.
"""

from visionblocks.autograd.functions import Function
from visionblocks.autograd.gates import (
    AddGate,
    ComputationalGraph,
    DivideGate,
    ExpGate,
    Gate,
    LogGate,
    MatMulGate,
    MaxGate,
    MeanGate,
    MultiplyGate,
    NegateGate,
    PowerGate,
    ReLUGate,
    SigmoidGate,
    SubtractGate,
    SumGate,
    TanhGate,
)
from visionblocks.autograd.ops import (
    add,
    affine,
    div,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    sub,
    sum,
    tanh,
    transpose,
)
from visionblocks.autograd.tensor import Tensor, apply, is_grad_enabled, no_grad, tensor

__all__ = [
    "AddGate",
    "ComputationalGraph",
    "DivideGate",
    "ExpGate",
    "Gate",
    "LogGate",
    "MatMulGate",
    "MaxGate",
    "MeanGate",
    "MultiplyGate",
    "NegateGate",
    "PowerGate",
    "ReLUGate",
    "SigmoidGate",
    "SubtractGate",
    "SumGate",
    "TanhGate",
    "Function",
    "Tensor",
    "add",
    "affine",
    "apply",
    "div",
    "exp",
    "is_grad_enabled",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mul",
    "neg",
    "no_grad",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "transpose",
]

from visionblocks.autograd.bridge import layer_node  # noqa: E402
from visionblocks.autograd.fc_net import GraphFullyConnectedNet  # noqa: E402

__all__ += ["GraphFullyConnectedNet", "layer_node"]
