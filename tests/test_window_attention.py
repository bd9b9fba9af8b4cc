"""Swin's shifted-window attention (shifted_window_attention and _v2) against a reference written here from the
papers' equations, computed another way: attention over the whole padded, rolled map in which a position sees
only the positions of its own window (other scores -inf), with the bias of each pair taken from its offset
(dy, dx) directly and -100 between positions that the cyclic shift brought from opposite borders.

Liu et al. 2021 (Swin), Eq. 4 and Section 3.2; Liu et al. 2022 (Swin V2), Eq. 2 and 4 (cosine attention,
log-spaced continuous position bias); where torchvision fixes details the papers leave open (zero padding at
the end, -100 as the shift mask, no shift where a window covers the padded map, the key bias zero in V2,
16 sigmoid of the bias, the logit scale at most 100), the reference follows torchvision's swin_transformer.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from archdsl import dims, testing
from archdsl.backends.torch.lowerings import lowering
from archdsl.errors import Span
from archdsl.ops import REGISTRY, bind

OPS = ("shifted_window_attention", "shifted_window_attention_v2")


def build(op: str, c: int, **kw) -> torch.nn.Module:
    """The op's layer as the lowering writes it, for channels c."""
    attrs = bind(REGISTRY.get(op), [], {k: (v, Span("t", 1, 1)) for k, v in kw.items()}, Span("t", 1, 1))
    low = lowering(REGISTRY.get(op))
    scope = {"torch": torch, "nn": torch.nn, "F": F}
    exec(low.support, scope)
    return eval(low.init(attrs, [(1, 1, 1, c)]), scope).eval()


def log_spaced(delta: torch.Tensor, k: int) -> torch.Tensor:
    """Swin V2's Eq. 4 with torchvision's normalization: the offset scaled to [-8, 8] by 8 / (k - 1), then
    sign(t) log2(1 + |t|) / log2(8)."""
    t = delta / (k - 1) * 8
    return torch.sign(t) * torch.log2(1 + t.abs()) / math.log2(8)


def reference(x, layer, window, shift, heads, v2):
    n, h, w, c = x.shape
    (wh, ww), d = window, c // heads
    ph, pw = math.ceil(h / wh) * wh, math.ceil(w / ww) * ww
    shift = (shift[0] if ph > wh else 0, shift[1] if pw > ww else 0)
    padded = torch.zeros(n, ph, pw, c)
    padded[:, :h, :w] = x
    tokens = torch.roll(padded, (-shift[0], -shift[1]), (1, 2)).reshape(n, ph * pw, c)
    row, col = torch.arange(ph).repeat_interleave(pw), torch.arange(pw).repeat(ph)
    same = (row[:, None] // wh == row[None] // wh) & (col[:, None] // ww == col[None] // ww)
    # the offset of each pair within a window (any pair's lies in the table; pairs of two windows get -inf)
    dy, dx = row[:, None] % wh - row[None] % wh, col[:, None] % ww - col[None] % ww
    # positions that came around the border in the roll, along each shifted axis
    wrapped_row = row >= ph - shift[0] if shift[0] else torch.zeros_like(row, dtype=torch.bool)
    wrapped_col = col >= pw - shift[1] if shift[1] else torch.zeros_like(col, dtype=torch.bool)
    apart = (wrapped_row[:, None] != wrapped_row[None]) | (wrapped_col[:, None] != wrapped_col[None])

    weight, bias = layer.qkv.weight, layer.qkv.bias.clone()
    if v2:
        bias[c:2 * c] = 0
    q, k, v = (tokens @ weight.T + bias).view(n, ph * pw, 3, heads, d).permute(2, 0, 3, 1, 4)
    if v2:
        scores = F.cosine_similarity(q[..., :, None, :], k[..., None, :, :], dim=-1)
        scores = scores * torch.minimum(layer.logit_scale.exp(), torch.tensor(100.0))
        coords = torch.stack([log_spaced(dy.float(), wh), log_spaced(dx.float(), ww)], -1)
        mlp = layer.cpb_mlp
        table = torch.relu(coords @ mlp[0].weight.T + mlp[0].bias) @ mlp[2].weight.T
        pair_bias = 16 * torch.sigmoid(table).permute(2, 0, 1)
    else:
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        offsets = (dy + wh - 1) * (2 * ww - 1) + dx + ww - 1
        pair_bias = layer.relative_position_bias_table[offsets].permute(2, 0, 1)
    scores = scores + pair_bias - 100.0 * apart
    scores = scores.masked_fill(~same, float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, ph * pw, c)
    out = (out @ layer.proj.weight.T + layer.proj.bias).view(n, ph, pw, c)
    return torch.roll(out, shift, (1, 2))[:, :h, :w]


CASES = [  # window, shift, (H, W): multiples of the window, padding, a window larger than the map, one axis
    ((4, 4), (2, 2), (8, 8)), ((4, 4), (2, 2), (7, 10)), ((3, 5), (1, 2), (8, 11)), ((4, 4), (0, 0), (6, 9)),
    ((4, 4), (2, 2), (3, 9)), ((7, 7), (3, 3), (7, 7)), ((2, 3), (1, 2), (5, 4)),
]


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
@pytest.mark.parametrize("window, shift, size", CASES)
def test_window_attention_equals_the_papers_equations(window, shift, size, v2):
    torch.manual_seed(0)
    heads, c = 2, 8
    layer = build(OPS[v2], c, window_size=window, num_heads=heads, shift_size=shift)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * 0.5)  # random weights, the key bias included (V2 must ignore it)
        if v2:
            layer.logit_scale[0] = 6.0  # exp(6) = 403: above the clamp at 100
        else:
            layer.qkv.weight.mul_(6)  # scores in the hundreds: -100 between regions does not vanish in softmax
        x = torch.randn(2, *size, c)
        want = reference(x, layer, window, shift, heads, v2)
        torch.testing.assert_close(layer(x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("window", [(2, 2), (7, 7), (8, 8), (3, 5)])
def test_v2_coordinates_buffer_is_the_log_spaced_offsets(window):
    """relative_coords_table (which fingerprint.py overwrites, so the model must read it) holds Eq. 4's
    coordinates of every offset at init."""
    layer = build(OPS[1], 4, window_size=window, num_heads=2)
    dy, dx = torch.meshgrid(*(torch.arange(1 - k, k, dtype=torch.float32) for k in window), indexing="ij")
    want = torch.stack([log_spaced(dy, window[0]), log_spaced(dx, window[1])], -1)[None]
    torch.testing.assert_close(layer.relative_coords_table, want)
    assert layer.relative_position_index.dtype == torch.int64


def test_v2_reads_its_coordinates_buffer():
    layer = build(OPS[1], 4, window_size=3, num_heads=2)
    x = torch.randn(1, 5, 5, 4)
    with torch.no_grad():
        before = layer(x)
        layer.relative_coords_table.mul_(2)
        assert not torch.allclose(layer(x), before)


SPEC = """\
name: windows
inputs:
  x: [N, H, W, 12]
layers:
  attn: {op}(4, 3, 2)
forward: |
  attn(x)
"""


@pytest.mark.parametrize("op", OPS)
def test_symbolic_sizes_shape_and_macs(op):
    """H and W stay symbolic (any size: the op pads); the MACs, with H and W padded up to the window, agree with
    the formula at every size, and with the count of the model that runs (torch's FlopCounterMode)."""
    spec = testing.from_text(SPEC.format(op=op))
    node = spec.graph.node(spec.graph.outputs[spec.name].node)
    assert [str(d) for d in node.meta.shape] == ["N", "H", "W", "12"]
    macs = spec.summary().macs
    net = spec.build().eval()
    for n, h, w in [(1, 4, 4), (2, 5, 9), (1, 3, 13)]:
        positions = n * math.ceil(h / 4) * 4 * math.ceil(w / 4) * 4
        want = positions * (4 * 12 * 12 + 2 * 16 * 12)  # qkv 3C^2 + proj C^2, scores and sum 2 (Wh Ww) C
        if op.endswith("v2"):
            want += 7 * 7 * 512 * (2 + 3)  # cpb_mlp over the (2 Wh - 1)^2 offsets: 2 -> 512 -> 3 heads
        assert dims.substitute(macs, {"N": n, "H": h, "W": w}) == want
        with FlopCounterMode(display=False) as flops:
            assert net(torch.randn(n, h, w, 12)).shape == (n, h, w, 12)
        assert flops.get_total_flops() == 2 * want
