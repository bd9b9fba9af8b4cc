"""Pooling: windowed max/avg, adaptive, and global pooling to [N, C]."""
from __future__ import annotations

from ..dims import known_positive
from ..errors import ShapeRuleError
from ._util import expect_rank, per_dim, window_out
from .registry import Param, register

_MAX_DOC = "[N, C, *S] -> [N, C, *S'] with S' = floor((S + 2p - d(k-1) - 1) / s) + 1 (ceil with ceil_mode)"
_AVG_DOC = "[N, C, *S] -> [N, C, *S'] with S' = floor((S + 2p - k) / s) + 1 (ceil with ceil_mode)"


def _window_shape(name: str, n: int, kernel_fits: bool = False):
    """`kernel_fits`: the input must hold the kernel without the padding (PyTorch's avg_pool3d checks it)."""

    def shape(a, ins):
        x = ins[0]
        expect_rank(name, x, (n + 2,))
        k = per_dim(name, a, "kernel_size", n)
        s = k if a.stride is None else per_dim(name, a, "stride", n)
        p = per_dim(name, a, "padding", n)
        d = per_dim(name, a, "dilation", n) if "dilation" in a else (1,) * n
        out = []
        for i in range(n):
            if p[i] > k[i] // 2:
                raise ShapeRuleError(f"`{name}` padding {p[i]} is more than half the kernel size {k[i]}",
                                     hint="PyTorch allows padding up to kernel_size // 2")
            if kernel_fits and known_positive(x[2 + i] - k[i] + 1) is False:
                raise ShapeRuleError(f"`{name}` kernel size {k[i]} is larger than dim {2 + i} of size {x[2 + i]}",
                                     hint="PyTorch's avg_pool3d needs each input dim at least the kernel size; "
                                          "padding does not count")
            out.append(window_out(name, x[2 + i], k[i], s[i], p[i], d[i], a.ceil_mode, axis=f"dim {2 + i}"))
        return (*x[:2], *out)

    return shape


def _window_params(extra: tuple) -> tuple:
    return (
        Param("kernel_size", "ints", min=1, doc="window size, one int or one per spatial dim"),
        Param("stride", "ints", None, min=1, doc="defaults to kernel_size"),
        Param("padding", "ints", 0, min=0, doc="at most kernel_size // 2"),
        *extra,
    )


for _n in (1, 2, 3):
    register(
        name=f"maxpool{_n}d", family="pool", doc=f"{_n}-D max pooling (nn.MaxPool{_n}d).",
        params=_window_params((Param("dilation", "ints", 1, min=1), Param("ceil_mode", "bool", False))),
        shape=_window_shape(f"maxpool{_n}d", _n),
        shape_doc=_MAX_DOC,
    )
    register(
        name=f"avgpool{_n}d", family="pool", doc=f"{_n}-D average pooling (nn.AvgPool{_n}d).",
        params=_window_params((Param("ceil_mode", "bool", False),
                               Param("count_include_pad", "bool", True, doc="average over padding zeros too"))),
        shape=_window_shape(f"avgpool{_n}d", _n, kernel_fits=_n == 3),
        shape_doc=_AVG_DOC + ("; each dim of S at least k, padding aside" if _n == 3 else ""),
    )


def _adaptive_shape(name: str, n: int):
    def shape(a, ins):
        expect_rank(name, ins[0], (n + 2,))
        return (*ins[0][:2], *per_dim(name, a, "output_size", n))

    return shape


for _n in (1, 2, 3):
    for _kind, _title in (("avg", "Avg"), ("max", "Max")):
        register(
            name=f"adaptive_{_kind}pool{_n}d", family="pool",
            doc=f"{_n}-D adaptive {_kind} pooling to a fixed output size (nn.Adaptive{_title}Pool{_n}d).",
            params=(Param("output_size", "ints", min=1, doc="one int or one per spatial dim"),),
            shape=_adaptive_shape(f"adaptive_{_kind}pool{_n}d", _n),
            shape_doc="[N, C, *S] -> [N, C, *output_size]",
        )


def _global_shape(name: str):
    def shape(a, ins):
        expect_rank(name, ins[0], (4,))
        return tuple(ins[0][:2])

    return shape


for _kind in ("avg", "max"):
    register(
        name=f"global_{_kind}pool2d", family="pool",
        doc=f"Global {_kind} pooling over H and W, flattened to [N, C].",
        shape=_global_shape(f"global_{_kind}pool2d"),
        shape_doc="[N, C, H, W] -> [N, C]",
    )
