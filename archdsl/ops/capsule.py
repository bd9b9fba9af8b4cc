"""Capsule ops (Sabour, Frosst, Hinton 2017): the squash nonlinearity and the per-capsule transforms W_ij u_i.

Routing by agreement itself is written in the spec with `loop`, softmax, einsum and squash (specs/capsnet.yaml).
"""
from __future__ import annotations

from ..dims import product
from ._util import expect_min_rank, norm_dim, static_dim
from .registry import Param, register

SQUASH = '''
def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Capsule nonlinearity (Sabour et al. 2017): |s|^2 / (1 + |s|^2) * s / |s| along `dim`."""
    n2 = (s * s).sum(dim, keepdim=True)
    return s * (n2 / (1 + n2)) / torch.sqrt(n2 + eps)
'''


def _squash_shape(a, ins):
    norm_dim("squash", a.dim, ins[0])
    return ins[0]


def _squash_call(a, ins, args):
    extra = "" if a.dim == -1 and a.eps == 1e-8 else f", {a.dim}" + ("" if a.eps == 1e-8 else f", {a.eps!r}")
    return f"squash({args[0]}{extra})"


register(
    name="squash", family="activation",
    doc="Capsule squash |s|^2 / (1 + |s|^2) * s / |s| along `dim`: short vectors shrink to almost zero length, "
        "long ones to just below 1 (Sabour et al. 2017, eq. 1).",
    params=(Param("dim", "int", -1), Param("eps", "float", 1e-8, min=0)),
    shape=_squash_shape, call=_squash_call, support=SQUASH,
    shape_doc="shape unchanged",
)

CAPSULE_TRANSFORM = '''
class CapsuleTransform(nn.Module):
    """Prediction vectors u_hat[j|i] = W_ij u_i for every input capsule i and output capsule j
    (Sabour et al. 2017).

    weight [in_caps, out_caps, out_dim, in_dim];
    input [*, in_caps, in_dim] -> [*, in_caps, out_caps, out_dim].
    """

    def __init__(self, in_caps, in_dim, out_caps, out_dim, std=0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_caps, out_caps, out_dim, in_dim) * std)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return torch.einsum("iodk,...ik->...iod", self.weight, u)
'''


def _caps_sizes(a, ins) -> tuple[int, int]:
    x = ins[0]
    expect_min_rank("caps_transform", x, 2)
    return (static_dim("caps_transform", x[-2], "number of input capsules (dim -2)"),
            static_dim("caps_transform", x[-1], "input capsule size (last dim)"))


def _caps_shape(a, ins):
    _caps_sizes(a, ins)
    return (*ins[0][:-1], a.out_caps, a.out_dim)


def _caps_init(a, ins):
    in_caps, in_dim = _caps_sizes(a, ins)
    std = "" if a.std == 0.01 else f", std={a.std!r}"
    return f"CapsuleTransform({in_caps}, {in_dim}, {a.out_caps}, {a.out_dim}{std})"


register(
    name="caps_transform", family="linear",
    doc="Per-capsule linear maps u_hat[j|i] = W_ij u_i: one out_dim x in_dim matrix for every pair of input "
        "capsule i and output capsule j (Sabour et al. 2017); weight [in_caps, out_caps, out_dim, in_dim].",
    params=(Param("out_caps", "int", min=1), Param("out_dim", "int", min=1),
            Param("std", "float", 0.01, min=0, doc="standard deviation of the initial weights")),
    shape=_caps_shape, init=_caps_init, support=CAPSULE_TRANSFORM,
    weights=lambda a, ins: product(_caps_sizes(a, ins)) * a.out_caps * a.out_dim,
    macs=lambda a, ins, out: product(out) * ins[0][-1],
    shape_doc="[*, in_caps, in_dim] -> [*, in_caps, out_caps, out_dim]",
    macs_doc="out elements x in_dim",
)
