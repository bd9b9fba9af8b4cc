"""Normalization layers."""
from __future__ import annotations

from ..dims import product
from ._util import expect_min_rank, expect_rank, src_args, static_dim
from .registry import Param, register

_BN_KW = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}


def _bn_shape(name: str, ranks):
    def shape(a, ins):
        expect_rank(name, ins[0], ranks)
        static_dim(name, ins[0][1], "channel dim (dim 1)")
        return ins[0]

    return shape


for _n, _ranks, _layout in ((1, (2, 3), "[N, C] or [N, C, L]"), (2, (4,), "[N, C, H, W]")):
    register(
        name=f"batchnorm{_n}d", family="norm",
        doc=f"Batch normalization over the channel dim of {_layout} (nn.BatchNorm{_n}d).",
        params=(Param("eps", "float", 1e-5, min=0), Param("momentum", "float", 0.1, min=0),
                Param("affine", "bool", True, doc="learnable scale and shift"),
                Param("track_running_stats", "bool", True)),
        shape=_bn_shape(f"batchnorm{_n}d", _ranks),
        init=lambda a, ins, n=_n: f"nn.BatchNorm{n}d({src_args(a, (), _BN_KW, first=(ins[0][1],))})",
        weights=lambda a, ins: 2 * ins[0][1] if a.affine else 0,
        shape_doc="shape unchanged",
    )


def _ln_normalized(a, ins) -> tuple:
    x = ins[0]
    expect_min_rank("layernorm", x, a.ndim)
    return tuple(static_dim("layernorm", d, "normalized dim") for d in x[len(x) - a.ndim:])


def _ln_shape(a, ins):
    _ln_normalized(a, ins)
    return ins[0]


def _ln_init(a, ins):
    dims = _ln_normalized(a, ins)
    shape = dims[0] if len(dims) == 1 else dims
    return f"nn.LayerNorm({src_args(a, (), {'eps': 1e-5, 'elementwise_affine': True}, first=(shape,))})"


register(
    name="layernorm", family="norm",
    doc="Layer normalization over the last `ndim` dims (nn.LayerNorm); normalized_shape is taken from the input.",
    params=(Param("ndim", "int", 1, min=1, doc="number of trailing dims normalized"),
            Param("eps", "float", 1e-5, min=0), Param("elementwise_affine", "bool", True)),
    shape=_ln_shape,
    init=_ln_init,
    weights=lambda a, ins: 2 * product(_ln_normalized(a, ins)) if a.elementwise_affine else 0,
    shape_doc="shape unchanged",
)


def _lrn_shape(a, ins):
    expect_min_rank("local_response_norm", ins[0], 3)
    return ins[0]


_LRN_KW = {"alpha": 1e-4, "beta": 0.75, "k": 1.0}

register(
    name="local_response_norm", family="norm",
    doc="Local response normalization across channels (nn.LocalResponseNorm).",
    params=(Param("size", "int", min=1, doc="number of neighbouring channels"), Param("alpha", "float", 1e-4),
            Param("beta", "float", 0.75), Param("k", "float", 1.0)),
    shape=_lrn_shape,
    init=lambda a, ins: f"nn.LocalResponseNorm({src_args(a, ('size',), _LRN_KW)})",
    call=lambda a, ins, args: f"F.local_response_norm({src_args(a, ('size',), _LRN_KW, args[:1])})",
    shape_doc="shape unchanged",
)
