"""``visionblocks graph '(x + y) * z' --at x=-2,y=5,z=-4 [--out graph.svg]``: the value, every
gradient and the drawn computational graph of an expression."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    """Adds the ``graph`` command."""
    p = sub.add_parser(
        "graph",
        help="an expression's computational graph with every value and gradient",
        description="Builds the graph of an arithmetic expression at the given values, runs "
        "backward and prints each gradient and node; --out draws it (green values, red "
        "gradients) with Graphviz, or a plain SVG when Graphviz is missing. Allowed: numbers, "
        "names, + - * / ** @ and exp, log, tanh, sigmoid, relu, max.",
    )
    p.add_argument(
        "expression", help="e.g. '(x + y) * z' or '1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))'"
    )
    p.add_argument(
        "--at", default="", metavar="X=V,...", help="the variables' values: x=-2,y=5,z=-4"
    )
    p.add_argument("--out", help="draw the graph into this .svg, .png or .pdf file")
    p.add_argument("--dot", action="store_true", help="print the Graphviz dot source")
    p.add_argument("--precision", type=int, default=2, help="decimals in the drawing (2)")
    p.set_defaults(func=_cmd_graph)


def _cmd_graph(args) -> int:
    from visionblocks.autograd import draw
    from visionblocks.autograd.expression import build_graph, parse_values

    values = parse_values(args.at)
    out, leaves = build_graph(args.expression, values)
    out.backward()
    at = ", ".join(f"{k}={v:g}" for k, v in values.items())
    print(f"f = {args.expression}" + (f" at {at}" if at else ""))
    print(f"f = {out.item():.6g}")
    for name, leaf in leaves.items():
        print(f"df/d{name} = {float(leaf.grad):.6g}")
    print()
    print(draw.describe(out))
    if args.dot:
        print()
        print(draw.to_dot(out, args.precision), end="")
    if args.out:
        result = draw.render(out, args.out, precision=args.precision)
        print(result.message, file=sys.stdout if result.used_dot else sys.stderr)
    return 0
