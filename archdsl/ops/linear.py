"""Fully connected layer."""
from __future__ import annotations

from ..dims import product
from ._util import expect_min_rank, static_dim
from .registry import Param, register


def _shape(a, ins):
    x = ins[0]
    expect_min_rank("linear", x, 2)
    static_dim("linear", x[-1], "feature dim (last dim)")
    return (*x[:-1], a.out_features)


register(
    name="linear", family="linear",
    doc="Affine map on the last dim (nn.Linear); in_features is taken from the input shape.",
    params=(Param("out_features", "int", min=1), Param("bias", "bool", True)),
    shape=_shape, layer_only=True, sizes=lambda a, ins: {"in_features": ins[0][-1]},
    weights=lambda a, ins: ins[0][-1] * a.out_features + (a.out_features if a.bias else 0),
    macs=lambda a, ins, out: product(out) * ins[0][-1],
    shape_doc="[*, F] -> [*, out_features]",
    macs_doc="out elements x in_features",
)
