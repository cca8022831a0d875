"""Lecture 4's gates and ``ComputationalGraph``: the teaching face of the autograd engine.

A gate has ``forward(*inputs) -> output`` and ``backward(dout) -> [dinput, ...]``, as on the
slides; each gate runs one primitive of ``functions.py`` (the same local gradients the
``Tensor`` uses). ``ComputationalGraph`` holds input nodes and gate nodes, runs the gates
forward in topological order and backward in the reverse order, adding the gradients of a
node used by more than one gate (gradients add at branches).

    g = ComputationalGraph()
    x, y, z = g.inputs("x", "y", "z")
    q = g.gate(AddGate(), x, y, name="q")
    f = g.gate(MultiplyGate(), q, z, name="f")
    g.forward(x=-2, y=5, z=-4)   # -12.0
    g.backward()                 # {'x': -4.0, 'y': -4.0, 'z': 3.0}
"""

from __future__ import annotations

import numpy as np

from visionblocks.autograd import functions as F
from visionblocks.autograd import functions_shape as S
from visionblocks.autograd.tensor import topological_order

__all__ = [
    "Gate",
    "AddGate",
    "SubtractGate",
    "MultiplyGate",
    "DivideGate",
    "PowerGate",
    "NegateGate",
    "MatMulGate",
    "ExpGate",
    "LogGate",
    "TanhGate",
    "SigmoidGate",
    "ReLUGate",
    "MaxGate",
    "SumGate",
    "MeanGate",
    "GraphNode",
    "ComputationalGraph",
]


def _plain(a):
    """A 0-d array as a Python float (the lecture's numbers), anything else unchanged."""
    return float(a) if np.ndim(a) == 0 else a


def _float(x) -> np.ndarray:
    """x as a floating array (numbers and lists as float64, float32 arrays kept)."""
    a = np.asarray(x)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


class Gate:
    """A gate: one primitive with the lecture's ``forward`` / ``backward`` methods.

    Subclasses set ``function`` (a ``functions.Function`` class); keyword options (``axis``
    for ``SumGate``) are passed to it.
    """

    function: type[F.Function] = F.Function

    def __init__(self, **options):
        self.options = options
        self.fn = None

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def symbol(self) -> str:
        return self.function.symbol

    def forward(self, *inputs):
        """Computes the gate's output and keeps what its backward needs.

        Args:
            inputs: numbers or arrays (broadcastable for the elementwise gates).
        """
        self.fn = self.function(**self.options)
        return _plain(self.fn(*(_float(x) for x in inputs)))

    def backward(self, dout):
        """The gradient for each input, given the gradient ``dout`` of the output."""
        if self.fn is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return [_plain(g) for g in self.fn.backward(_float(dout))]

    def __repr__(self):
        return f"{type(self).__name__}()"


def _gate(cls_name, function, doc):
    return type(cls_name, (Gate,), {"function": function, "__doc__": doc})


AddGate = _gate("AddGate", F.Add, "x + y: distributes the gradient to both inputs.")
SubtractGate = _gate("SubtractGate", F.Sub, "x - y.")
MultiplyGate = _gate("MultiplyGate", F.Mul, "x * y: swaps the inputs: dx = y dz, dy = x dz.")
DivideGate = _gate("DivideGate", F.Div, "x / y.")
PowerGate = _gate("PowerGate", F.Pow, "x ** y.")
NegateGate = _gate("NegateGate", F.Neg, "-x.")
MatMulGate = _gate("MatMulGate", F.MatMul, "x @ y.")
ExpGate = _gate("ExpGate", F.Exp, "exp(x): the local gradient is the output.")
LogGate = _gate("LogGate", F.Log, "log(x).")
TanhGate = _gate("TanhGate", F.Tanh, "tanh(x).")
SigmoidGate = _gate("SigmoidGate", F.Sigmoid, "sigmoid(x): local gradient (1 - s) s.")
ReLUGate = _gate("ReLUGate", F.ReLU, "max(0, x).")
MaxGate = _gate("MaxGate", F.Maximum, "max(x, y): routes the gradient to the larger input.")
SumGate = _gate("SumGate", S.Sum, "sum(x, axis=None): copies the gradient to every element.")
MeanGate = _gate("MeanGate", S.Mean, "mean(x, axis=None).")


class GraphNode:
    """A node of a ``ComputationalGraph``: an input (``op`` None) or a gate over other nodes.

    Attributes:
        name: the node's label.
        op: its gate, or None for an input.
        parents: the nodes the gate reads, in order.
        data: the value of the last forward pass.
        grad: the gradient of the last backward pass.
    """

    def __init__(self, name, op=None, parents=(), constant=False):
        self.name = name
        self.constant = constant
        self.op = op
        self.parents = tuple(parents)
        self.data = None
        self.grad = None

    def __repr__(self):
        kind = "input" if self.op is None else type(self.op).__name__
        return f"GraphNode({self.name!r}, {kind}, data={self.data}, grad={self.grad})"


class ComputationalGraph:
    """Gates wired into a graph: forward in topological order, backward in reverse."""

    def __init__(self):
        self.nodes: list[GraphNode] = []
        self.output: GraphNode | None = None

    def input(self, name: str) -> GraphNode:
        """Adds an input node named ``name`` (its value is given to ``forward``)."""
        if any(n.name == name and n.op is None for n in self.nodes):
            raise ValueError(f"the graph already has an input named {name!r}")
        node = GraphNode(name)
        self.nodes.append(node)
        return node

    def inputs(self, *names: str) -> list[GraphNode]:
        """Adds one input node per name."""
        return [self.input(n) for n in names]

    def constant(self, value, name=None) -> GraphNode:
        """Adds a node with a fixed value (the 1 of 1 + exp(-x))."""
        node = GraphNode(name if name is not None else f"{value:g}", constant=True)
        node.data = _plain(np.asarray(value, dtype=np.float64))
        self.nodes.append(node)
        return node

    def gate(self, gate: Gate, *parents: GraphNode, name=None) -> GraphNode:
        """Adds ``gate`` reading ``parents``; the last gate added is the graph's output."""
        for p in parents:
            if not isinstance(p, GraphNode) or p not in self.nodes:
                raise ValueError(f"gate inputs must be nodes of this graph, got {p!r}")
        if any(n.op is gate for n in self.nodes):
            raise ValueError(f"{gate!r} is already in the graph: each node needs its own gate")
        node = GraphNode(name if name is not None else gate.symbol, gate, parents)
        self.nodes.append(node)
        self.output = node
        return node

    def nodes_topologically_sorted(self) -> list[GraphNode]:
        """The nodes the output depends on, each after its inputs."""
        if self.output is None:
            raise RuntimeError("the graph has no gate yet: add one with gate()")
        return topological_order(self.output, lambda n: n.parents)

    def forward(self, **values):
        """Runs every gate in topological order; returns the output's value.

        Args:
            values: one value (number or array) per input name.
        """
        order = self.nodes_topologically_sorted()
        needed = {n.name for n in order if n.op is None and not n.constant}
        missing, extra = needed - set(values), set(values) - needed
        if missing or extra:
            raise ValueError(
                f"forward needs values for {sorted(needed)}; missing {sorted(missing)}, "
                f"unknown {sorted(extra)}"
            )
        for node in order:
            node.grad = None
            if node.op is None:
                if not node.constant:
                    node.data = _plain(np.asarray(values[node.name], dtype=np.float64))
            else:
                node.data = node.op.forward(*(p.data for p in node.parents))
        return self.output.data

    def backward(self, dout=1.0) -> dict:
        """Runs every gate's backward in reverse topological order.

        Args:
            dout: the gradient of the final quantity with respect to the output (1 for the
                output itself).

        Returns:
            {input name: gradient} for every input node.
        """
        order = self.nodes_topologically_sorted()
        if self.output.data is None:
            raise RuntimeError("backward() called before forward()")
        for node in order:
            node.grad = None
        self.output.grad = _plain(np.asarray(dout, dtype=np.float64))
        for node in reversed(order):
            if node.op is None or node.grad is None:
                continue
            for parent, g in zip(node.parents, node.op.backward(node.grad)):
                parent.grad = g if parent.grad is None else parent.grad + g  # branches add
        return {n.name: n.grad for n in order if n.op is None and not n.constant}
