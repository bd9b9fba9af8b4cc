"""MaxViT's relative-position attention: the module RelativePositionAttention with the parameter and buffer names of
torchvision's RelativePositionalMultiHeadAttention; the index buffer is computed in __init__. The attention is
written out (on CPU, F.scaled_dot_product_attention with a float mask takes a path about 1.5x slower here)."""
from __future__ import annotations

from ....ops._util import ntuple
from .table import lower
from .window_attention import RELATIVE_POSITION_INDEX

SUPPORT = RELATIVE_POSITION_INDEX + '''

class RelativePositionAttention(nn.Module):
    """Multi-head self-attention over the Wh Ww positions of a window, x [..., Wh Ww, C], with a
    learned bias per head and relative offset (MaxViT; torchvision's
    RelativePositionalMultiHeadAttention): softmax(q k^T / sqrt(C) + B) v, scaled by the feature
    dim C as torchvision does."""

    def __init__(self, dim: int, head_dim: int, window_size: tuple[int, int]):
        super().__init__()
        (wh, ww), self.num_heads, self.scale = window_size, dim // head_dim, dim**-0.5
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        offsets = (2 * wh - 1) * (2 * ww - 1)
        self.relative_position_bias_table = nn.Parameter(torch.empty(offsets, self.num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each [..., heads, L, C / heads]
        qkv = self.to_qkv(x).unflatten(-1, (3, self.num_heads, -1))
        q, k, v = qkv.movedim(-3, 0).transpose(-2, -3).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1)
        weights = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(-1)
        return self.merge((weights @ v).transpose(-2, -3).flatten(-2))
'''


def _init(a, ins) -> str:
    return f"RelativePositionAttention({ins[0][-1]}, {a.head_dim!r}, {ntuple(a.window_size, 2)!r})"


lower("relative_position_attention", support=SUPPORT, init=_init)
