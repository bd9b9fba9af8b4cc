"""archdsl fmt: the canonical form keeps the graph and the comments, and is a fixed point."""
from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings

import archdsl
from archdsl.cli import main
from archdsl.syntax.fmt import format_text
from archdsl.syntax.unparse import unparse
from archdsl.syntax.expr import parse_expr
from archdsl.errors import Span
from archdsl.testing import from_text, specs
from tests.helpers import SPECS, copy_libraries

ZOO = sorted(p.stem for p in SPECS.glob("*.yaml"))


def graph_signature(spec) -> tuple:
    """Everything a spec's graph means: nodes (op, attributes, inputs, shapes), modules, outputs. (Not the
    generated code: it derives from the graph, and its text carries the spec's file and line numbers.)"""
    g = spec.graph
    nodes = tuple((nid, n.op.name if n.op is not None else n.kind,
                   repr(sorted(dict(n.attrs or {}).items())), repr(n.inputs), repr(n.meta.shape), n.scope,
                   n.module) for nid, n in g.nodes())
    modules = tuple((m, tuple(x.path for x in root.walk())) for m, root in g.roots.items())
    return nodes, modules, repr(g.outputs)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_format_keeps_the_graph_and_comments(name, tmp_path):
    text = (SPECS / f"{name}.yaml").read_text()
    formatted = format_text(text, str(SPECS / f"{name}.yaml"))
    path = tmp_path / f"{name}.yaml"
    path.write_text(formatted)
    copy_libraries(tmp_path)
    assert graph_signature(archdsl.load(path)) == graph_signature(archdsl.load(SPECS / f"{name}.yaml"))
    assert format_text(formatted, str(path)) == formatted  # a fixed point
    comments = [line.split("#", 1)[1].strip() for line in text.splitlines() if line.lstrip().startswith("#")]
    for comment in comments:
        assert comment in formatted, f"lost comment: {comment}"


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_random_specs_format_to_the_same_graph(text):
    formatted = format_text(text, "random.yaml")
    assert graph_signature(from_text(formatted, "random.yaml")) == graph_signature(from_text(text, "random.yaml"))
    assert format_text(formatted, "random.yaml") == formatted


MESSY = """\
# a header comment

layers:    # the layers
    fc:   linear( 10 ,bias = false )     # a comment kept at its column
    c:    "conv2d(8,3,padding = 1)"
inputs: {x: [N,3,8,8]}
name:   messy
forward: x>>c>>relu>>global_avgpool2d>>fc
params: {  width: 8 }
"""


def test_canonical_form_of_a_messy_spec():
    assert format_text(MESSY) == """\
# a header comment

name: messy
params:
  width: 8
inputs:
  x: [N, 3, 8, 8]
layers:    # the layers
  fc: linear(10, bias=false)             # a comment kept at its column
  c: conv2d(8, 3, padding=1)
forward: |
  x >> c >> relu >> global_avgpool2d >> fc
"""


def test_forward_programs_keep_their_comments():
    text = ("inputs: {x: [N, 4]}\nforward: |\n  # the first step\n  y = relu( x )  # inline\n\n\n"
            "  z = y+y;  w = z*2\n  w\n")
    assert format_text(text).split("forward: |\n")[1] == (
        "  # the first step\n  y = relu(x)    # inline\n\n  z = y + y\n  w = z * 2\n  w\n")  # comment kept at its column


def test_long_prose_is_not_folded_but_long_expressions_are():
    doc = "A title (First, Second, Third, Fourth; a venue 2024): " + "words " * 12
    expr = "[" + ", ".join(f"linear({i})" for i in range(12)) + "]"
    out = format_text(f'doc: "{doc.strip()}"\ninputs: {{x: [N, 4]}}\nlayers:\n  s: "{expr}"\nforward: |\n  x >> s\n')
    assert f'doc: "{doc.strip()}"\n' in out
    assert '  s: "[linear(0),' in out and "\n      linear(8)" in out  # folded after a comma, under the opening quote


@pytest.mark.parametrize("name", ZOO)
def test_zoo_is_canonical(name):
    """CI runs `archdsl fmt --check` on every zoo spec; fix with `archdsl fmt -w specs/<name>.yaml`."""
    assert main(["fmt", "--check", str(SPECS / f"{name}.yaml")]) == 0


def test_fmt_off_keeps_aligned_tables():
    text = ("inputs: {x: [N, 4]}\nlayers:\n  # fmt: off\n  a: linear( 4)\n  b: linear(4 )\n  # fmt: on\n"
            "  c: linear( 4)\nforward: |\n  x >> a >> b >> c\n")
    out = format_text(text)
    assert "  a: linear( 4)\n  b: linear(4 )\n" in out and "  c: linear(4)\n" in out


@pytest.mark.parametrize("source", [
    "a + b * c", "(a + b) * c", "a - (b - c)", "-x ** 2", "(-x) ** 2", "2 ** 3 ** 4", "(2 ** 3) ** 4",
    "not a and b or c", "a if b else c if d else e", "(a if b else c) if d else e", "[x if c for x in xs]",
    "x >> (f >> g)", "(x >> f) + y", "f(*xs, k=1)", "d[1:2, ::3]", "{'a': [1, 2], 'b': ()}", "(1,)",
    "[m for w, (a, b) in zip(ws, ps) for m in [w] if a > b]", "a < b <= c", "x[(1, 2)]", "1e-4 * 0.5",
])
def test_unparse_round_trips(source):
    def locate(line, col, n):
        return Span("", line, col, n)
    tree = parse_expr(source, locate)
    text = unparse(tree)
    from archdsl.syntax.fmt import signature
    assert signature(parse_expr(text, locate)) == signature(tree), text
    assert unparse(parse_expr(text, locate)) == text


def test_cli_fmt_check_and_write(tmp_path, capsys):
    path = tmp_path / "messy.yaml"
    path.write_text(MESSY)
    assert main(["fmt", str(path), "--check"]) == 1
    assert main(["fmt", str(path)]) == 0 and capsys.readouterr().out == format_text(MESSY)
    assert main(["fmt", str(path), "-w"]) == 0
    assert main(["fmt", str(path), "--check"]) == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("inputs: [\n")
    assert main(["fmt", str(broken)]) == 1
