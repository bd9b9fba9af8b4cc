"""The new syntax (lambda, dict comprehensions, assert, `...`) parses, unparses to itself and survives fmt."""
import pytest

from archdsl.errors import Span
from archdsl.syntax.expr import parse
from archdsl.syntax.fmt import format_text
from archdsl.syntax.unparse import unparse_stmt
from archdsl.testing import from_text
from tests.test_fmt import graph_signature


def locate(line, col, length):
    return Span("t", line, col, length)


@pytest.mark.parametrize("text", [
    "{'a' + str(i): b for i in range(3) if i}",
    "{k: v for k, v in pairs}",
    "lambda v, d=8, m=None: max(m or d, int(v + d / 2) // d * d)",
    "lambda: 1",
    "f(lambda x: x if x else 2, k=lambda: 0)",
    "(lambda x: x)(3)",
    "assert x > 1, 'bad'",
    "assert ok",
    "x[..., 1:]",
    "x[:, None, ::2, -1]",
])
def test_unparse_round_trips(text):
    stmt = parse(text, locate).stmts[0]
    again = unparse_stmt(stmt)
    assert again == text or unparse_stmt(parse(again, locate).stmts[0]) == again
    assert parse(again, locate).stmts[0].__class__ is stmt.__class__


SPEC = """\
params: {width: 8, depth: 2}
let:
  half:   "lambda v,k=2:v//k"
  sizes: "{ 'a'+str(i) : half(width*(i+1)) for i in range(depth) }"
inputs: {x: [N, 4, 6]}
layers:
  named: "{n:linear(k) for n,k in zip(sizes, [4, 8])}"
  scale: parameter([1,1,6],init=1e-6)
forward: |
  assert width%4==0 , 'multiple of 4'
  y = x[ ..., 1: ] * scale[:,:,1:]
  named['a0'](named(y)[:,0,:5])
"""


def test_fmt_keeps_the_graph_of_the_new_syntax():
    formatted = format_text(SPEC, "spec.yaml")
    assert "lambda v, k=2: v // k" in formatted and "assert width % 4 == 0, 'multiple of 4'" in formatted
    assert "x[..., 1:] * scale[:, :, 1:]" in formatted
    assert format_text(formatted, "spec.yaml") == formatted
    assert graph_signature(from_text(formatted, "spec.yaml")) == graph_signature(from_text(SPEC, "spec.yaml"))
