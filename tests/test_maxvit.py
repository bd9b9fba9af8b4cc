"""MaxViT (specs/maxvit.yaml and the op relative_position_attention) against references written here from the
paper's equations (Tu et al. 2022, Section 3.2 and Figure 2) and torch's functions, computed another way:

- the attention head by head, the bias of each pair of positions looked up from their offset (dy, dx) directly;
- the whole model of a small configuration, its weights read from the built module's state_dict: the block and
  grid partitions cut out by slicing (a window is a P x P block of the map, a grid group the positions H / P
  apart), the convolutions and norms by torch.nn.functional.

maxvit_t itself is compared with torchvision's fingerprint in tests/specs/test_zoo_parity.py (its 30.9M
parameters put it in the slow profile); the small configuration runs the same spec in the default profile.
Where torchvision fixes details the paper leaves open (the scores scaled by 1 / sqrt(C) with C the feature dim,
the pre-norm batch norm of MBConv, the shortcut's 3x3 average pool, Linear-Tanh-Linear in the head), the
references follow torchvision's models/maxvit.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import archdsl
from archdsl.backends.torch.lowerings import lowering
from archdsl.errors import Span
from archdsl.ops import REGISTRY, bind

SPEC = "specs/maxvit.yaml"
OP = "relative_position_attention"


def build_op(c: int, **kw) -> torch.nn.Module:
    """The op's layer as the lowering writes it, for c features."""
    op = REGISTRY.get(OP)
    attrs = bind(op, [], {k: (v, Span("t", 1, 1)) for k, v in kw.items()}, Span("t", 1, 1))
    scope = {"torch": torch, "nn": torch.nn, "F": F}
    exec(lowering(op).support, scope)
    return eval(lowering(op).init(attrs, [(1, 1, c)]), scope).eval()


def pair_offsets(wh: int, ww: int) -> torch.Tensor:
    """The table row of each pair (i, j) of a window's row-major positions: its offset (dy, dx), each shifted to
    start at 0, in a (2 Wh - 1) x (2 Ww - 1) table; written with loops, pair by pair."""
    cells = [(y, x) for y in range(wh) for x in range(ww)]
    return torch.tensor([[(yi - yj + wh - 1) * (2 * ww - 1) + (xi - xj + ww - 1) for yj, xj in cells]
                         for yi, xi in cells])


def attention(x, weights: dict, head_dim: int, window: tuple[int, int]) -> torch.Tensor:
    """Multi-head self-attention over dim -2 of x [..., Wh Ww, C], head by head: softmax(q k^T / sqrt(C) + B) v
    with B from the bias table at each pair's offset, the heads concatenated and merged."""
    c = x.shape[-1]
    qkv = x @ weights["to_qkv.weight"].T + weights["to_qkv.bias"]
    table = weights["relative_position_bias_table"][pair_offsets(*window)]  # [L, L, heads]
    heads = []
    for h in range(c // head_dim):
        q, k, v = (qkv[..., part * c + h * head_dim:part * c + (h + 1) * head_dim] for part in range(3))
        scores = q @ k.transpose(-1, -2) / math.sqrt(c) + table[..., h]
        heads.append(scores.softmax(-1) @ v)
    return torch.cat(heads, -1) @ weights["merge.weight"].T + weights["merge.bias"]


@pytest.mark.parametrize("window, head_dim, c, lead", [
    ((7, 7), 32, 64, (2, 3)), ((2, 3), 4, 12, (2,)),  # first: maxvit_t's first stage (2 heads of 32) ((3, 3), 2, 2, ()), ((1, 4), 3, 9, (1, 2, 2)),
])
def test_attention_equals_the_papers_equation(window, head_dim, c, lead):
    torch.manual_seed(0)
    layer = build_op(c, head_dim=head_dim, window_size=window).double()  # float64: scores in the tens
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p))  # a table far from zero: the bias matters
        x = torch.randn(*lead, window[0] * window[1], c, dtype=torch.float64)
        want = attention(x, dict(layer.state_dict()), head_dim, window)
        torch.testing.assert_close(layer(x), want)


@pytest.mark.parametrize("window", [(7, 7), (2, 3), (1, 1)])
def test_index_buffer_is_each_pairs_offset(window):
    """relative_position_index (an int buffer, left alone by fingerprint.py) is [L, L] and holds each pair's row
    of the table; every row of the table is used."""
    index = build_op(4, head_dim=2, window_size=window).relative_position_index
    assert index.dtype == torch.int64
    assert torch.equal(index, pair_offsets(*window))
    assert index.unique().numel() == (2 * window[0] - 1) * (2 * window[1] - 1)


# --- a small MaxViT through the spec, against the whole model written with torch's functions ----------------------

# stem 24 -> 12; stage 0 (2 layers) 12 -> 6, partitions of 3: 2 x 2 windows, a grid 2 apart; stage 1 (1 layer) 6 -> 3
SMALL = dict(stem_channels=8, block_channels=[16, 32], block_layers=[2, 1], head_dim=8, partition_size=3,
             image_size=24, num_classes=5)


def batch_norm(x, w, key):
    """Eval-mode batch norm with torchvision's MaxViT eps (1e-3)."""
    return F.batch_norm(x, w[f"{key}.running_mean"], w[f"{key}.running_var"], w[f"{key}.weight"],
                        w[f"{key}.bias"], eps=1e-3)


def mbconv(x, w, key, stride):
    """MBConv with a pre-norm: BN, 1x1 conv-BN-GELU, depthwise 3x3 conv-BN-GELU, SE (SiLU), 1x1 conv; the shortcut
    avg-pooled (stride 2) and projected by a 1x1 conv where the shape changes."""
    k = f"{key}.layers"
    y = batch_norm(x, w, f"{k}.pre_norm")
    y = F.gelu(batch_norm(F.conv2d(y, w[f"{k}.conv_a.0.weight"]), w, f"{k}.conv_a.1"))
    depthwise = F.conv2d(y, w[f"{k}.conv_b.0.weight"], stride=stride, padding=1, groups=y.shape[1])
    y = F.gelu(batch_norm(depthwise, w, f"{k}.conv_b.1"))
    se = f"{k}.squeeze_excitation"
    s = F.silu(F.conv2d(y.mean((2, 3), keepdim=True), w[f"{se}.fc1.weight"], w[f"{se}.fc1.bias"]))
    y = y * torch.sigmoid(F.conv2d(s, w[f"{se}.fc2.weight"], w[f"{se}.fc2.bias"]))
    y = F.conv2d(y, w[f"{k}.conv_c.weight"], w[f"{k}.conv_c.bias"])
    shortcut = x
    if f"{key}.proj.1.weight" in w:
        shortcut = F.conv2d(F.avg_pool2d(x, 3, stride, 1), w[f"{key}.proj.1.weight"], w[f"{key}.proj.1.bias"])
    elif f"{key}.proj.0.weight" in w:
        shortcut = F.conv2d(x, w[f"{key}.proj.0.weight"], w[f"{key}.proj.0.bias"])
    return shortcut + y


def partitions(h: int, size: int, kind: str) -> list:
    """The (rows, columns) slices of each group of positions: P x P windows, or the P x P grids of positions
    H / P apart (the paper's Figure 2)."""
    n = h // size
    if kind == "window":
        return [(slice(i * size, (i + 1) * size), slice(j * size, (j + 1) * size)) for i in range(n) for j in range(n)]
    return [(slice(i, None, n), slice(j, None, n)) for i in range(n) for j in range(n)]


def partition_attention(x, w, key, kind, head_dim, size):
    """x + attention(LN(x)), then x + MLP(LN(x)) (Linear, GELU, Linear) within each group of positions."""
    n, c, h, _ = x.shape
    groups = partitions(h, size, kind)
    # [N, groups, P^2, C]: each group's positions row-major
    tokens = torch.stack([x[:, :, rows, cols].flatten(2).transpose(1, 2) for rows, cols in groups], 1)
    ln = lambda t, i: F.layer_norm(t, (c,), w[f"{key}.{i}.weight"], w[f"{key}.{i}.bias"])  # noqa: E731
    attn = {k.split("attn_layer.1.")[1]: v for k, v in w.items() if k.startswith(f"{key}.attn_layer.1.")}
    tokens = tokens + attention(ln(tokens, "attn_layer.0"), attn, head_dim, (size, size))
    hidden = F.gelu(F.linear(ln(tokens, "mlp_layer.0"), w[f"{key}.mlp_layer.1.weight"], w[f"{key}.mlp_layer.1.bias"]))
    tokens = tokens + F.linear(hidden, w[f"{key}.mlp_layer.3.weight"], w[f"{key}.mlp_layer.3.bias"])
    out = torch.empty_like(x)
    for g, (rows, cols) in enumerate(groups):
        out[:, :, rows, cols] = tokens[:, g].transpose(1, 2).reshape(n, c, size, size)
    return out


def maxvit(x, w, params):
    y = F.gelu(batch_norm(F.conv2d(x, w["stem.0.0.weight"], stride=2, padding=1), w, "stem.0.1"))
    y = F.conv2d(y, w["stem.1.0.weight"], w["stem.1.0.bias"], padding=1)
    for i, n in enumerate(params["block_layers"]):
        for j in range(n):
            key = f"blocks.{i}.layers.{j}.layers"
            y = mbconv(y, w, f"{key}.MBconv", 2 if j == 0 else 1)
            for kind in ("window", "grid"):
                y = partition_attention(y, w, f"{key}.{kind}_attention", kind, params["head_dim"],
                                        params["partition_size"])
    c = y.shape[1]
    y = F.layer_norm(y.mean((2, 3)), (c,), w["classifier.2.weight"], w["classifier.2.bias"])
    y = torch.tanh(F.linear(y, w["classifier.3.weight"], w["classifier.3.bias"]))
    return F.linear(y, w["classifier.5.weight"])


def test_small_maxvit_equals_the_model_written_with_torch_functions():
    torch.manual_seed(0)
    net = archdsl.load(SPEC, **SMALL).build().eval()
    with torch.no_grad():
        for key, t in net.state_dict().items():
            if t.is_floating_point():  # random weights and statistics; the int index buffers stay
                t.copy_(torch.rand_like(t) + 0.5 if key.endswith("running_var") else torch.randn_like(t) * 0.3)
        x = torch.randn(2, 3, 24, 24)
        want = maxvit(x, dict(net.state_dict()), SMALL)
        torch.testing.assert_close(net(x), want, rtol=1e-4, atol=1e-4)


def test_small_maxvit_macs_equal_torchs_flop_counter():
    """An independent count: FlopCounterMode (2 FLOPs per multiply-add) at batch 1, with torch's math attention
    kernel, which it sees."""
    spec = archdsl.load(SPEC, N=1, **SMALL)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops:
        spec.build().eval()(torch.zeros(1, 3, 24, 24))
    assert flops.get_total_flops() == 2 * spec.summary().macs


def test_a_map_that_the_partitions_do_not_divide_is_a_located_error():
    """torchvision's MaxVit raises ValueError for such an input size; the spec's assert says where."""
    with pytest.raises(archdsl.ArchDSLError, match=r"maxvit.yaml:\d+:\d+: error\[E010\].*partition size"):
        archdsl.load(SPEC, **dict(SMALL, image_size=20)).summary()  # stage 0's map: 5 x 5, partitions of 3
