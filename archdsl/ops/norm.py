"""Normalization layers."""
from __future__ import annotations

from ..dims import product
from ._util import expect_min_rank, expect_rank, static_dim
from .registry import Param, register


def _bn_shape(name: str, ranks):
    def shape(a, ins):
        expect_rank(name, ins[0], ranks)
        static_dim(name, ins[0][1], "channel dim (dim 1)")
        return ins[0]

    return shape


for _n, _ranks, _layout in ((1, (2, 3), "[N, C] or [N, C, L]"), (2, (4,), "[N, C, H, W]"),
                            (3, (5,), "[N, C, D, H, W]")):
    register(
        name=f"batchnorm{_n}d", family="norm",
        doc=f"Batch normalization over the channel dim of {_layout} (nn.BatchNorm{_n}d).",
        params=(Param("eps", "float", 1e-5, min=0), Param("momentum", "float", 0.1, min=0),
                Param("affine", "bool", True, doc="learnable scale and shift"),
                Param("track_running_stats", "bool", True)),
        shape=_bn_shape(f"batchnorm{_n}d", _ranks), layer_only=True,
        training_dependent=lambda a: a.track_running_stats,  # batch statistics in training, running ones in eval
        sizes=lambda a, ins: {"num_features": ins[0][1]},
        weights=lambda a, ins: 2 * ins[0][1] if a.affine else 0,
        shape_doc="shape unchanged",
    )


def normalized_shape(a, ins) -> tuple:
    """The trailing dims a layernorm normalizes over."""
    x = ins[0]
    expect_min_rank("layernorm", x, a.ndim)
    return tuple(static_dim("layernorm", d, "normalized dim") for d in x[len(x) - a.ndim:])


def _ln_shape(a, ins):
    normalized_shape(a, ins)
    return ins[0]


register(
    name="layernorm", family="norm",
    doc="Layer normalization over the last `ndim` dims (nn.LayerNorm); normalized_shape is taken from the input.",
    params=(Param("ndim", "int", 1, min=1, doc="number of trailing dims normalized"),
            Param("eps", "float", 1e-5, min=0), Param("elementwise_affine", "bool", True)),
    shape=_ln_shape, layer_only=True, sizes=lambda a, ins: {"normalized_shape": normalized_shape(a, ins)},
    weights=lambda a, ins: 2 * product(normalized_shape(a, ins)) if a.elementwise_affine else 0,
    shape_doc="shape unchanged",
)


def _ln2d_channels(a, ins) -> int:
    expect_rank("layernorm2d", ins[0], (4,))
    return static_dim("layernorm2d", ins[0][1], "channel dim (dim 1)")


def _ln2d_shape(a, ins):
    _ln2d_channels(a, ins)
    return ins[0]


register(
    name="layernorm2d", family="norm",
    doc="Layer normalization over the channel dim of [N, C, H, W] at each position (ConvNeXt's LayerNorm2d: "
        "nn.LayerNorm(C) on the NHWC permutation); weight and bias have shape [C].",
    params=(Param("eps", "float", 1e-5, min=0), Param("elementwise_affine", "bool", True)),
    shape=_ln2d_shape, layer_only=True,
    sizes=lambda a, ins: {"normalized_shape": _ln2d_channels(a, ins)},
    weights=lambda a, ins: 2 * _ln2d_channels(a, ins) if a.elementwise_affine else 0,
    shape_doc="[N, C, H, W] unchanged",
)


def _lrn_shape(a, ins):
    expect_min_rank("local_response_norm", ins[0], 3)
    return ins[0]


register(
    name="local_response_norm", family="norm",
    doc="Local response normalization across channels (nn.LocalResponseNorm).",
    params=(Param("size", "int", min=1, doc="number of neighbouring channels"), Param("alpha", "float", 1e-4),
            Param("beta", "float", 0.75), Param("k", "float", 1.0)),
    shape=_lrn_shape,
    shape_doc="shape unchanged",
)
