"""Declared dims (`dims: {H: {min: 32, multiple_of: 16}}`): their constraints evaluated, and the values given
to them (`-D H=224`, `archdsl.load(..., H=224)`) checked against them."""
from __future__ import annotations

from ..dims import DimDecl
from ..errors import ParamError, StructureError, TypeError_


def declared_dims(builder) -> dict[str, DimDecl]:
    """name -> DimDecl from the top-level `dims:` and each model's; a dim is declared once."""
    doc, out = builder.doc, {}
    for where in [doc.dims, *(m.dims for m in doc.models.values())]:
        for name, (constraints, span) in where.items():
            if name in out:
                raise StructureError(f"the dim `{name}` is declared twice", span,
                                     hint=f"declare it once; it is declared first at {out[name].span}")
            out[name] = _decl(builder, name, constraints, span)
    return out


def _decl(builder, name: str, constraints: dict, span) -> DimDecl:
    values = {}
    for key, node in constraints.items():
        v = builder.static(node, builder.globals, "dim constraint")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TypeError_(f"`{key}` of the dim `{name}` must be a positive integer, got {v!r}", node.span)
        values[key] = v
    decl = DimDecl(span=span, **values)
    if decl.max is not None and decl.max < decl.min:
        raise StructureError(f"the dim `{name}` has max {decl.max} below its min {decl.min}", span)
    return decl


def check_values(decls: dict[str, DimDecl], values: dict) -> None:
    """Each value given to a declared dim satisfies its declaration."""
    for name, value in values.items():
        decl = decls.get(name)
        broken = decl.violation(value) if decl is not None and isinstance(value, int) else None
        if broken:
            raise ParamError(f"the dim `{name}` = {value} breaks its declaration `{name}: {decl.describe()}`: "
                             f"it must be {broken}", decl.span,
                             hint=f"give `{name}` a value that is {broken}")
