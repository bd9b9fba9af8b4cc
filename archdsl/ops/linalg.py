"""Tensor algebra: einsum contractions, outer products, similarities, norms, reductions, selection and
layout helpers (select, roll, zeros and identity made from a tensor). No weights.

`einsum` takes its operands as one list, `einsum([c, u_hat], 'nij,nijd->njd')`; its equation is parsed and
checked against the input shapes statically: every operand has one subscript per dim (or `...` for the
rest), a subscript names one size everywhere, the output names only subscripts of the inputs.
"""
from __future__ import annotations

import string

from ..dims import as_static, fmt_shape, known_eq, product
from ..errors import ShapeRuleError
from ._util import expect_min_rank, mismatch, norm_dim
from .merge import _broadcast
from .dtypes import FLOAT, INDICES, SUM
from .registry import Param, register

_LETTERS = set(string.ascii_letters)


# --- einsum -----------------------------------------------------------------------------------------------

def _split_equation(eq: str) -> tuple[list[str], str | None]:
    eq = eq.replace(" ", "")
    if eq.count("->") > 1:
        raise ShapeRuleError(f"`einsum` equation {eq!r} has more than one `->`")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    for term in terms + ([rhs] if arrow else []):
        rest = term.replace("...", "", 1)
        bad = sorted(set(rest) - _LETTERS)
        if bad:
            raise ShapeRuleError(f"`einsum` equation {eq!r}: {''.join(bad)!r} is not a subscript",
                                 hint="subscripts are letters; `...` (once per operand) stands for the other dims")
    return terms, (rhs if arrow else None)


def _einsum_plan(a, ins) -> dict:
    """Parse and check the equation. Returns sizes per label (ellipsis dims as labels '0', '1', ... counted
    from the right), each operand's labels, and the output's labels."""
    terms, rhs = _split_equation(a.equation)
    eq = a.equation.replace(" ", "")
    if len(terms) != len(ins):
        raise ShapeRuleError(f"`einsum` equation {eq!r} has {len(terms)} operand(s), but {len(ins)} tensor(s) "
                             f"are given", hint="write the operands as one list: einsum([a, b], 'ij,jk->ik')")
    if len(ins) > 2:
        raise ShapeRuleError(f"`einsum` contracts one or two operands, got {len(ins)}",
                             hint="chain einsums: einsum([einsum([a, b], ...), c], ...)")
    sizes: dict = {}
    where: dict = {}
    ops_labels = []
    ell_rank = 0
    for i, (term, shape) in enumerate(zip(terms, ins)):
        letters = term.replace("...", "")
        if "..." in term:
            n_ell = len(shape) - len(letters)
            if n_ell < 0:
                raise ShapeRuleError(f"`einsum` operand {i} `{term}` names {len(letters)} dims, but the input "
                                     f"{fmt_shape(shape)} has rank {len(shape)}")
            head = term.index("...")
            labels = list(letters[:head]) + [str(n_ell - 1 - k) for k in range(n_ell)] + list(letters[head:])
            ell_rank = max(ell_rank, n_ell)
        else:
            if len(letters) != len(shape):
                raise ShapeRuleError(f"`einsum` operand {i} `{term}` has {len(letters)} subscript(s), but the "
                                     f"input {fmt_shape(shape)} has rank {len(shape)}",
                                     hint="one subscript per dim, or `...` for the dims not named")
            labels = list(letters)
        for label, d in zip(labels, shape):
            if label in sizes:
                prev = sizes[label]
                if label.isdigit():  # ellipsis dims broadcast
                    if known_eq(prev, 1) is True:
                        sizes[label] = d
                    elif known_eq(d, 1) is not True and mismatch(prev, d, "`einsum`/`matmul` compares"):
                        raise ShapeRuleError(f"`einsum` cannot broadcast the `...` dims of {fmt_shape(ins[0])} "
                                             f"and {fmt_shape(ins[1])}: {prev} vs {d}")
                elif mismatch(prev, d, "`einsum`/`matmul` compares"):
                    first, dim = where[label]
                    raise ShapeRuleError(f"`einsum` subscript `{label}` is {prev} in operand {first} "
                                         f"{fmt_shape(ins[first])} (dim {dim}) but {d} in operand {i} "
                                         f"{fmt_shape(shape)}", hint="a subscript names the same size everywhere")
            else:
                sizes[label] = d
                where[label] = (i, labels.index(label))
        ops_labels.append(labels)
    ell = [str(k) for k in reversed(range(ell_rank))]
    if rhs is None:  # implicit output: `...`, then the letters used once, in alphabetical order
        counts: dict = {}
        for labels in ops_labels:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        out = ell + sorted(k for k, c in counts.items() if c == 1 and not k.isdigit())
    else:
        letters = rhs.replace("...", "")
        if len(set(letters)) != len(letters):
            raise ShapeRuleError(f"`einsum` output `{rhs}` repeats a subscript")
        missing = [c for c in letters if c not in sizes]
        if missing:
            raise ShapeRuleError(f"`einsum` output subscript `{missing[0]}` does not appear in any operand of "
                                 f"{eq!r}")
        if "..." in rhs:
            head = rhs.index("...")
            out = list(letters[:head]) + ell + list(letters[head:])
        else:
            out = list(letters)
    return {"sizes": sizes, "operands": ops_labels, "out": out}


def _einsum_shape(a, ins):
    if not ins:
        raise ShapeRuleError("`einsum` needs at least one operand")
    plan = _einsum_plan(a, ins)
    return tuple(as_static(plan["sizes"][k]) for k in plan["out"])


def _einsum_macs(a, ins, out):
    """Multiply-adds of the pairwise contraction as PyTorch runs it: subscripts found in one operand only and
    not in the output are summed out first (no products); with no contracted subscript of size > 1 the
    operands are only multiplied elementwise (no MACs either)."""
    if len(ins) != 2:
        return 0
    plan = _einsum_plan(a, ins)
    sizes, (left, right), keep = plan["sizes"], plan["operands"], set(plan["out"])
    both = set(left) & set(right)
    contracted = [k for k in both - keep if known_eq(sizes[k], 1) is not True]
    if not contracted:
        return 0
    used = (set(left) | set(right)) & (both | keep)
    return product(sizes[k] for k in sorted(used))


register(
    name="einsum", family="linear",
    doc="Einstein summation over one or two operands, given as one list: `einsum([c, u], 'nij,nijd->njd')` "
        "(torch.einsum). The equation is checked against the input shapes.",
    params=(Param("equation", "str", doc="subscripts per operand, `->`, output subscripts; `...` for other dims"),),
    inputs=None, shape=_einsum_shape, macs=_einsum_macs, inline_only=True,
    shape_doc="the output subscripts' sizes; each subscript has one size in all operands",
    macs_doc="product of the sizes of the subscripts that take part in the contraction",
)


# --- products, similarities, norms, reductions -----------------------------------------------------------

def _outer_shape(a, ins):
    x, y = ins
    expect_min_rank("outer", x, 1)
    expect_min_rank("outer", y, 1)
    batch = _broadcast("outer")(a, [x[:-1], y[:-1]])
    return (*batch, x[-1], y[-1])


register(
    name="outer", family="merge",
    doc="Outer product of the last dims, batched over the others: out[..., i, j] = a[..., i] * b[..., j].",
    inputs=2, shape=_outer_shape, inline_only=True,
    shape_doc="[*A, m], [*B, n] -> [broadcast(A, B), m, n]",
)


def _cos_shape(a, ins):
    both = _broadcast("cosine_similarity")(a, ins)
    d = norm_dim("cosine_similarity", a.dim, both)
    return tuple(both[:d]) + tuple(both[d + 1:])


register(
    name="cosine_similarity", family="merge",
    doc="Cosine similarity a.b / max(|a| |b|, eps) along `dim`, broadcasting the other dims (F.cosine_similarity).",
    params=(Param("dim", "int", -1), Param("eps", "float", 1e-8, min=0)),
    inputs=2, shape=_cos_shape, inline_only=True, dtypes=FLOAT,
    shape_doc="broadcast of the two shapes without `dim`",
)


def _reduce_shape(name: str):
    def shape(a, ins):
        x = ins[0]
        if a.dim is None:
            return (1,) * len(x) if a.keepdim else ()
        dims = a.dim if isinstance(a.dim, tuple) else (a.dim,)
        axes = {norm_dim(name, d, x) for d in dims}
        if len(axes) != len(dims):
            raise ShapeRuleError(f"`{name}` dim={a.dim!r} names a dim twice")
        return tuple(1 if i in axes else d for i, d in enumerate(x) if a.keepdim or i not in axes)

    return shape


register(
    name="vector_norm", family="tensor",
    doc="Euclidean length of the vectors along `dim` (torch.linalg.vector_norm): capsule lengths.",
    params=(Param("dim", "ints", -1), Param("keepdim", "bool", False)),
    shape=_reduce_shape("vector_norm"), inline_only=True, dtypes=FLOAT,
    shape_doc="[*S] -> [*S] without `dim` (kept as 1 with keepdim)",
)

for _name, _verb in (("reduce_sum", "Sum"), ("reduce_mean", "Mean")):
    register(
        name=_name, family="tensor",
        doc=f"{_verb} over `dim` (an int, a tuple, or None for all dims).",
        params=(Param("dim", "ints", None), Param("keepdim", "bool", False)),
        shape=_reduce_shape(_name), inline_only=True, dtypes=SUM if _name == "reduce_sum" else FLOAT,
        shape_doc="[*S] -> [*S] without `dim` (kept as 1 with keepdim; a scalar [] for dim=None)",
    )


# --- selection ------------------------------------------------------------------------------------------

def _argmax_shape(a, ins):
    x = ins[0]
    d = norm_dim("argmax", a.dim, x)
    return tuple(1 if i == d else s for i, s in enumerate(x) if a.keepdim or i != d)


register(
    name="argmax", family="tensor",
    doc="Index of the largest value along `dim` (integer tensor; the first one on ties).",
    params=(Param("dim", "int", -1), Param("keepdim", "bool", False)),
    shape=_argmax_shape, inline_only=True, dtypes=INDICES,
    shape_doc="[*S] -> [*S] without `dim` (kept as 1 with keepdim)",
)


def _topk_shape(a, ins):
    x = ins[0]
    d = norm_dim("topk_mask", a.dim, x)
    size = as_static(x[d])
    if isinstance(size, int) and size < a.k:
        raise ShapeRuleError(f"`topk_mask` k={a.k} is more than the {x[d]} values along dim {a.dim} of "
                             f"{fmt_shape(x)}")
    return x


register(
    name="topk_mask", family="tensor",
    doc="A mask with 1 at the `k` largest values along `dim` and 0 elsewhere (top-k selection; for k=1 the "
        "first maximum on ties). No gradient flows through the choice.",
    params=(Param("k", "int", 1, min=1), Param("dim", "int", -1)),
    shape=_topk_shape, inline_only=True,
    shape_doc="shape unchanged",
)


# --- layout and constants made from a tensor -------------------------------------------------------------

def _select_shape(a, ins):
    x = ins[0]
    d = norm_dim("select", a.dim, x)
    size = as_static(x[d])
    if isinstance(size, int) and not -size <= a.index < size:
        raise ShapeRuleError(f"`select` index={a.index} is out of range for dim {a.dim} of size {size} "
                             f"in {fmt_shape(x)}")
    return tuple(x[:d]) + tuple(x[d + 1:])


register(
    name="select", family="tensor",
    doc="The slice at `index` along `dim`, which is dropped (Tensor.select).",
    params=(Param("dim", "int"), Param("index", "int")),
    shape=_select_shape, inline_only=True,
    shape_doc="[*A, d, *B] -> [*A, *B]",
)


def _roll_shape(a, ins):
    norm_dim("roll", a.dim, ins[0])
    return ins[0]


register(
    name="roll", family="tensor",
    doc="Rotate the entries along `dim` by `shifts` places, wrapping around (torch.roll).",
    params=(Param("shifts", "int"), Param("dim", "int", -1)),
    shape=_roll_shape, inline_only=True,
    shape_doc="shape unchanged",
)


def _zeros_shape(a, ins):
    x = ins[0]
    out = []
    for i, v in enumerate(a.shape):
        if v == 0 and i >= len(x):
            raise ShapeRuleError(f"`new_zeros` shape {tuple(a.shape)} copies dim {i} (0) but the input "
                                 f"{fmt_shape(x)} has rank {len(x)}")
        if v < 0:
            raise ShapeRuleError(f"`new_zeros` shape {tuple(a.shape)} has a negative size {v}")
        out.append(x[i] if v == 0 else v)
    return tuple(out)


register(
    name="new_zeros", family="tensor",
    doc="Zeros with the input's dtype and device and `shape`, where 0 copies the input's dim at that position "
        "(symbolic dims too): initial states like `new_zeros(u_hat, [0, 0, 0])` -> [N, 1152, 10].",
    params=(Param("shape", "int_list", doc="output dims; 0 copies the input dim at that position"),),
    shape=_zeros_shape, inline_only=True,
    shape_doc="[*S] -> shape (0 entries copy the input dims)",
)

register(
    name="new_eye", family="tensor",
    doc="The n x n identity matrix with the input's dtype and device (the input gives only those): "
        "feeding it to a linear layer yields that layer's weight, transposed.",
    params=(Param("n", "int", min=1),),
    shape=lambda a, ins: (a.n, a.n), inline_only=True,
    shape_doc="[*S] -> [n, n]",
)

register(
    name="softplus", family="activation",
    doc="Softplus log(1 + exp(beta x)) / beta, a smooth positive activation (key strengths, sharpening).",
    params=(Param("beta", "float", 1.0), Param("threshold", "float", 20.0)),
    shape=lambda a, ins: ins[0],
    shape_doc="shape unchanged",
)
