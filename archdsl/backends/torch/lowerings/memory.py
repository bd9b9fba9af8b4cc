"""Memory ops: helper functions (circular_convolution, sharpen, position_encoding) and the module
LearnedTensor, written into the generated file."""
from __future__ import annotations

from .table import lower

CIRCULAR = '''
def circular_convolution(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Rotate the weighting w by the shift weighting s over the shifts -r..r, wrapping around
    (Graves et al. 2014, eq. 8): out[i] = sum_k s[k] w[i - k]."""
    r = s.shape[-1] // 2
    rolled = torch.stack([torch.roll(w, shift, -1) for shift in range(-r, r + 1)], -1)
    return (rolled * s.unsqueeze(-2)).sum(-1)
'''

lower("circular_conv", call=lambda a, ins, args: f"circular_convolution({args[0]}, {args[1]})", support=CIRCULAR)

SHARPEN = '''
def sharpen(w: torch.Tensor, gamma: torch.Tensor, dim: int = -1,
            eps: float = 1e-12) -> torch.Tensor:
    """w^gamma / sum(w^gamma) along `dim` (Graves et al. 2014, eq. 9); gamma >= 1 focuses."""
    p = (w + eps).pow(gamma)
    return p / p.sum(dim, keepdim=True)
'''

lower("sharpen", call=lambda a, ins, args: f"sharpen({args[0]}, {args[1]}{'' if a.dim == -1 else f', {a.dim}'})",
      support=SHARPEN)

POSITION = '''
def position_encoding(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x * l with l[j, k] = (1 - j/J) - (k/d) (1 - 2j/J), j = 1..J along `dim` (the words of a
    sentence) and k = 1..d along the last dim (the embedding): position encoding of Sukhbaatar
    et al. 2015."""
    J, d = x.shape[dim], x.shape[-1]
    j = torch.arange(1, J + 1, dtype=x.dtype, device=x.device)[:, None] / J
    k = torch.arange(1, d + 1, dtype=x.dtype, device=x.device)[None, :] / d
    l = (1 - j) - k * (1 - 2 * j)
    return x * l.reshape([J] + [1] * (x.dim() - dim % x.dim() - 2) + [d])
'''

lower("position_encode", call=lambda a, ins, args: f"position_encoding({args[0]}, {a.dim})", support=POSITION)

LEARNED = '''
class LearnedTensor(nn.Module):
    """A learned tensor, repeated over the batch (the input's first dim): learned initial states
    and encodings."""

    def __init__(self, *shape, std=0.0):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand([x.shape[0]] + list(self.value.shape))
'''

lower("learned_tensor", support=LEARNED,
      init=lambda a, ins: f"LearnedTensor({', '.join(map(str, a.shape))}{'' if a.std == 0 else f', std={a.std!r}'})")
