"""Dims are plain ints on the concrete path and sympy expressions when a spec uses symbols.

Shape rules are written with ordinary arithmetic (`(h + 2 * p - k) // s + 1`), which works for both;
sympy is imported only when a symbolic dim is created.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Union

Dim = Union[int, Any]  # int or sympy.Expr
Shape = tuple  # tuple[Dim, ...]


def symbol(name: str):
    import sympy

    return sympy.Symbol(name, integer=True, positive=True)


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def as_static(d: Dim) -> Dim:
    """Turn a sympy integer back into a plain int; leave true expressions alone."""
    if isinstance(d, int) or getattr(d, "free_symbols", None):
        return d
    try:
        return int(d)
    except TypeError:
        return d


def known_eq(a: Dim, b: Dim) -> bool | None:
    """True or False when decidable, None when it depends on the symbols' values."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    import sympy

    return _symbolic_eq(sympy.sympify(a), sympy.sympify(b))


@lru_cache(maxsize=4096)
def _symbolic_eq(a, b) -> bool | None:
    import sympy

    diff = sympy.expand(a - b)
    if diff == 0:
        return True
    if diff.is_number or diff.is_zero is False:
        return False
    return None


def known_positive(d: Dim) -> bool | None:
    if isinstance(d, int):
        return d > 0
    return getattr(d, "is_positive", None)


def product(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d
    return as_static(out)


def fmt_dim(d: Dim) -> str:
    return str(d).replace("**", "^")


def fmt_shape(shape: Shape) -> str:
    return "[" + ", ".join(fmt_dim(d) for d in shape) + "]"


def substitute(d: Dim, values: dict[str, int]) -> Dim:
    if isinstance(d, int):
        return d
    subs = {s: values[s.name] for s in d.free_symbols if s.name in values}
    return as_static(d.subs(subs)) if subs else d
