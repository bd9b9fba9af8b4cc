"""Helpers shared by shape rules."""
from __future__ import annotations

from ..dims import fmt_shape, known_positive, as_static
from ..errors import ShapeRuleError


def ntuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def expect_rank(op: str, shape, ranks, what: str = "input") -> None:
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeRuleError(f"`{op}` expects a rank-{want} {what}, got rank {len(shape)} {fmt_shape(shape)}")


def static_dim(op: str, d, what: str) -> int:
    """A dim the lowering needs as a number (channels, features)."""
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
        # PyTorch drops a last window that would start in the right padding
        if isinstance(size, int):
            if (out - 1) * s >= size + p:
                out -= 1
        else:
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
