"""Ops that combine tensors: concatenation and broadcasting arithmetic. No weights."""
from __future__ import annotations

from ..dims import as_static, fmt_shape, known_eq, same
from ..errors import ShapeRuleError
from ._util import norm_dim
from .dtypes import SCALAR_ARITH, SUB
from .registry import Param, register


def _concat_shape(a, ins):
    if not ins:
        raise ShapeRuleError("`concat` needs at least one input")
    first = ins[0]
    dim = norm_dim("concat", a.dim, first)
    total = first[dim]
    for i, x in enumerate(ins[1:], 1):
        if len(x) != len(first) or not all(same(first[j], x[j], f"`concat` along dim {a.dim} joins")
                                           for j in range(len(x)) if j != dim):
            raise ShapeRuleError(f"`concat` along dim {a.dim}: input {i} has shape {fmt_shape(x)} but input 0 has "
                                 f"{fmt_shape(first)}", hint="all dims except the concat dim must match")
        total = total + x[dim]
    return (*first[:dim], as_static(total), *first[dim + 1:])


register(
    name="concat", family="merge", doc="Concatenate a list of tensors along `dim` (torch.cat).",
    params=(Param("dim", "int", 1),), inputs=None,
    shape=_concat_shape, inline_only=True,
    shape_doc="[*A, d_i, *B] for each input -> [*A, sum d_i, *B]",
)


def _broadcast(name: str):
    def shape(a, ins):
        x, y = ins
        out = []
        for i in range(1, max(len(x), len(y)) + 1):
            p = x[-i] if i <= len(x) else 1
            q = y[-i] if i <= len(y) else 1
            if known_eq(p, 1) is True:
                out.append(q)
            elif known_eq(q, 1) is True or same(p, q, f"`{name}` broadcasts"):
                out.append(p)
            else:
                raise ShapeRuleError(f"`{name}` cannot broadcast {fmt_shape(x)} with {fmt_shape(y)}: "
                                     f"dim -{i} is {p} vs {q}",
                                     hint="trailing dims are matched; each pair must be equal or one of them 1")
        return tuple(reversed(out))

    return shape


for _name, _sym, _verb in (("add", "+", "Sum"), ("sub", "-", "Difference"), ("mul", "*", "Product")):
    register(
        name=_name, family="merge", doc=f"{_verb} of two tensors, elementwise with broadcasting (`a {_sym} b`).",
        inputs=2, shape=_broadcast(_name), inline_only=True, dtypes=SUB if _name == "sub" else None,
        shape_doc="broadcast of the two input shapes",
    )


register(
    name="scalar_arith", family="merge",
    doc="A tensor combined with a number (`x * 0.5`, `1 - x`, `-x`); written with operators in `forward`.",
    params=(Param("op", "str", choices=("+", "-", "*", "/")), Param("value", "number"),
            Param("reverse", "bool", False, doc="the number is the left operand")),
    inputs=1, shape=lambda a, ins: ins[0], inline_only=True, dtypes=SCALAR_ARITH,
    shape_doc="shape unchanged",
)
