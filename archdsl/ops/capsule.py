"""Capsule ops (Sabour, Frosst, Hinton 2017): the squash nonlinearity and the per-capsule transforms W_ij u_i.

Routing by agreement itself is written in the spec with `loop`, softmax, einsum and squash (specs/capsnet.yaml).
"""
from __future__ import annotations

from ..dims import product
from ._util import expect_min_rank, norm_dim, static_dim
from .registry import Param, register


def _squash_shape(a, ins):
    norm_dim("squash", a.dim, ins[0])
    return ins[0]


register(
    name="squash", family="activation",
    doc="Capsule squash |s|^2 / (1 + |s|^2) * s / |s| along `dim`: short vectors shrink to almost zero length, "
        "long ones to just below 1 (Sabour et al. 2017, eq. 1).",
    params=(Param("dim", "int", -1), Param("eps", "float", 1e-8, min=0)),
    shape=_squash_shape, inline_only=True,
    shape_doc="shape unchanged",
)


def capsule_sizes(a, ins) -> tuple[int, int]:
    """(in_caps, in_dim) of a caps_transform's input [*, in_caps, in_dim]."""
    x = ins[0]
    expect_min_rank("caps_transform", x, 2)
    return (static_dim("caps_transform", x[-2], "number of input capsules (dim -2)"),
            static_dim("caps_transform", x[-1], "input capsule size (last dim)"))


def _caps_shape(a, ins):
    capsule_sizes(a, ins)
    return (*ins[0][:-1], a.out_caps, a.out_dim)


register(
    name="caps_transform", family="linear",
    doc="Per-capsule linear maps u_hat[j|i] = W_ij u_i: one out_dim x in_dim matrix for every pair of input "
        "capsule i and output capsule j (Sabour et al. 2017); weight [in_caps, out_caps, out_dim, in_dim].",
    params=(Param("out_caps", "int", min=1), Param("out_dim", "int", min=1),
            Param("std", "float", 0.01, min=0, doc="standard deviation of the initial weights")),
    shape=_caps_shape, layer_only=True,
    sizes=lambda a, ins: dict(zip(("in_caps", "in_dim"), capsule_sizes(a, ins))),
    weights=lambda a, ins: product(capsule_sizes(a, ins)) * a.out_caps * a.out_dim,
    macs=lambda a, ins, out: product(out) * ins[0][-1],
    shape_doc="[*, in_caps, in_dim] -> [*, in_caps, out_caps, out_dim]",
    macs_doc="out elements x in_dim",
)
