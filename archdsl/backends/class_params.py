"""Share one generated class among block instances that differ only in sizes.

Instances of a block whose `__init__` bodies are equal except for numbers become one class; each number
that varies between them becomes a constructor argument, named after the block parameter it always
equals (`planes`, or `planes * 4`), or `in_channels` when it is the input's channel count.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass


@dataclass
class Body:
    pieces: list   # text around the numbers of __init__
    numbers: list  # number literals (source text), one per slot
    forward: str
    args: dict     # the block instance's arguments
    in_channels: object

    @property
    def skeleton(self) -> tuple:
        return tuple(self.pieces), self.forward


def split_numbers(init: str) -> tuple[list, list]:
    """`nn.Linear(8, 4)` -> pieces ['nn.Linear(', ', ', ')'] and numbers ['8', '4']."""
    offsets = _line_offsets(init)
    pieces, numbers, last = [], [], 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(init).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [init], []
    for tok in tokens:
        if tok.type == tokenize.NUMBER:
            start = offsets[tok.start[0] - 1] + tok.start[1]
            end = offsets[tok.end[0] - 1] + tok.end[1]
            pieces.append(init[last:start])
            numbers.append(tok.string)
            last = end
    pieces.append(init[last:])
    return pieces, numbers


def _line_offsets(text: str) -> list:
    out, pos = [], 0
    for line in text.splitlines(True):
        out.append(pos)
        pos += len(line)
    return out + [pos]


def parametrize(bodies: list[Body]) -> tuple[list, list]:
    """For instances with the same skeleton: constructor parameter names, and per slot its expression
    (None: the number is the same in every instance and stays literal)."""
    slots = len(bodies[0].numbers)
    values = [[ast.literal_eval(b.numbers[j]) for b in bodies] for j in range(slots)]
    exprs, params, fallback = [], [], {}
    for j in range(slots):
        column = values[j]
        if len(bodies) == 1 or all(v == column[0] for v in column):
            exprs.append(None)
            continue
        expr, param = _name_for(column, bodies)
        if expr is None:
            key = tuple(column)
            if key not in fallback:
                fallback[key] = f"size{len(fallback) + 1}"
            expr = param = fallback[key]
        exprs.append(expr)
        if param not in params:
            params.append(param)
    return params, exprs


def _name_for(column: list, bodies: list[Body]):
    names = [n for n in bodies[0].args if all(_same(b.args.get(n), v) for b, v in zip(bodies, column))]
    if names:
        return names[0], names[0]
    if all(_same(b.in_channels, v) for b, v in zip(bodies, column)):
        return "in_channels", "in_channels"
    for n in bodies[0].args:
        ratios = {v // b.args[n] if _is_int(b.args.get(n)) and b.args[n] and _is_int(v) and v % b.args[n] == 0
                  else None for b, v in zip(bodies, column)}
        if len(ratios) == 1 and None not in ratios:
            k = ratios.pop()
            if k > 1:
                return f"{n} * {k}", n
    return None, None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def value_of(param: str, body: Body, exprs: list, numbers: list):
    """The value an instance passes for `param`."""
    if param in body.args:
        return body.args[param]
    if param == "in_channels":
        return body.in_channels
    for expr, num in zip(exprs, numbers):
        if expr == param:
            return ast.literal_eval(num)
    raise KeyError(param)


def render_init(body: Body, exprs: list) -> str:
    out = [body.pieces[0]]
    for j, expr in enumerate(exprs):
        out.append(body.numbers[j] if expr is None else expr)
        out.append(body.pieces[j + 1])
    return "".join(out)
