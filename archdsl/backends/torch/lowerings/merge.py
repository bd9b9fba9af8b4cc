"""Concatenation and arithmetic: written with torch.cat and Python operators."""
from __future__ import annotations

from ._source import atom
from .table import lower

lower("concat", call=lambda a, ins, args: f"torch.cat({args[0]}, {a.dim})")  # args[0]: source of the list, `[a, b]`

for _name, _sym in (("add", "+"), ("sub", "-"), ("mul", "*")):
    lower(_name, call=lambda a, ins, args, s=_sym: f"{atom(args[0])} {s} {atom(args[1])}")


def _scalar_call(a, ins, args):
    number = repr(a.value)
    return f"{number} {a.op} {atom(args[0])}" if a.reverse else f"{atom(args[0])} {a.op} {number}"


lower("scalar_arith", call=_scalar_call)
