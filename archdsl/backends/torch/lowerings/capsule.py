"""Capsule ops: the helper function `squash` and the module `CapsuleTransform`, written into the generated file."""
from __future__ import annotations

from ....ops.capsule import capsule_sizes
from .table import lower

SQUASH = '''
def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Capsule nonlinearity (Sabour et al. 2017): |s|^2 / (1 + |s|^2) * s / |s| along `dim`."""
    n2 = (s * s).sum(dim, keepdim=True)
    return s * (n2 / (1 + n2)) / torch.sqrt(n2 + eps)
'''


def _squash_call(a, ins, args):
    extra = "" if a.dim == -1 and a.eps == 1e-8 else f", {a.dim}" + ("" if a.eps == 1e-8 else f", {a.eps!r}")
    return f"squash({args[0]}{extra})"


lower("squash", call=_squash_call, support=SQUASH)

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


def _caps_init(a, ins):
    in_caps, in_dim = capsule_sizes(a, ins)
    std = "" if a.std == 0.01 else f", std={a.std!r}"
    return f"CapsuleTransform({in_caps}, {in_dim}, {a.out_caps}, {a.out_dim}{std})"


lower("caps_transform", init=_caps_init, support=CAPSULE_TRANSFORM)
