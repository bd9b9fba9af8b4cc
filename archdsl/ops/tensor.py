"""Layout ops (flatten, reshape, permute, flip), dtype and index ops (cast, one_hot, gather) and the max/min
reductions. No weights."""
from __future__ import annotations

from ..dims import as_static, fmt_dim, fmt_shape, known_positive, product, same
from ..errors import ShapeRuleError
from ._util import expect_min_rank, norm_dim
from .linalg import _reduce_shape
from .dtypes import ATTR_DTYPE, GATHER, INDICES, ONE_HOT
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
    viewed = out[j] * known if -1 in target else known
    if not same(viewed, total, f"`reshape` to {want} compares the element counts"):
        raise ShapeRuleError(f"`reshape` cannot view {fmt_shape(x)} ({fmt_dim(total)} elements) as {want} "
                             f"({fmt_dim(known)} elements{' times the inferred -1' if -1 in target else ''})",
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


def _flip_shape(a, ins):
    x = ins[0]
    dims = a.dims if isinstance(a.dims, tuple) else (a.dims,)
    axes = {norm_dim("flip", d, x, "dims entry") for d in dims}
    if len(axes) != len(dims):
        raise ShapeRuleError(f"`flip` dims={a.dims!r} names a dim twice")
    return x


register(
    name="flip", family="tensor", doc="Reverse the order of the entries along each of `dims` (torch.flip).",
    params=(Param("dims", "ints", doc="the dim or dims to reverse"),),
    shape=_flip_shape, inline_only=True,
    shape_doc="shape unchanged",
)

DTYPES = ("float32", "float64", "int64", "int32", "bool")

register(
    name="cast", family="tensor", doc="Convert to `dtype` (Tensor.to): float32, float64, int64, int32 or bool.",
    params=(Param("dtype", "str", choices=DTYPES),),
    shape=lambda a, ins: ins[0], inline_only=True, dtypes=ATTR_DTYPE,
    shape_doc="shape unchanged",
)

register(
    name="one_hot", family="tensor",
    doc="One-hot encoding of integer (int64) ids below `num_classes` (F.one_hot); the output is int64: "
        "`cast(one_hot(y, 10), 'float32')` to feed it to a float layer.",
    params=(Param("num_classes", "int", min=1),),
    shape=lambda a, ins: (*ins[0], a.num_classes), inline_only=True, ids_below="num_classes", dtypes=ONE_HOT,
    shape_doc="[*S] ids -> [*S, num_classes] int64",
)


def _gather_shape(a, ins):
    x, index = ins
    d = norm_dim("gather", a.dim, x)
    if len(index) != len(x):
        raise ShapeRuleError(f"`gather` index {fmt_shape(index)} must have the rank of the input {fmt_shape(x)}")
    for i, (p, q) in enumerate(zip(index, x)):
        if i != d and known_positive(as_static(p - q)):
            raise ShapeRuleError(f"`gather` index {fmt_shape(index)} is larger than the input {fmt_shape(x)} "
                                 f"in dim {i}", hint=f"only dim {a.dim} (dim=) may be larger")
    return tuple(index)


register(
    name="gather", family="tensor",
    doc="out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (torch.gather): pick entries of x along `dim` at the "
        "int64 positions of `index`, which has x's rank and is no larger than x in the other dims.",
    params=(Param("dim", "int"),),
    inputs=2, shape=_gather_shape, inline_only=True, dtypes=GATHER,
    shape_doc="x [*S], index [*I] (same rank) -> [*I]",
)

for _name, _what, _fn in (("reduce_max", "Largest", "amax"), ("reduce_min", "Smallest", "amin")):
    register(
        name=_name, family="tensor",
        doc=f"{_what} value over `dim` (an int, a tuple, or None for all dims), the values only (Tensor.{_fn}; "
            f"ties share the gradient). argmax gives the positions.",
        params=(Param("dim", "ints", None), Param("keepdim", "bool", False)),
        shape=_reduce_shape(_name), inline_only=True,
        shape_doc="[*S] -> [*S] without `dim` (kept as 1 with keepdim; a scalar [] for dim=None)",
    )

register(
    name="argmin", family="tensor",
    doc="Index of the smallest value along `dim` (int64; the first one on ties).",
    params=(Param("dim", "int", -1), Param("keepdim", "bool", False)),
    shape=_reduce_shape("argmin"), inline_only=True, dtypes=INDICES,
    shape_doc="[*S] -> [*S] without `dim` (kept as 1 with keepdim)",
)
