"""Layout ops: flatten, reshape, permute. No weights."""
from __future__ import annotations

from ..dims import as_static, fmt_shape, known_eq, product
from ..errors import ShapeRuleError
from ._util import expect_min_rank, norm_dim
from .registry import Param, register


def _flatten_dims(a, x) -> tuple[int, int]:
    expect_min_rank("flatten", x, 1)
    start, end = norm_dim("flatten", a.start_dim, x, "start_dim"), norm_dim("flatten", a.end_dim, x, "end_dim")
    if start > end:
        raise ShapeRuleError(f"`flatten` start_dim={a.start_dim} comes after end_dim={a.end_dim} "
                             f"for the input {fmt_shape(x)}")
    return start, end


def _flatten_shape(a, ins):
    x = ins[0]
    start, end = _flatten_dims(a, x)
    return (*x[:start], product(x[start:end + 1]), *x[end + 1:])


register(
    name="flatten", family="tensor", doc="Merge dims start_dim..end_dim into one.",
    params=(Param("start_dim", "int", 1), Param("end_dim", "int", -1)),
    shape=_flatten_shape,
    shape_doc="[*A, d_start, ..., d_end, *B] -> [*A, d_start * ... * d_end, *B]",
)


def _reshape_shape(a, ins):
    x, target = ins[0], list(a.shape)
    want = "(" + ", ".join(map(str, target)) + ")"
    if not target:
        raise ShapeRuleError("`reshape` needs at least one output dim")
    if target.count(-1) > 1:
        raise ShapeRuleError(f"`reshape` shape {want} has more than one -1; only one dim can be inferred")
    out = []
    for i, v in enumerate(target):
        if v == 0 and i >= len(x):
            raise ShapeRuleError(f"`reshape` shape {want} copies dim {i} (0) but the input {fmt_shape(x)} "
                                 f"has rank {len(x)}")
        out.append(x[i] if v == 0 else v)
    total = product(x)
    known = product(d for d, v in zip(out, target) if v != -1)
    if -1 in target:
        j = target.index(-1)
        out[j] = as_static(total // known)
        fits = known_eq(out[j] * known, total)
    else:
        fits = known_eq(known, total)
    if fits is False:
        raise ShapeRuleError(f"`reshape` cannot view {fmt_shape(x)} ({total} elements) as {want} "
                             f"({known} elements{' times the inferred -1' if -1 in target else ''})",
                             hint="0 copies the input dim at that position, -1 infers one dim")
    return tuple(out)


register(
    name="reshape", family="tensor", doc="View the input with a new shape; -1 infers one dim, 0 copies the input dim.",
    params=(Param("shape", "int_list", min=-1, doc="output dims; -1 infers one, 0 copies the input dim"),),
    shape=_reshape_shape, inline_only=True,
    shape_doc="[*S] -> shape, with the same number of elements",
)


def _permute_shape(a, ins):
    x = ins[0]
    order = [norm_dim("permute", d, x, "dims entry") for d in a.dims]
    if sorted(order) != list(range(len(x))):
        raise ShapeRuleError(f"`permute` dims {tuple(a.dims)} is not a permutation of the {len(x)} dims "
                             f"of the input {fmt_shape(x)}")
    return tuple(x[d] for d in order)


register(
    name="permute", family="tensor", doc="Reorder the dims.",
    params=(Param("dims", "int_list", doc="new order of the input dims"),),
    shape=_permute_shape, inline_only=True,
    shape_doc="[d_0, ..., d_n] -> [d_dims[0], ..., d_dims[n]]",
)
