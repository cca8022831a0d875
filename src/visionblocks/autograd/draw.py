"""Drawing a graph as on the lecture-4 slides: each edge carries its value (green, above) and
its gradient (red, below).

``to_dot`` writes Graphviz dot source; ``render`` turns it into SVG/PNG/PDF with the
``graphviz`` Python package and Graphviz's ``dot`` program, and when either is missing falls
back to the .dot file plus a plain SVG drawn here (layered left to right), saying so.
``describe`` is the same graph as a text table. Works on a ``Tensor`` output and on a
``ComputationalGraph`` (both expose nodes with ``name``, ``op``, ``parents``, ``data`` and
``grad``).
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionblocks.autograd.tensor import topological_order

__all__ = ["VALUE_COLOR", "GRAD_COLOR", "Rendered", "describe", "find_dot", "render", "to_dot",
           "to_svg"]  # fmt: skip

VALUE_COLOR = "#1a7f37"  # forward values: green
GRAD_COLOR = "#cf222e"  # gradients: red


def _root(graph):
    return graph.output if hasattr(graph, "nodes_topologically_sorted") else graph


def _nodes(graph) -> list:
    root = _root(graph)
    if root is None:
        raise ValueError("the graph has no output to draw")
    return topological_order(root, lambda n: n.parents)


def fmt(value, precision=2) -> str:
    """A value as the slides print it: 2 decimals for a number, the shape for a big array."""
    if value is None:
        return "?"
    a = np.asarray(value)
    if a.size == 1:
        return f"{float(a.reshape(())):.{precision}f}"
    if a.size <= 4:
        return "[" + ", ".join(f"{float(v):.{precision}f}" for v in a.ravel()) + "]"
    return f"{a.shape} mean {float(a.mean()):.{precision}f}"


def _is_constant(node) -> bool:
    """A leaf whose gradient is not wanted (a number in the expression)."""
    if node.op is not None:
        return False
    if hasattr(node, "requires_grad"):  # a Tensor
        return not node.requires_grad
    return bool(getattr(node, "constant", False))  # a ComputationalGraph node


def _label(node, precision) -> str:
    if node.op is not None:
        return node.op.symbol
    if node.name:
        return node.name
    if np.size(node.data) == 1:
        return f"{float(np.reshape(node.data, ())):g}"
    return fmt(node.data, precision)


def _edge_lines(node, precision):
    """(value text, gradient text or None) of the edge leaving ``node``."""
    grad = None if _is_constant(node) else fmt(node.grad, precision)
    return fmt(node.data, precision), grad


def to_dot(graph, precision=2, title=None) -> str:
    """Graphviz dot source of the graph, values in green and gradients in red on every edge.

    Args:
        graph: a ``Tensor`` (the output; its graph is what it was computed from) or a
            ``ComputationalGraph``.
        precision: decimals printed.
        title: a caption under the drawing (default: the colour legend).
    """
    nodes = _nodes(graph)
    ids = {id(n): f"n{k}" for k, n in enumerate(nodes)}
    caption = title or "green: values (forward)   red: gradients (backward)"
    lines = [
        "digraph G {",
        '  rankdir=LR; nodesep=0.5; ranksep=0.9; fontname="Helvetica";',
        f'  label="{_dot_escape(caption)}"; labelloc=b; fontsize=11;',
        '  node [fontname="Helvetica"]; edge [fontname="Helvetica", arrowsize=0.7];',
    ]
    for n in nodes:
        label = _dot_escape(_label(n, precision))
        if n.op is None:
            lines.append(f'  {ids[id(n)]} [shape=plaintext, label="{label}", fontsize=16];')
        else:
            lines.append(
                f'  {ids[id(n)]} [shape=circle, label="{label}", fontsize=14, width=0.5, '
                'fixedsize=false, style=filled, fillcolor="#f6f8fa"];'
            )
    for n in nodes:
        for p in n.parents:
            lines.append(f"  {ids[id(p)]} -> {ids[id(n)]} [label={_html_label(p, precision)}];")
    root = nodes[-1]
    out_label = _dot_escape(getattr(root, "name", None) or "out")
    if root.op is not None:
        lines.append(f'  out [shape=plaintext, label="{out_label}", fontsize=16];')
        lines.append(f"  {ids[id(root)]} -> out [label={_html_label(root, precision)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _html_label(node, precision) -> str:
    value, grad = _edge_lines(node, precision)
    parts = [f'<font color="{VALUE_COLOR}">{html.escape(value)}</font>']
    if grad is not None:
        parts.append(f'<font color="{GRAD_COLOR}">{html.escape(grad)}</font>')
    return "<" + "<br/>".join(parts) + ">"


def describe(graph, precision=4) -> str:
    """The graph as a text table: one row per node in topological order."""
    nodes = _nodes(graph)
    ids = {id(n): f"n{k}" for k, n in enumerate(nodes)}
    rows = [("node", "op", "inputs", "value", "gradient")]
    for n in nodes:
        op = n.op.name if n.op is not None else ("constant" if _is_constant(n) else "input")
        name = f"{ids[id(n)]} {n.name}" if n.name else ids[id(n)]
        grad = "" if _is_constant(n) else fmt(n.grad, precision)
        inputs = ", ".join(ids[id(p)] for p in n.parents)
        rows.append((name, op, inputs, fmt(n.data, precision), grad))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def to_svg(graph, precision=2) -> str:
    """A plain SVG drawing made here, without Graphviz: columns by depth, left to right."""
    nodes = _nodes(graph)
    depth = {}
    for n in nodes:  # a gate: longest path from an input
        depth[id(n)] = 1 + max((depth[id(p)] for p in n.parents), default=-1)
    for n in reversed(nodes):  # an input: the column just before its first reader
        if n.op is None and n is not nodes[-1]:
            readers = [depth[id(m)] for m in nodes if any(p is n for p in m.parents)]
            depth[id(n)] = min(readers) - 1
    columns: dict[int, list] = {}
    for n in nodes:
        columns.setdefault(depth[id(n)], []).append(n)
    col_w, row_h, pad = 150, 90, 50
    ys = _rows(nodes, columns, depth, row_h)
    top = min(ys.values())
    pos = {id(n): (pad + depth[id(n)] * col_w, pad + ys[id(n)] - top) for n in nodes}
    root = nodes[-1]
    out_xy = (pos[id(root)][0] + col_w, pos[id(root)][1])
    width = out_xy[0] + pad + 40
    height = pad * 2 + max(y for _, y in pos.values())
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="Helvetica, Arial, sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]

    def edge(p, a, b):
        value, grad = _edge_lines(p, precision)
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        svg.append(f'<line x1="{a[0] + 18}" y1="{a[1]}" x2="{b[0] - 18}" y2="{b[1]}" '
                   'stroke="#555" stroke-width="1.2"/>')  # fmt: skip
        svg.append(f'<text x="{mx}" y="{my - 6}" text-anchor="middle" font-size="13" '
                   f'fill="{VALUE_COLOR}">{html.escape(value)}</text>')  # fmt: skip
        if grad is not None:
            svg.append(f'<text x="{mx}" y="{my + 16}" text-anchor="middle" font-size="13" '
                       f'fill="{GRAD_COLOR}">{html.escape(grad)}</text>')  # fmt: skip

    for n in nodes:
        for p in n.parents:
            edge(p, pos[id(p)], pos[id(n)])
    if root.op is not None:
        edge(root, pos[id(root)], out_xy)
        svg.append(_svg_text(out_xy, getattr(root, "name", None) or "out", 16))
    for n in nodes:
        x, y = pos[id(n)]
        if n.op is not None:
            svg.append(f'<circle cx="{x}" cy="{y}" r="18" fill="#f6f8fa" stroke="#333"/>')
        svg.append(_svg_text((x, y), _label(n, precision), 14 if n.op is not None else 16))
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def _rows(nodes, columns, depth, row_h) -> dict:
    """y of every node: the output at 0, each node's inputs spread around it, right to left,
    nodes of one column pushed apart to ``row_h``."""
    readers: dict[int, list] = {id(n): [] for n in nodes}
    for n in nodes:
        for k, p in enumerate(n.parents):
            readers[id(p)].append((n, k))
    ys: dict[int, float] = {}
    for d in sorted(columns, reverse=True):
        wanted = []
        for n in columns[d]:
            spots = [ys[id(r)] + (k - (len(r.parents) - 1) / 2) * row_h
                     for r, k in readers[id(n)] if id(r) in ys]  # fmt: skip
            wanted.append((sum(spots) / len(spots) if spots else 0.0, n))
        wanted.sort(key=lambda item: item[0])
        last = None
        for y, n in wanted:
            y = y if last is None else max(y, last + row_h)
            ys[id(n)] = last = y
    return ys


def _svg_text(xy, text, size):
    return (f'<text x="{xy[0]}" y="{xy[1] + size / 3}" text-anchor="middle" '
            f'font-size="{size}">{html.escape(str(text))}</text>')  # fmt: skip


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program, or None."""
    return shutil.which("dot")


@dataclass
class Rendered:
    """What ``render`` wrote: the files, whether Graphviz drew them, and a message."""

    files: list[Path] = field(default_factory=list)
    used_dot: bool = False
    message: str = ""


def render(graph, out, precision=2, title=None) -> Rendered:
    """Draws the graph into ``out`` (.svg, .png or .pdf) with Graphviz, or falls back.

    Without the ``graphviz`` package or the ``dot`` program it writes ``out`` with a .dot
    suffix (the source) and, for .svg (or instead of .png/.pdf), a plain SVG drawn here.
    """
    out = Path(out)
    fmt_name = out.suffix.lstrip(".").lower() or "svg"
    if fmt_name not in ("svg", "png", "pdf"):
        raise ValueError(f"out must end in .svg, .png or .pdf, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    source = to_dot(graph, precision, title)
    reason = None
    if find_dot() is None:
        reason = "Graphviz's dot program is not on PATH (Debian: apt install graphviz)"
    else:
        try:
            import graphviz
        except ImportError:
            reason = "the graphviz Python package is not installed (pip install graphviz)"
        else:
            try:
                out.write_bytes(graphviz.Source(source).pipe(format=fmt_name))
                return Rendered([out], True, f"wrote {out} (Graphviz dot)")
            except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as e:
                reason = f"Graphviz failed: {str(e).splitlines()[0]}"
    dot_path = out.with_suffix(".dot")
    dot_path.write_text(source)
    svg_path = out.with_suffix(".svg")
    svg_path.write_text(to_svg(graph, precision))
    message = f"{reason}: wrote {dot_path} (dot source) and {svg_path} (plain drawing)"
    if fmt_name != "svg":
        message += f"; {fmt_name.upper()} needs Graphviz, so {out} was not written"
    return Rendered([dot_path, svg_path], False, message)
