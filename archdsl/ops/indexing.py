"""Indexing and bare parameters: `x[:, :8]`, chunk, split, narrow, and `parameter` (an nn.Parameter layer).

A subscript's entries are bound as tuples: ("i", k) an index (the dim is dropped), ("s", start, stop, step) a
slice, ("e",) the ellipsis and ("n",) None (a new dim of size 1). A slice's length is exact on a symbolic dim too
(`x[:, 1::2]` on [N, T] is [N, floor(T/2)], `x[:, :8]` is [N, Min(8, T)]).
"""
from __future__ import annotations

import sympy

from ..dims import as_static, at_least, fmt_shape, known_eq, product
from ..errors import ShapeRuleError
from ._util import norm_dim, static_dim
from .registry import Param, register


def _expand(items: tuple, rank: int) -> list:
    """The entries with the ellipsis replaced by full slices, padded with full slices to the rank."""
    used = sum(1 for e in items if e[0] in ("i", "s"))
    if used > rank:
        raise ShapeRuleError(f"{used} indices for a rank-{rank} tensor")
    full = ("s", None, None, None)
    at = next((k for k, e in enumerate(items) if e[0] == "e"), len(items))
    return list(items[:at]) + [full] * (rank - used) + [e for e in items[at + 1:]]


def _slice_len(d, start, stop, step):
    """The length of `d`'s slice start:stop:step (step > 0), as Python and torch count it.

    On a symbolic `d` it is ceil((stop - start)/step) with the bounds that may fall outside the dim clamped as
    Python clamps them: `:8` is Min(8, T) and `-4:` starts at Max(T - 4, 0), unless the declared min of T makes
    them fit. The other clamps only turn a length of 0 or less into 0, and no allowed size has such a length."""
    step = step or 1
    if isinstance(as_static(d), int):
        return len(range(as_static(d))[slice(start, stop, step)])
    import sympy

    lo = 0 if start is None else start if start >= 0 else d + start if at_least(d, -start) else sympy.Max(d + start, 0)
    hi = d if stop is None else d + stop if stop < 0 else stop if at_least(d, stop) else sympy.Min(stop, d)
    return as_static((hi - lo + step - 1) // step)


def _index_shape(a, ins):
    x, out = ins[0], []
    dims = iter(enumerate(x))
    for entry in _expand(a.subscript, len(x)):
        if entry[0] == "n":
            out.append(1)
            continue
        k, d = next(dims)
        if entry[0] == "i":
            size, i = as_static(d), entry[1]
            if isinstance(size, int) and not -size <= i < size:
                raise ShapeRuleError(f"index {i} is out of range for dim {k} of size {size} in {fmt_shape(x)}")
            need = i + 1 if i >= 0 else -i
            if not isinstance(size, int) and not at_least(size, need):
                raise ShapeRuleError(f"index {i} needs dim {k} of {fmt_shape(x)} to hold at least {need} elements, "
                                     f"and {size} may be smaller",
                                     hint=f"declare its least value under `dims:`: `{size}: {{min: {need}}}`"
                                     if isinstance(size, sympy.Symbol) else "declare the dims' least values under `dims:`")
            continue
        length = _slice_len(d, *entry[1:])
        if isinstance(length, int) and length <= 0:
            raise ShapeRuleError(f"the slice {slice_text(*entry[1:])} of dim {k} (size {d}) in {fmt_shape(x)} is empty")
        out.append(length)
    return tuple(out)


def subscript_text(items: tuple) -> str:
    """A bound subscript as Python writes it: `..., 0::2, None`."""
    return ", ".join(_entry_text(e) for e in items) or "..."


def _entry_text(e) -> str:
    if e[0] == "i":
        return str(e[1])
    if e[0] == "e":
        return "..."
    if e[0] == "n":
        return "None"
    return slice_text(*e[1:])


def slice_text(start, stop, step) -> str:
    """`start:stop:step` as Python writes it, None bounds left out: `1:`, `:-1`, `::2`."""
    start, stop, step = ("" if v is None else str(v) for v in (start, stop, step))
    return f"{start}:{stop}" + (f":{step}" if step else "")


register(
    name="index", family="tensor",
    doc="A tensor subscript with static integers: `x[:, 0]`, `x[..., 1:]`, `x[:, :8]`, `x[:, None]` (written "
        "as a subscript in `forward`, not by name).",
    params=(Param("subscript", "any"),),
    shape=_index_shape, inline_only=True,
    shape_doc="an index drops its dim, a slice keeps it with its length, None adds a dim of size 1",
)


def _static_size(op: str, x, dim: int) -> tuple[int, int]:
    k = norm_dim(op, dim, x)
    d = as_static(x[k])
    if not isinstance(d, int):
        raise ShapeRuleError(f"`{op}` needs a static size along dim {dim}, got the symbolic dim `{d}`",
                             hint="give that dim as a number in the input shape, or slice with static bounds")
    return k, d


def _parts(x, k: int, sizes) -> list:
    return [tuple(x[:k]) + (s,) + tuple(x[k + 1:]) for s in sizes]


def _chunk_shape(a, ins):
    x = ins[0]
    k, d = _static_size("chunk", x, a.dim)
    size = -(-d // a.chunks)
    sizes = [min(size, d - start) for start in range(0, d, size)]
    if len(sizes) != a.chunks:
        raise ShapeRuleError(f"`chunk` of size {d} into {a.chunks} gives {len(sizes)} tensors, as torch.chunk does",
                             hint="choose a number of chunks that divides the size, or use `split`")
    return _parts(x, k, sizes)


register(
    name="chunk", family="tensor",
    doc="Split into `chunks` tensors along `dim` (torch.chunk): one tensor per chunk, the last may be smaller.",
    params=(Param("chunks", "int", min=1, limit="max_repeat"), Param("dim", "int", 0)),
    shape=_chunk_shape, inline_only=True, outputs=(0, 1), outputs_of=lambda a: tuple(range(a.chunks)),
    shape_doc="[*A, d, *B] -> `chunks` x [*A, ceil(d / chunks), *B]; the size must be static",
)


def _split_shape(a, ins):
    x = ins[0]
    k, d = _static_size("split", x, a.dim)
    if sum(a.sizes) != d:
        raise ShapeRuleError(f"`split` sizes {list(a.sizes)} add up to {sum(a.sizes)}, but dim {a.dim} of "
                             f"{fmt_shape(x)} has size {d}")
    return _parts(x, k, a.sizes)


register(
    name="split", family="tensor",
    doc="Split along `dim` into tensors of the given `sizes` (torch.split with a list): one tensor per size.",
    params=(Param("sizes", "int_list", min=1), Param("dim", "int", 0)),
    shape=_split_shape, inline_only=True, outputs=(0, 1), outputs_of=lambda a: tuple(range(len(a.sizes))),
    shape_doc="[*A, d, *B] -> [*A, s, *B] for each s of `sizes`, which add up to d",
)


def _narrow_shape(a, ins):
    x = ins[0]
    k = norm_dim("narrow", a.dim, x)
    d = as_static(x[k])
    if isinstance(d, int) and a.start + a.length > d:
        raise ShapeRuleError(f"`narrow` start={a.start} length={a.length} runs past dim {a.dim} of size {d} "
                             f"in {fmt_shape(x)}")
    return tuple(x[:k]) + (a.length,) + tuple(x[k + 1:])


register(
    name="narrow", family="tensor",
    doc="`length` entries from `start` along `dim` (torch.narrow).",
    params=(Param("dim", "int"), Param("start", "int", min=0), Param("length", "int", min=1)),
    shape=_narrow_shape, inline_only=True,
    shape_doc="[*A, d, *B] -> [*A, length, *B]",
)

INITS = ("zeros", "ones", "normal", "trunc_normal")


def _parameter_shape(a, ins):
    if not isinstance(a.init, (int, float)) and a.init not in INITS:
        raise ShapeRuleError(f"`parameter` init={a.init!r} is not a number or one of {', '.join(INITS)}")
    return tuple(a.shape)


register(
    name="parameter", family="linear",
    doc="A bare learned tensor (nn.Parameter) whose state_dict key is the layer's own name; naming the layer "
        "in `forward` gives the tensor. init: a number (every entry), 'zeros', 'ones', 'normal' or "
        "'trunc_normal' (mean 0, `std`; truncated to [-2, 2] as nn.init.trunc_normal_).",
    params=(Param("shape", "int_list", min=1), Param("init", "any", "zeros"), Param("std", "float", 1.0, min=0)),
    shape=_parameter_shape, inputs=0, layer_only=True, weights=lambda a, ins: product(a.shape),
    shape_doc="[] -> shape",
)


def _tied_shape(a, ins):
    x = ins[0]
    if a.num_embeddings is None or a.embedding_dim is None:
        raise ShapeRuleError(f"`tied_linear` needs the sizes of its source `{a.source}`")
    if not x or static_dim("tied_linear", x[-1], "feature dim") != a.embedding_dim:
        raise ShapeRuleError(f"`tied_linear` on `{a.source}` takes {a.embedding_dim} features, got {fmt_shape(x)}",
                             hint=f"the weight of `{a.source}` is [{a.num_embeddings}, {a.embedding_dim}]")
    return tuple(x[:-1]) + (a.num_embeddings,)


# Layers that share a parameter of another layer: op name -> the parameter's name (tied after every layer is
# built; counted once, under its owner)
TIED = {"tied_linear": "weight"}

register(
    name="tied_linear", family="linear",
    doc="A linear layer whose weight is the embedding `source`'s (weight tying, as GPT-2's lm_head on wte): "
        "`source` is the embedding's dotted path in the same block, e.g. 'transformer.wte'. The weight is "
        "counted once, under the embedding; state_dict holds it under both names, one shared tensor.",
    params=(Param("source", "str", doc="the embedding's dotted path: 'wte', 'transformer.wte'"),
            Param("bias", "bool", False),
            Param("num_embeddings", "int", None, min=1, doc="taken from the source; not written"),
            Param("embedding_dim", "int", None, min=1, doc="taken from the source; not written")),
    shape=_tied_shape, layer_only=True,
    weights=lambda a, ins: a.num_embeddings if a.bias else 0,
    macs=lambda a, ins, out: product(out) * a.embedding_dim, macs_doc="out elements x embedding_dim",
    shape_doc="[*S, embedding_dim] -> [*S, num_embeddings]",
)


def _if_training_shape(a, ins):
    first, second = ins
    if len(first) != len(second) or any(known_eq(p, q) is not True for p, q in zip(first, second)):
        raise ShapeRuleError(f"the two sides of `if training` have the shapes {fmt_shape(first)} and "
                             f"{fmt_shape(second)}", hint="both modes must give the same shape")
    return tuple(first)


register(
    name="if_training", family="tensor",
    doc="The first tensor in training mode, the second in eval mode: what `a if training else b` makes in "
        "`forward` (generated as `a if self.training else b`).",
    shape=_if_training_shape, inputs=2, inline_only=True, training_dependent=True,
    shape_doc="two equal shapes -> that shape",
)
