"""Drawing graphs (Graphviz and the plain fallback), the safe expression parser, the CLI."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from visionblocks.autograd import draw
from visionblocks.autograd.expression import ExpressionError, build_graph, names_in, parse_values
from visionblocks.autograd.gates import AddGate, ComputationalGraph, MultiplyGate
from visionblocks.cli import main

LECTURE = "(x + y) * z"
AT = {"x": -2.0, "y": 5.0, "z": -4.0}


def lecture_graph():
    out, leaves = build_graph(LECTURE, AT)
    out.backward()
    return out, leaves


def _edge(value, grad):
    return (f'<font color="{draw.VALUE_COLOR}">{value}</font><br/>'
            f'<font color="{draw.GRAD_COLOR}">{grad}</font>')  # fmt: skip


def test_dot_source_has_every_value_and_gradient():
    out, _ = lecture_graph()
    dot = draw.to_dot(out)
    assert dot.startswith("digraph G {") and "rankdir=LR" in dot
    for value, grad in [("-2.00", "-4.00"), ("5.00", "-4.00"), ("-4.00", "3.00"),
                        ("3.00", "-4.00"), ("-12.00", "1.00")]:  # fmt: skip
        assert _edge(value, grad) in dot
    assert 'label="+"' in dot and 'label="*"' in dot and 'label="f"' in dot
    table = draw.describe(out)
    assert table.splitlines()[0].split() == ["node", "op", "inputs", "value", "gradient"]
    assert "-12.0000" in table and "add" in table


def test_a_computational_graph_draws_the_same_way():
    g = ComputationalGraph()
    x, y, z = g.inputs("x", "y", "z")
    g.gate(MultiplyGate(), g.gate(AddGate(), x, y), z, name="f")
    g.forward(**AT)
    g.backward()
    dot = draw.to_dot(g)
    assert _edge("3.00", "-4.00") in dot and _edge("-12.00", "1.00") in dot


def test_constants_show_their_value_and_no_gradient():
    out, _ = build_graph("1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
                         {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})  # fmt: skip
    out.backward()
    dot = draw.to_dot(out)
    assert 'label="1"' in dot and _edge("0.73", "1.00") in dot
    assert f'<font color="{draw.VALUE_COLOR}">1.00</font>>' in dot  # a constant: value only
    assert "constant" in draw.describe(out)


def test_render_with_graphviz(tmp_path):
    pytest.importorskip("graphviz")
    if draw.find_dot() is None:
        pytest.skip("Graphviz's dot is not installed")
    out, _ = lecture_graph()
    result = draw.render(out, tmp_path / "g.svg")
    assert result.used_dot and result.files == [tmp_path / "g.svg"]
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "&#45;12.00" in svg and draw.GRAD_COLOR in svg
    png = draw.render(out, tmp_path / "g.png")
    assert png.used_dot and (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_render_falls_back_without_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(draw, "find_dot", lambda: None)
    out, _ = lecture_graph()
    result = draw.render(out, tmp_path / "g.svg")
    assert not result.used_dot and "dot program is not on PATH" in result.message
    assert sorted(p.name for p in result.files) == ["g.dot", "g.svg"]
    assert (tmp_path / "g.dot").read_text() == draw.to_dot(out)
    root = ET.parse(tmp_path / "g.svg").getroot()  # well-formed SVG
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"-2.00", "-4.00", "-12.00", "+", "*", "x", "f"} <= set(texts)
    png = draw.render(out, tmp_path / "h.png")
    assert "PNG needs Graphviz" in png.message and not (tmp_path / "h.png").exists()
    assert (tmp_path / "h.svg").exists() and (tmp_path / "h.dot").exists()


def test_render_falls_back_when_the_dot_program_fails(tmp_path, monkeypatch):
    pytest.importorskip("graphviz")
    monkeypatch.setattr(draw, "find_dot", lambda: "/nowhere/dot")
    monkeypatch.setenv("PATH", str(tmp_path))  # graphviz cannot find dot either
    out, _ = lecture_graph()
    result = draw.render(out, tmp_path / "g.svg")
    assert not result.used_dot and "Graphviz failed" in result.message
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.pdf"):
        draw.render(out, tmp_path / "g.jpg")


def test_expression_parser_is_safe():
    for bad, match in [
        ("__import__('os').system('true')", "is not allowed; allowed: exp"),
        ("x.real", "Attribute is not allowed"),
        ("x[0]", "Subscript is not allowed"),
        ("(lambda: 1)()", "not allowed"),
        ("'a' + x", "only numbers"),
        ("True * x", "only numbers"),
        ("x if x else x", "IfExp is not allowed"),
        ("x // 2", "FloorDiv is not allowed"),
        ("exp(x=1)", "no keyword"),
        ("not x", "Not is not allowed"),
        ("x +", "cannot parse"),
        ("", "empty"),
        ("1 + 2", "depends on no variable"),
    ]:
        with pytest.raises(ExpressionError, match=match):
            build_graph(bad, {"x": 1.0} if "x" in bad else {})


def test_expression_semantics():
    assert names_in("exp(b) * a + b") == ["b", "a"]
    out, leaves = build_graph("x * x + max(x, y) + max(y) - 2 ** x", {"x": 3.0, "y": 5.0})
    out.backward()
    assert out.item() == 9 + 5 + 5 - 8
    assert float(leaves["x"].grad) == pytest.approx(6 - 8 * np.log(2))  # x used thrice: adds
    assert float(leaves["y"].grad) == 2.0
    out, _ = build_graph("-1 * x", {"x": 2.0})  # -1 is a number, not a negation node
    assert out.op.name == "mul" and out.parents[0].data == -1.0
    with pytest.raises(ExpressionError, match=r"no value for \['y'\]"):
        build_graph("x + y", {"x": 1.0})
    assert parse_values(" x=-2, y=5 ,z=1e-3") == {"x": -2.0, "y": 5.0, "z": 0.001}
    for bad in ("x", "x=", "x=a", "1x=2", "x=1,x=2"):
        with pytest.raises(ExpressionError):
            parse_values(bad)


def test_cli_graph(tmp_path, capsys):
    out = tmp_path / "lecture.svg"
    assert main(["graph", LECTURE, "--at", "x=-2,y=5,z=-4", "--out", str(out), "--dot"]) == 0
    text = capsys.readouterr()
    lines = text.out.splitlines()
    assert lines[:5] == ["f = (x + y) * z at x=-2, y=5, z=-4", "f = -12",
                         "df/dx = -4", "df/dy = -4", "df/dz = 3"]  # fmt: skip
    assert "digraph G {" in text.out
    assert out.exists() or (tmp_path / "lecture.dot").exists()
    assert main(["graph", "x.__class__", "--at", "x=1"]) == 2
    assert "not allowed" in capsys.readouterr().err


def test_cli_graph_without_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(draw, "find_dot", lambda: None)
    assert (
        main(["graph", "sigmoid(w * x)", "--at", "w=2,x=-1", "--out", str(tmp_path / "s.png")]) == 0
    )
    err = capsys.readouterr().err
    assert "not on PATH" in err and "s.dot" in err and "s.svg" in err
    assert (tmp_path / "s.svg").exists()


def test_a_network_graph_with_arrays_and_layer_nodes_draws(tmp_path, monkeypatch):
    from visionblocks.autograd import GraphFullyConnectedNet

    net = GraphFullyConnectedNet([5], input_dim=4, num_classes=3, dtype=np.float64, seed=0)
    loss, _ = net.graph(np.random.default_rng(0).standard_normal((6, 4)), np.arange(6) % 3)
    loss.backward()
    dot = draw.to_dot(loss)
    assert 'label="affine"' in dot and 'label="softmax_loss"' in dot and 'label="W1"' in dot
    assert "(4, 5) mean" in dot  # a big array is drawn as its shape and mean
    monkeypatch.setattr(draw, "find_dot", lambda: None)
    result = draw.render(loss, tmp_path / "net.svg")
    ET.parse(tmp_path / "net.svg")
    assert not result.used_dot


def test_the_engine_and_the_graph_command_need_no_torch():
    import subprocess
    import sys

    from test_no_torch import BLOCK_TORCH

    argv = [sys.executable, "-c", BLOCK_TORCH, "graph", LECTURE, "--at", "x=-2,y=5,z=-4"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "df/dz = 3" in proc.stdout
