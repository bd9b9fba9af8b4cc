"""Fuzzing the expression language with strings drawn from its own grammar (hypothesis's Lark strategy).

Each program is parsed on its own, then checked inside a spec as a `forward` program and as a `let`
value: every outcome is success or an ArchDSLError located inside the spec file.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

import archdsl.syntax.expr as expr_module
from archdsl.errors import ArchDSLError, Span
from archdsl.syntax.expr import parse
from tests.fuzzing import TALLY, fuzz_settings, run_case, write_report

# names the fuzzed programs use: tensors, layers, ops, blocks, params, builtins, constants, and unknowns
NAMES = ["x", "y", "fc", "conv", "stage", "Unit", "relu", "conv2d", "linear", "maxpool2d", "concat", "flatten",
         "reshape", "dropout", "scan", "loop", "N", "width", "depth", "flag", "range", "len", "min", "sum", "zip",
         "true", "false", "None", "null", "eval", "__import__", "undefined_name", "h", "c"]


def _grammar_strategy(recursion_odds: int = 5):
    """from_lark over grammar.lark (without its postlexer: newlines in brackets are then plain `_NL`s).

    Left as they are, the grammar's dozen precedence levels make almost every draw grow until it
    overruns; each rule's shortest expansion (the step down to the next level) is weighted
    `recursion_odds` times more, which keeps programs small and generation fast.
    """
    grammar = Lark(Path(expr_module.__file__).with_name("grammar.lark").read_text(), parser="lalr",
                   maybe_placeholders=True)
    explicit = {
        "NAME": st.sampled_from(NAMES) | st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
        "INT": st.sampled_from(["0", "1", "2", "3", "8", "64", "100000", "999999999999", "10_000"]),
        "FLOAT": st.sampled_from(["0.5", "1e-5", ".5", "1e308", "2.", "1e400"]),
        "STRING": st.sampled_from(["'same'", "'valid'", '"x"', "''", "'M'"]),
        "COMMENT": st.sampled_from(["", "# note\n"]),
        "_NL": st.just("\n"),
        "_INDENT": st.just("    "),  # the postlexer's tokens: a `for` body's indentation, and its end
        "_DEDENT": st.just(""),
    }
    for terminal in grammar.terminals:  # ignored whitespace and line continuations: one plain space
        if terminal.name.startswith("__IGNORE"):
            explicit[terminal.name] = st.just(" ")
    strategy = from_lark(grammar, explicit=explicit)
    lark_strategy = strategy.wrapped_strategy
    for name, choice in list(lark_strategy.nonterminal_strategies.items()):
        options = list(choice.elements)  # sorted shortest first
        if len(options) > 1:
            lark_strategy.nonterminal_strategies[name] = st.sampled_from([options[0]] * recursion_odds + options)
    return strategy


PROGRAMS = _grammar_strategy()

SPEC = """\
params:
  width: 4
  depth: 2
  flag: true
let:
  tag: {let_value}
inputs:
  x: [N, 3, 8, 8]
blocks:
  Unit(c):
    layers:
      conv: conv2d(c, 3, padding=1)
    forward: |
      relu(conv(x))
layers:
  conv: conv2d(width, 3, padding=1)
  stage: "[Unit(width)] * depth"
  fc: linear(10)
forward: |
{forward}
"""


def _indent(program: str) -> str:
    return "\n".join("  " + line for line in program.split("\n"))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report()


@fuzz_settings(ci=100)
@given(PROGRAMS)
def test_grammar_strings(tmp_path_factory, program):
    """Each drawn program: parsed alone, checked as a forward program, and (one line) as a `let` value."""
    try:
        tree = parse(program, lambda line, col, n: Span("<fuzz>", line, col, n), "forward program")
        TALLY[("grammar: parse", "ok")] += 1
        assert tree.stmts is not None
    except ArchDSLError as err:
        TALLY[("grammar: parse", err.code)] += 1
        lines = program.splitlines() or [""]
        assert err.span is not None and 1 <= err.span.line <= len(lines) + 1
    folder = tmp_path_factory.mktemp("fz")
    text = SPEC.format(let_value="1", forward=_indent(program) if program.strip() else "  x")
    run_case(folder, text.encode(), "grammar: forward")
    line = program.replace("\n", " ").replace("\\", " ").replace('"', "'")
    if "#" not in line:
        text = SPEC.format(let_value=f'"{line}"', forward="  x >> conv >> stage >> flatten >> fc")
        run_case(folder, text.encode(), "grammar: let")
