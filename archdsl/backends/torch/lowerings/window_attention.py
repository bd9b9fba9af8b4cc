"""Shifted-window attention (Swin): the modules ShiftedWindowAttention and ShiftedWindowAttentionV2, with
torchvision's parameter and buffer names, over one shared forward (WindowAttention) that pads, shifts and cuts
the map into windows and runs attention in each (written out: on CPU, F.scaled_dot_product_attention with a
float mask per window takes its slower math path). The buffers are computed in __init__."""
from __future__ import annotations

from ....ops._util import ntuple
from ....ops.window_attention import CPB_HIDDEN
from ._source import src_args
from .table import lower

# also MaxViT's (lowerings/maxvit_attention.py); a generated file holds each helper once (codegen.py)
RELATIVE_POSITION_INDEX = '''
def relative_position_index(window: tuple[int, int]) -> torch.Tensor:
    """For each pair (i, j) of a window's positions (row-major), the row of their offset (dy, dx)
    in a table of the (2 Wh - 1)(2 Ww - 1) offsets: [Wh Ww, Wh Ww]."""
    rows, cols = (t.flatten() for t in torch.meshgrid(*map(torch.arange, window), indexing="ij"))
    dy = rows[:, None] - rows[None, :] + window[0] - 1
    dx = cols[:, None] - cols[None, :] + window[1] - 1
    return dy * (2 * window[1] - 1) + dx
'''

WINDOWS = RELATIVE_POSITION_INDEX + '''

def shift_mask(size: tuple[int, int], window: tuple[int, int], shift: tuple[int, int],
               dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """-100 between two positions of a window of the rolled map where one came around the border in
    the roll (in the last s rows or columns) and the other did not, 0 elsewhere:
    [windows, 1, Wh Ww, Wh Ww]."""
    rows = torch.arange(size[0], device=device) >= size[0] - shift[0]
    cols = torch.arange(size[1], device=device) >= size[1] - shift[1]
    region = 2 * rows.long()[:, None] + cols.long()[None, :]
    region = region.view(size[0] // window[0], window[0], size[1] // window[1], window[1])
    region = region.transpose(1, 2).reshape(-1, 1, window[0] * window[1])
    return torch.where(region.transpose(1, 2) != region, -100.0, 0.0).to(dtype).unsqueeze(1)


class WindowAttention(nn.Module):
    """Multi-head self-attention within the windows of x [N, H, W, C], H and W padded at the end to
    multiples of the window, the map rolled by -shift_size first and back after (Liu et al. 2021,
    Section 3.2); the subclasses give the projection to queries, keys and values, how queries and
    keys are scaled, and the position bias added to the scores."""

    def __init__(self, dim, window_size, num_heads, shift_size=(0, 0), attention_dropout=0.0,
                 dropout=0.0):
        super().__init__()
        self.window_size, self.shift_size = tuple(window_size), tuple(shift_size)
        self.num_heads, self.attention_dropout, self.dropout = num_heads, attention_dropout, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def lookup(self, table: torch.Tensor) -> torch.Tensor:
        """The per-head bias of each pair of a window's positions, from a table of offsets:
        [heads, L, L]."""
        area = self.window_size[0] * self.window_size[1]
        bias = table[self.relative_position_index].view(area, area, -1)
        return bias.permute(2, 0, 1).contiguous()  # added to every window's scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        (wh, ww), (sh, sw) = self.window_size, self.shift_size
        x = F.pad(x, (0, 0, 0, -w % ww, 0, -h % wh))
        ph, pw = x.shape[1], x.shape[2]
        # no shift along an axis that one window covers
        shift = (sh if ph > wh else 0, sw if pw > ww else 0)
        shifted = shift[0] or shift[1]
        if shifted:  # a roll by 0 would still copy the map
            x = torch.roll(x, (-shift[0], -shift[1]), dims=(1, 2))
        windows = x.view(n, ph // wh, wh, pw // ww, ww, c).transpose(2, 3)
        windows = windows.reshape(n, -1, wh * ww, c)
        # each [N, windows, heads, Wh Ww, C / heads]
        qkv = self.project(windows).unflatten(-1, (3, self.num_heads, -1))
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)
        q, k = self.scaled(q, k)
        scores = q @ k.transpose(-2, -1) + self.position_bias()
        if shifted:
            scores = scores + shift_mask((ph, pw), self.window_size, shift, scores.dtype, x.device)
        weights = F.dropout(scores.softmax(-1), self.attention_dropout, self.training)
        y = (weights @ v).transpose(2, 3).flatten(-2)
        y = F.dropout(self.proj(y), self.dropout, self.training)
        y = y.view(n, ph // wh, pw // ww, wh, ww, c).transpose(2, 3).reshape(n, ph, pw, c)
        if shifted:
            y = torch.roll(y, shift, dims=(1, 2))
        return y[:, :h, :w]
'''

V1 = '''
class ShiftedWindowAttention(WindowAttention):
    """Swin's window attention (torchvision's ShiftedWindowAttention):
    softmax(q k^T / sqrt(d) + B) v, B from a learned table of the relative offsets."""

    def __init__(self, dim, window_size, num_heads, shift_size=(0, 0), attention_dropout=0.0,
                 dropout=0.0):
        super().__init__(dim, window_size, num_heads, shift_size, attention_dropout, dropout)
        offsets = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(offsets, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        index = relative_position_index(self.window_size)
        self.register_buffer("relative_position_index", index.flatten())

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.qkv(x)

    def scaled(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return q * q.shape[-1] ** -0.5, k

    def position_bias(self) -> torch.Tensor:
        return self.lookup(self.relative_position_bias_table)
'''

V2 = f'''
def log_spaced_offsets(window: tuple[int, int]) -> torch.Tensor:
    """Swin V2's coordinates of the relative offsets: each axis scaled to [-8, 8] (by
    8 / (window - 1)), then sign(t) log2(1 + |t|) / 3: [1, 2 Wh - 1, 2 Ww - 1, 2]."""
    axes = [torch.arange(1 - k, k, dtype=torch.float32) / (k - 1) * 8 for k in window]
    t = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).unsqueeze(0)
    return torch.sign(t) * torch.log2(t.abs() + 1.0) / 3.0


class ShiftedWindowAttentionV2(WindowAttention):
    """Swin V2's window attention (torchvision's ShiftedWindowAttentionV2):
    softmax(cos(q, k) * tau + B) v, tau = exp(logit_scale) at most 100 per head,
    B = 16 sigmoid(cpb_mlp(log-spaced offsets)); the keys' part of the qkv bias is zero."""

    def __init__(self, dim, window_size, num_heads, shift_size=(0, 0), attention_dropout=0.0,
                 dropout=0.0):
        super().__init__(dim, window_size, num_heads, shift_size, attention_dropout, dropout)
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), 10.0).log())
        self.register_buffer("relative_coords_table", log_spaced_offsets(self.window_size))
        index = relative_position_index(self.window_size)
        self.register_buffer("relative_position_index", index.flatten())
        self.cpb_mlp = nn.Sequential(nn.Linear(2, {CPB_HIDDEN}), nn.ReLU(inplace=True),
                                     nn.Linear({CPB_HIDDEN}, num_heads, bias=False))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        q_bias, _, v_bias = self.qkv.bias.chunk(3)
        return F.linear(x, self.qkv.weight, torch.cat([q_bias, torch.zeros_like(q_bias), v_bias]))

    def scaled(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit queries and keys (cosine attention), the queries times tau = exp(logit_scale),
        at most 100."""
        tau = self.logit_scale.exp().clamp(max=100.0)
        return F.normalize(q, dim=-1) * tau, F.normalize(k, dim=-1)

    def position_bias(self) -> torch.Tensor:
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        return 16 * torch.sigmoid(self.lookup(table))
'''

_KW = {"shift_size": (0, 0), "attention_dropout": 0.0, "dropout": 0.0}


def _init(cls: str):
    def init(a, ins):
        attrs = {**a, "window_size": ntuple(a.window_size, 2), "shift_size": ntuple(a.shift_size, 2)}
        return f"{cls}({src_args(attrs, ('window_size', 'num_heads'), _KW, first=(ins[0][3],))})"
    return init


lower("shifted_window_attention", support=WINDOWS + V1, init=_init("ShiftedWindowAttention"))
lower("shifted_window_attention_v2", support=WINDOWS + V2, init=_init("ShiftedWindowAttentionV2"))
