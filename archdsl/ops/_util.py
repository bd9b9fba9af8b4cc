"""Helpers shared by the shape rules."""
from __future__ import annotations

from ..dims import as_static, fmt_shape, known_positive, same
from ..errors import ShapeRuleError


def ntuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def per_dim(op: str, a, key: str, n: int) -> tuple:
    """Attribute `key` as one value per spatial dim; a tuple must have exactly `n` entries."""
    v = ntuple(a[key], n)
    if len(v) != n:
        raise ShapeRuleError(f"`{op}` {key}={a[key]!r} needs {n} value{'s' * (n > 1)}, one per spatial dim, "
                             f"got {len(v)}")
    return v


def expect_rank(op: str, shape, ranks, what: str = "input") -> None:
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeRuleError(f"`{op}` expects a rank-{want} {what}, got rank {len(shape)} {fmt_shape(shape)}")


def expect_min_rank(op: str, shape, rank: int) -> None:
    if len(shape) < rank:
        raise ShapeRuleError(f"`{op}` expects an input of rank {rank} or more, "
                             f"got rank {len(shape)} {fmt_shape(shape)}")


def norm_dim(op: str, dim: int, shape, what: str = "dim") -> int:
    """A possibly negative dim index as a non-negative one; raises when out of range for `shape`."""
    rank = len(shape)
    if not -rank <= dim < rank:
        raise ShapeRuleError(f"`{op}` {what}={dim} is out of range for the rank-{rank} input {fmt_shape(shape)}",
                             hint=f"use a dim from {-rank} to {rank - 1}" if rank else None)
    return dim % rank


def static_dim(op: str, d, what: str) -> int:
    """A dim a layer needs as a number (channels, features)."""
    d = as_static(d)
    if not isinstance(d, int):
        raise ShapeRuleError(f"`{op}` needs a static {what}, got the symbolic dim `{d}`",
                             hint=f"give the {what} as a number in the input shape")
    return d


def window_out(op: str, size, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False, axis: str = "spatial"):
    """Output length of a conv or pooling window along one axis, as PyTorch computes it."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        out = -((-span) // s) + 1
        # PyTorch drops a last window that would start in the right padding; that needs p + s - 1 > d(k - 1)
        if isinstance(size, int):
            if (out - 1) * s >= size + p:
                out -= 1
        elif p + s - 1 > d * (k - 1):
            import sympy
            out = sympy.Piecewise((out - 1, (out - 1) * s >= size + p), (out, True))
    else:
        out = span // s + 1
    out = as_static(out)
    if known_positive(out) is False:
        raise ShapeRuleError(f"`{op}` window (kernel {k}, stride {s}, padding {p}, dilation {d}) "
                             f"does not fit the {axis} size {size}: output size would be {out}",
                             hint="use a smaller kernel or stride, more padding, or a larger input")
    return out


def mismatch(a, b, what: str) -> bool:
    """`a` and `b` are proven different. Equal only under a condition (H even, H == W) is an error naming
    the condition, or a recorded assumption when assumptions are accepted (dims.same)."""
    return not same(a, b, what)
