"""Relative-position self-attention within a window, the attention of MaxViT, as torchvision builds it.

x [*B, L, C] holds the L = Wh Ww positions of a window (or of a grid: MaxViT's block and grid attention give both
the same shape, [N, groups, L, C]), row-major; the heads are C / head_dim (Tu et al. 2022, Section 3.2):

    softmax(Q K^T / sqrt(C) + B) V, then a linear merge of the heads,

with B [heads, L, L] read from a learned table of the (2 Wh - 1)(2 Ww - 1) relative offsets
(relative_position_bias_table, indexed by the int buffer relative_position_index [L, L]). torchvision's
RelativePositionalMultiHeadAttention scales the scores by the feature dim C, not the head dim: so does the op.
"""
from __future__ import annotations

from ..dims import fmt_shape, same
from ..errors import ShapeRuleError
from ._util import expect_min_rank, per_dim, static_dim
from .registry import Param, register
# the bound on a window's positions that Swin's attention has: the index buffer and the scores of a window hold
# (Wh Ww)^2 entries
from .window_attention import MAX_WINDOW_POSITIONS

OP = "relative_position_attention"


def window_sizes(a, ins) -> tuple[tuple[int, int], int]:
    """((Wh, Ww), C) of an attention over x [*B, Wh Ww, C], checked."""
    x = ins[0]
    expect_min_rank(OP, x, 2)
    c = static_dim(OP, x[-1], "feature dim (the last)")
    window = per_dim(OP, a, "window_size", 2)
    if c % a.head_dim:
        raise ShapeRuleError(f"`{OP}` has {c} features, not divisible by head_dim={a.head_dim}",
                             hint="the heads are C / head_dim")
    area = window[0] * window[1]
    if area > MAX_WINDOW_POSITIONS:
        raise ShapeRuleError(f"`{OP}` window {window[0]}x{window[1]} has more than {MAX_WINDOW_POSITIONS} "
                             f"positions", hint="the position bias grows with the square of the window's area")
    if not same(x[-2], area, f"`{OP}` compares dim -2"):
        raise ShapeRuleError(f"`{OP}` attends over the {window[0]}x{window[1]} = {area} positions of a window "
                             f"in dim -2, got {x[-2]} in {fmt_shape(x)}",
                             hint="partition the map into windows first: [..., Wh * Ww, C]")
    return window, c


def _weights(a, ins) -> int:
    window, c = window_sizes(a, ins)
    # to_qkv and merge with their biases, the bias table (one column per head)
    return 4 * c * c + 4 * c + (2 * window[0] - 1) * (2 * window[1] - 1) * (c // a.head_dim)


def _macs(a, ins, out):
    window, c = window_sizes(a, ins)
    positions = 1
    for d in ins[0][:-1]:
        positions *= d
    return positions * (4 * c * c + 2 * window[0] * window[1] * c)


def _shape(a, ins):
    window_sizes(a, ins)
    return ins[0]


register(
    name=OP, family="attention",
    doc="MaxViT's multi-head self-attention over the positions of a window with a relative position bias "
        "(torchvision's RelativePositionalMultiHeadAttention: keys to_qkv, merge, relative_position_bias_table "
        "and the buffer relative_position_index); the scores are scaled by 1 / sqrt(C), C the feature dim, as "
        "torchvision does. The computation is described in archdsl/ops/maxvit_attention.py.",
    params=(
        Param("head_dim", "int", min=1, doc="features per head: heads = C / head_dim"),
        Param("window_size", "ints", min=1, doc="the window (Wh, Ww), or one int for both: dim -2 is Wh * Ww"),
    ),
    shape=_shape, weights=_weights, macs=_macs, layer_only=True,
    sizes=lambda a, ins: {"dim": window_sizes(a, ins)[1]},
    shape_doc="[*B, Wh Ww, C] unchanged (the positions of each window in dim -2, row-major)",
    macs_doc="*B x Wh Ww x (4 C^2 (to_qkv and merge) + 2 Wh Ww C (scores and weighted sum))",
)
