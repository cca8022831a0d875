"""Safe parsing of an arithmetic expression into a graph: ``'(x + y) * z'`` at x, y, z.

The text is parsed with ``ast`` and only arithmetic (+ - * / ** @, unary -), names, numbers
and the functions exp, log, tanh, sigmoid, relu and max are accepted; nothing is ever
evaluated by Python. A name used twice is one leaf, so its gradients add.
"""

from __future__ import annotations

import ast

from visionblocks.autograd import ops
from visionblocks.autograd.tensor import Tensor
from visionblocks.errors import VisionBlocksError

__all__ = ["ExpressionError", "FUNCTIONS", "parse_values", "build_graph", "names_in"]


class ExpressionError(VisionBlocksError, ValueError):
    """An expression or a value list that cannot be turned into a graph."""


def _max(*args):
    if len(args) == 1:
        return ops.max(args[0])
    if len(args) == 2:
        return ops.maximum(*args)
    raise ExpressionError(f"max takes 1 argument (a reduction) or 2, got {len(args)}")


#: The functions an expression may call.
FUNCTIONS = {
    "exp": ops.exp,
    "log": ops.log,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
    "max": _max,
}
_BINARY = {
    ast.Add: ops.add,
    ast.Sub: ops.sub,
    ast.Mult: ops.mul,
    ast.Div: ops.div,
    ast.Pow: ops.pow,
    ast.MatMult: ops.matmul,
}


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse {text!r}: {e.msg}") from None


def _check(node: ast.AST, text: str) -> None:
    """Raises ExpressionError for anything but the allowed node types."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Expression, ast.Load, ast.Name, ast.operator, ast.unaryop)):
            if isinstance(sub, ast.operator) and type(sub) not in _BINARY:
                raise ExpressionError(f"operator {type(sub).__name__} is not allowed in {text!r}")
            if isinstance(sub, ast.unaryop) and not isinstance(sub, (ast.USub, ast.UAdd)):
                raise ExpressionError(f"operator {type(sub).__name__} is not allowed in {text!r}")
            continue
        if isinstance(sub, (ast.BinOp, ast.UnaryOp)):
            continue
        if isinstance(sub, ast.Constant):
            if isinstance(sub.value, bool) or not isinstance(sub.value, (int, float)):
                raise ExpressionError(f"only numbers may appear as constants, got {sub.value!r}")
            continue
        if isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in FUNCTIONS:
                called = ast.unparse(sub.func)
                raise ExpressionError(
                    f"function {called!r} is not allowed; allowed: {', '.join(FUNCTIONS)}"
                )
            if sub.keywords:
                raise ExpressionError(f"{sub.func.id}() takes no keyword arguments")
            if any(isinstance(a, ast.Starred) for a in sub.args):
                raise ExpressionError(f"{sub.func.id}() takes no *arguments")
            continue
        raise ExpressionError(
            f"{type(sub).__name__} is not allowed in an expression ({ast.unparse(sub)!r}); "
            "use numbers, names, + - * / ** and " + ", ".join(FUNCTIONS)
        )


def names_in(text: str) -> list[str]:
    """The variable names of the expression, in order of first appearance."""
    tree = _parse(text)
    _check(tree, text)
    called = {id(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)}
    found = [s for s in ast.walk(tree) if isinstance(s, ast.Name) and id(s) not in called]
    found.sort(key=lambda s: (s.lineno, s.col_offset))  # in the order they are written
    return list(dict.fromkeys(s.id for s in found))


def parse_values(text: str) -> dict[str, float]:
    """``'x=-2,y=5,z=-4'`` as {'x': -2.0, 'y': 5.0, 'z': -4.0}."""
    values = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ExpressionError(f"values must look like x=-2,y=5; got {part!r}")
        if name in values:
            raise ExpressionError(f"value of {name!r} given twice")
        try:
            values[name] = float(value)
        except ValueError:
            raise ExpressionError(f"value of {name!r} must be a number, got {value!r}") from None
    return values


def build_graph(text: str, values: dict) -> tuple[Tensor, dict[str, Tensor]]:
    """Builds the expression's graph on leaves holding ``values``.

    Args:
        text: the expression, e.g. ``'1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))'``.
        values: {name: number or array} for every variable of the expression.

    Returns:
        (output tensor, {name: leaf tensor}); call ``output.backward()`` for the gradients.
    """
    tree = _parse(text)
    _check(tree, text)
    needed = names_in(text)
    missing = [n for n in needed if n not in values]
    unused = [n for n in values if n not in needed]
    if missing or unused:
        problems = [f"no value for {missing}"] if missing else []
        problems += [f"{unused} not in the expression"] if unused else []
        raise ExpressionError(f"the expression's variables are {needed}: {'; '.join(problems)}")
    leaves = {n: Tensor(values[n], requires_grad=True, name=n) for n in needed}

    def visit(node):
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Name):
            return leaves[node.id]
        if isinstance(node, ast.Constant):
            return Tensor(float(node.value))
        if isinstance(node, ast.UnaryOp):
            inner = visit(node.operand)
            if isinstance(node.op, ast.USub):
                if isinstance(inner, Tensor) and inner.is_leaf and not inner.requires_grad:
                    return Tensor(-inner.data)  # -1 is the number -1, not a negation node
                return ops.neg(inner)
            return inner
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](visit(node.left), visit(node.right))
        return FUNCTIONS[node.func.id](*(visit(a) for a in node.args))

    out = visit(tree)
    if not out.requires_grad:
        raise ExpressionError(f"{text!r} depends on no variable: nothing to differentiate")
    out.name = out.name or "f"
    return out, leaves
