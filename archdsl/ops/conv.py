"""Convolutions and transposed convolutions."""
from __future__ import annotations

from ..dims import known_positive, product
from ..errors import ShapeRuleError
from ._util import expect_rank, ntuple, per_dim, static_dim, window_out
from .registry import Param, register


def _conv_params():
    return (
        Param("out_channels", "int", min=1, doc="output channels"),
        Param("kernel_size", "ints", min=1, doc="window size, one int or one per spatial dim"),
        Param("stride", "ints", 1, min=1),
        Param("padding", "padding", 0, min=0, doc="int, tuple, 'same' (stride 1) or 'valid'"),
        Param("dilation", "ints", 1, min=1),
        Param("groups", "int", 1, min=1),
        Param("bias", "bool", True),
    )


def _check_groups(name: str, cin: int, a) -> None:
    if cin % a.groups or a.out_channels % a.groups:
        raise ShapeRuleError(f"`{name}` groups={a.groups} must divide both the input channels ({cin}) "
                             f"and out_channels ({a.out_channels})")


def _conv_shape(n: int):
    name = f"conv{n}d"

    def shape(a, ins):
        x = ins[0]
        expect_rank(name, x, (n + 2,))
        _check_groups(name, static_dim(name, x[1], "channel dim (dim 1)"), a)
        k, s, d = (per_dim(name, a, key, n) for key in ("kernel_size", "stride", "dilation"))
        if a.padding == "same":
            if any(v != 1 for v in s):
                raise ShapeRuleError(f"`{name}` padding='same' needs stride 1 in PyTorch, got stride {a.stride}",
                                     hint="give the padding as a number: (kernel_size - 1) // 2 for odd kernels")
            return (x[0], a.out_channels, *x[2:])
        p = (0,) * n if a.padding == "valid" else per_dim(name, a, "padding", n)
        return (x[0], a.out_channels, *(window_out(name, x[2 + i], k[i], s[i], p[i], d[i], axis=f"dim {2 + i}")
                                        for i in range(n)))

    return shape


def _in_channels(a, ins) -> dict:
    return {"in_channels": ins[0][1]}


def _conv_weights(n: int):
    def weights(a, ins):
        kernel = (ins[0][1] // a.groups) * product(ntuple(a.kernel_size, n))
        return a.out_channels * kernel + (a.out_channels if a.bias else 0)

    return weights


def _conv_macs(n: int):
    def macs(a, ins, out):
        return product(out) * (ins[0][1] // a.groups) * product(ntuple(a.kernel_size, n))

    return macs


for _n in (1, 2, 3):
    register(
        name=f"conv{_n}d", family="conv",
        doc=f"{_n}-D convolution (nn.Conv{_n}d); in_channels is taken from the input shape.",
        params=_conv_params(), shape=_conv_shape(_n), layer_only=True,
        weights=_conv_weights(_n), macs=_conv_macs(_n), sizes=_in_channels,
        shape_doc="[N, C, *S] -> [N, out_channels, *S'] with S' = floor((S + 2p - d(k-1) - 1) / s) + 1",
        macs_doc="out elements x C/groups x prod(kernel)",
    )


def _convt_shape(a, ins):
    name = "conv_transpose2d"
    x = ins[0]
    expect_rank(name, x, (4,))
    _check_groups(name, static_dim(name, x[1], "channel dim (dim 1)"), a)
    k, s, p, opad, d = (per_dim(name, a, key, 2)
                      for key in ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    out = []
    for i in range(2):
        if opad[i] >= s[i] and opad[i] >= d[i]:
            raise ShapeRuleError(f"`{name}` output_padding {opad[i]} must be smaller than the stride ({s[i]}) "
                                 f"or the dilation ({d[i]})")
        size = (x[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + opad[i] + 1
        if known_positive(size) is False:
            raise ShapeRuleError(f"`{name}` padding {p[i]} is too large for dim {2 + i} of size {x[2 + i]}: "
                                 f"output size would be {size}")
        out.append(size)
    return (x[0], a.out_channels, *out)


register(
    name="conv_transpose2d", family="conv",
    doc="2-D transposed convolution (nn.ConvTranspose2d); in_channels is taken from the input shape.",
    params=(
        Param("out_channels", "int", min=1, doc="output channels"),
        Param("kernel_size", "ints", min=1, doc="window size, one int or one per spatial dim"),
        Param("stride", "ints", 1, min=1),
        Param("padding", "ints", 0, min=0, doc="removed from both sides of the output"),
        Param("output_padding", "ints", 0, min=0, doc="added to one side of the output; below stride or dilation"),
        Param("groups", "int", 1, min=1),
        Param("bias", "bool", True),
        Param("dilation", "ints", 1, min=1),
    ),
    shape=_convt_shape, layer_only=True, sizes=_in_channels,
    weights=lambda a, ins: (ins[0][1] * (a.out_channels // a.groups) * product(ntuple(a.kernel_size, 2))
                            + (a.out_channels if a.bias else 0)),
    macs=lambda a, ins, out: product(ins[0]) * (a.out_channels // a.groups) * product(ntuple(a.kernel_size, 2)),
    shape_doc="[N, C, H, W] -> [N, out_channels, H', W'] with H' = (H - 1)s - 2p + d(k-1) + output_padding + 1",
    macs_doc="input elements x out_channels/groups x prod(kernel) (as fvcore counts transposed convs)",
)
