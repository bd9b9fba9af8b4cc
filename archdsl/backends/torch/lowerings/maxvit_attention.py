"""MaxViT's relative-position attention: the module RelativePositionAttention with the parameter and buffer names of
torchvision's RelativePositionalMultiHeadAttention; the index buffer is computed in __init__. The attention is
written out (on CPU, F.scaled_dot_product_attention with a float mask takes a path about 1.5x slower here)."""
from __future__ import annotations

from ....ops._util import ntuple
from .table import lower

SUPPORT = '''
class RelativePositionAttention(nn.Module):
    """Multi-head self-attention over the Wh Ww positions of a window, x [..., Wh Ww, C], with a
    learned bias per head and relative offset (MaxViT; torchvision's
    RelativePositionalMultiHeadAttention): softmax(q k^T / sqrt(C) + B) v, scaled by the feature dim
    C as torchvision does."""

    def __init__(self, dim: int, head_dim: int, window_size: tuple[int, int]):
        super().__init__()
        (wh, ww), self.num_heads, self.scale = window_size, dim // head_dim, dim**-0.5
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * wh - 1) * (2 * ww - 1), self.num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # for each pair (i, j) of the window's positions, the table's row of their offset (dy, dx):
        # [L, L]
        rows, cols = (t.flatten() for t in torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))
        dy, dx = rows[:, None] - rows[None, :] + wh - 1, cols[:, None] - cols[None, :] + ww - 1
        self.register_buffer("relative_position_index", dy * (2 * ww - 1) + dx)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each [..., heads, L, C / heads]
        q, k, v = self.to_qkv(x).unflatten(-1, (3, self.num_heads, -1)).movedim(-3, 0).transpose(-2, -3).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1)
        weights = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(-1)
        return self.merge((weights @ v).transpose(-2, -3).flatten(-2))
'''


def _init(a, ins) -> str:
    return f"RelativePositionAttention({ins[0][-1]}, {a.head_dim!r}, {ntuple(a.window_size, 2)!r})"


lower("relative_position_attention", support=SUPPORT, init=_init)
