"""Convolutions."""
from __future__ import annotations

from ..dims import product
from ..errors import ShapeRuleError
from ._util import expect_rank, ntuple, static_dim, window_out
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


def _conv_shape(n: int):
    name = f"conv{n}d"

    def shape(a, ins):
        x = ins[0]
        expect_rank(name, x, (n + 2,))
        cin = static_dim(name, x[1], "channel dim (dim 1)")
        if cin % a.groups or a.out_channels % a.groups:
            raise ShapeRuleError(f"`{name}` groups={a.groups} must divide both the input channels ({cin}) "
                                 f"and out_channels ({a.out_channels})")
        k, s, d = ntuple(a.kernel_size, n), ntuple(a.stride, n), ntuple(a.dilation, n)
        if a.padding == "same":
            if any(v != 1 for v in s):
                raise ShapeRuleError(f"`{name}` padding='same' needs stride 1 in PyTorch, got stride {a.stride}",
                                     hint="give the padding as a number: (kernel_size - 1) // 2 for odd kernels")
            return (x[0], a.out_channels, *x[2:])
        p = (0,) * n if a.padding == "valid" else ntuple(a.padding, n)
        return (x[0], a.out_channels, *(window_out(name, x[2 + i], k[i], s[i], p[i], d[i]) for i in range(n)))

    return shape


def _conv_init(n: int):
    def init(a, ins):
        args = [str(ins[0][1]), str(a.out_channels), repr(a.kernel_size)]
        for key, default in (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True)):
            if a[key] != default:
                args.append(f"{key}={a[key]!r}")
        return f"nn.Conv{n}d({', '.join(args)})"

    return init


def _conv_weights(n: int):
    def weights(a, ins):
        cin = ins[0][1]
        return a.out_channels * (cin // a.groups) * product(ntuple(a.kernel_size, n)) + (a.out_channels if a.bias else 0)

    return weights


def _conv_macs(n: int):
    def macs(a, ins, out):
        return product(out) * (ins[0][1] // a.groups) * product(ntuple(a.kernel_size, n))

    return macs


for _n in (1, 2):
    register(
        name=f"conv{_n}d", family="conv",
        doc=f"{_n}-D convolution (nn.Conv{_n}d); in_channels is taken from the input shape.",
        params=_conv_params(), shape=_conv_shape(_n), init=_conv_init(_n),
        weights=_conv_weights(_n), macs=_conv_macs(_n),
        shape_doc="[N, C, *S] -> [N, out_channels, *S'] with S' = floor((S + 2p - d(k-1) - 1) / s) + 1",
        macs_doc="out elements x C/groups x prod(kernel)",
    )
