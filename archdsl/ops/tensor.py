"""Layout ops (flatten, reshape, permute, flip, pad), dtype and index ops (cast, one_hot, gather) and the max/min
reductions. No weights."""
from __future__ import annotations

from ..dims import as_static, at_least, fmt_dim, fmt_shape, known_positive, product, same
from ..errors import ShapeRuleError
from ._util import expect_min_rank, norm_dim
from .linalg import _reduce_shape
from .dtypes import ATTR_DTYPE, GATHER, INDICES, ONE_HOT, DtypeRuleError
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

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad_in_sizes(amount, x):
    """A symbolic pad amount in terms of the input x's dims: each symbolic dim k replaced by the symbol `dim<k>`
    (the generated code reads x.shape[k]). It must be built from them with +, -, *, // and % by integers."""
    import sympy

    names = {d: sympy.Symbol(f"dim{k}", integer=True, positive=True) for k, d in enumerate(x)
             if not isinstance(as_static(d), int)}
    out = amount.xreplace(names)
    if not out.free_symbols <= set(names.values()) or not _size_arithmetic(out):
        raise ShapeRuleError(f"`pad` amount {fmt_dim(amount)} is not written in the sizes of the input {fmt_shape(x)}",
                             hint="read the amount from the padded tensor in a `let`: `x.shape[2] % 2`")
    if not out.is_nonnegative:
        raise ShapeRuleError(f"`pad` amount {fmt_dim(amount)} may be negative",
                             hint="a size-dependent amount pads (0 or more); crop by a number or a slice")
    return out


def _size_arithmetic(e) -> bool:
    """`e` is integers and symbols under +, -, * by integers, // and % by positive integers."""
    import sympy

    if e.is_Integer or e.is_Symbol:
        return True
    if isinstance(e, sympy.Mod):
        return e.args[1].is_Integer and e.args[1] > 0 and _size_arithmetic(e.args[0])
    if isinstance(e, sympy.floor):
        num, den = e.args[0].as_numer_denom()
        return den.is_Integer and _size_arithmetic(num)
    if isinstance(e, sympy.Add):
        return all(map(_size_arithmetic, e.args))
    if isinstance(e, sympy.Mul):
        coeff, rest = e.as_coeff_Mul()
        return coeff.is_Integer and all(map(_size_arithmetic, rest.as_ordered_factors()))
    return False


def _pad_shape(a, ins):
    x, amounts = ins[0], list(a.pad)
    pairs = len(amounts) // 2
    if not amounts or len(amounts) % 2 or pairs > len(x):
        raise ShapeRuleError(f"`pad` takes (before, after) pairs, at most one per dim of the input {fmt_shape(x)}, "
                             f"got {len(amounts)} amounts",
                             hint="F.pad's order, the last dim first: [left, right, top, bottom, ...]")
    for v in amounts:
        if not isinstance(v, int):
            pad_in_sizes(v, x)
    if a.mode != "constant":
        _check_border(a, x, pairs)
    out = list(x)
    for j in range(pairs):
        k = len(x) - 1 - j
        out[k] = _padded(x, k, amounts[2 * j], amounts[2 * j + 1])
    return tuple(out)


def _padded(x, k: int, before, after):
    """The size of dim k after padding it; negative amounts crop (constant mode), as torch does before padding."""
    d, size = x[k], as_static(x[k] + before + after)
    crop = -sum(v for v in (before, after) if isinstance(v, int) and v < 0)
    grows = any(not isinstance(v, int) or v > 0 for v in (before, after))
    where = f"dim {k} of size {fmt_dim(d)} in {fmt_shape(x)}"
    if isinstance(size, int) and size < 1:
        raise ShapeRuleError(f"`pad` by ({fmt_dim(before)}, {fmt_dim(after)}) leaves {size} entries of {where}",
                             hint="a crop must leave at least one entry")
    if crop and grows and not at_least(d, crop):
        raise ShapeRuleError(f"`pad` by ({fmt_dim(before)}, {fmt_dim(after)}) crops {crop} entries of {where}, "
                             f"{'more than there are' if isinstance(d, int) else 'which may be more than there are'}",
                             hint="torch crops before it pads" + ("" if isinstance(d, int) else
                                                                  f": declare the dim's `min` ({crop} or more)"))
    return size


def _check_border(a, x, pairs: int) -> None:
    """reflect, replicate and circular: 1 to 3 dims of a batched or unbatched input, by static amounts that
    torch accepts (reflect: less than the size; circular: at most the size)."""
    mode = a.mode
    if len(x) not in (pairs + 1, pairs + 2):
        raise ShapeRuleError(f"`pad` in mode '{mode}' of {pairs} dim{'s' * (pairs > 1)} takes a rank-{pairs + 1} "
                             f"or rank-{pairs + 2} input, got rank {len(x)} {fmt_shape(x)}",
                             hint="give a pair for each of the last 1, 2 or 3 dims, as F.pad does in this mode")
    if a.value:
        raise ShapeRuleError(f"`pad` in mode '{mode}' takes no value, got value={a.value!r}",
                             hint="value fills in mode 'constant' only")
    for j, v in enumerate(a.pad):
        k = len(x) - 1 - j // 2
        if not isinstance(v, int) or v < 0:
            raise ShapeRuleError(f"`pad` in mode '{mode}' pads by numbers of 0 or more, got {fmt_dim(v)}",
                                 hint="sizes and crops are for mode 'constant'")
        most = {"reflect": v + 1, "circular": v}.get(mode, 0)
        if not at_least(x[k], most):
            raise ShapeRuleError(f"`pad` in mode '{mode}' by {v} needs dim {k} of {fmt_shape(x)} to be at least "
                                 f"{most}", hint="reflect pads less than the size, circular at most the size"
                                 + ("; declare the dim's `min`" if not isinstance(x[k], int) else ""))


def _pad_dtype(a, ins) -> str:
    if a.mode in ("reflect", "replicate") and ins[0] == "bool":
        raise DtypeRuleError(f"in mode '{a.mode}' takes numbers, got bool", hint="convert it with `cast(x, 'float32')`")
    return ins[0]


register(
    name="pad", family="tensor",
    doc="Pad the last dims (F.pad): `pad` holds (before, after) pairs, the last dim's first ([left, right, top, "
        "bottom, ...]). Mode 'constant' fills `value`, and its negative amounts crop; 'reflect', 'replicate' and "
        "'circular' pad 1 to 3 dims of a batched or unbatched input by numbers. In mode 'constant' an amount may be "
        "a size of the input read in a `let` (`x.shape[2] % 2`, Swin's padding of odd maps).",
    params=(Param("pad", "size_list", doc="(before, after) pairs from the last dim backwards"),
            Param("mode", "str", "constant", choices=PAD_MODES,
                  doc="'constant' fills; the others repeat the tensor's border mirrored, as is, or wrapped around"),
            Param("value", "float", 0.0, doc="the fill of mode 'constant'")),
    shape=_pad_shape, inline_only=True, dtypes=_pad_dtype,
    shape_doc="[*A, d_1, ..., d_k] -> [*A, d_1 + b_1 + a_1, ..., d_k + b_k + a_k] (the pairs (b, a) from d_k back)",
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
