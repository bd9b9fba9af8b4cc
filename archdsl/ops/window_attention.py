"""Shifted-window self-attention, the attention of the Swin Transformers, as torchvision builds it.

The feature map x [N, H, W, C] is padded at the bottom and right to multiples of the window (Wh, Ww), rolled
by -shift (the cyclic shift of every other block), and cut into windows of Wh x Ww positions; multi-head
self-attention runs inside each window, positions that the shift brought together from opposite borders
get -100 added to their scores, and the windows are put back, rolled back and cropped to H x W:

    v1 (Liu et al. 2021, Eq. 4): softmax(Q K^T / sqrt(d) + B) V, with B read from a learned table of the
       (2 Wh - 1)(2 Ww - 1) relative offsets (relative_position_bias_table, indexed by relative_position_index)
    v2 (Liu et al. 2022, Eq. 2 and 4): softmax(cos(Q, K) * exp(min(logit_scale, log 100)) + 16 sigmoid(B)) V,
       with B from an MLP (cpb_mlp: 2 -> 512 -> heads) over the log-spaced offsets (relative_coords_table);
       the keys' part of the qkv bias is zero

torchvision zeroes the shift along an axis where the window covers the whole padded size, and so does the
lowering, at run time.
"""
from __future__ import annotations

from ..errors import ShapeRuleError
from ._util import expect_rank, per_dim, static_dim
from .dropout import check_p
from .registry import Param, register

# The relative position index holds (Wh Ww)^2 entries and the scores of a window (Wh Ww)^2 per head: a bound on
# the window's positions keeps them bounded (64 x 64; Swin V2's largest published window is 40 x 40).
MAX_WINDOW_POSITIONS = 4096
CPB_HIDDEN = 512  # the hidden size of Swin V2's continuous position bias MLP (torchvision, the paper's Sec. 3.3)


def window_dims(op: str, a, ins) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(window, shift, C) of an attention over x [N, H, W, C], checked."""
    x = ins[0]
    expect_rank(op, x, (4,), "input [N, H, W, C]")
    c = static_dim(op, x[3], "channel dim (dim 3, channels last)")
    window, shift = per_dim(op, a, "window_size", 2), per_dim(op, a, "shift_size", 2)
    if c % a.num_heads:
        raise ShapeRuleError(f"`{op}` has {c} channels, not divisible by num_heads={a.num_heads}")
    if window[0] * window[1] > MAX_WINDOW_POSITIONS:
        raise ShapeRuleError(f"`{op}` window {window[0]}x{window[1]} has more than {MAX_WINDOW_POSITIONS} "
                             f"positions", hint="the position bias grows with the square of the window's area")
    if any(s >= w for s, w in zip(shift, window)):
        raise ShapeRuleError(f"`{op}` shift_size={a.shift_size!r} must be smaller than window_size="
                             f"{a.window_size!r} in each dim", hint="Swin shifts by half the window: window // 2")
    if op.endswith("_v2") and min(window) < 2:
        raise ShapeRuleError(f"`{op}` needs a window of 2 or more in each dim, got {a.window_size!r}",
                             hint="v2's position coordinates are normalized by window_size - 1")
    check_p(op, a.attention_dropout, "attention_dropout")
    check_p(op, a.dropout, "dropout")
    return window, shift, c


def padded_positions(x, window) -> object:
    """N x pad(H) x pad(W): the positions attention runs on, H and W padded up to multiples of the window."""
    n, h, w = x[:3]
    return n * ((h + window[0] - 1) // window[0] * window[0]) * ((w + window[1] - 1) // window[1] * window[1])


def _shape(op: str):
    def shape(a, ins):
        window_dims(op, a, ins)
        return ins[0]
    return shape


def _macs(op: str, version: int):
    def macs(a, ins, out):
        window, _, c = window_dims(op, a, ins)
        total = padded_positions(ins[0], window) * (4 * c * c + 2 * window[0] * window[1] * c)
        if version == 2:
            total += (2 * window[0] - 1) * (2 * window[1] - 1) * CPB_HIDDEN * (2 + a.num_heads)
        return total
    return macs


def _weights(op: str, version: int):
    def weights(a, ins):
        window, _, c = window_dims(op, a, ins)
        linears = 4 * c * c + 4 * c  # qkv and proj, with their biases
        if version == 1:
            return linears + (2 * window[0] - 1) * (2 * window[1] - 1) * a.num_heads
        return linears + a.num_heads + 3 * CPB_HIDDEN + CPB_HIDDEN * a.num_heads  # logit_scale, cpb_mlp
    return weights


def _register(version: int, doc: str, macs_doc: str) -> None:
    op = "shifted_window_attention" + ("_v2" if version == 2 else "")
    register(
        name=op, family="attention", doc=doc, params=PARAMS,
        shape=_shape(op), weights=_weights(op, version),
        macs=_macs(op, version), layer_only=True, sizes=lambda a, ins: {"dim": window_dims(op, a, ins)[2]},
        training_dependent=lambda a: a.attention_dropout > 0 or a.dropout > 0,
        shape_doc="[N, H, W, C] unchanged (channels last; H and W need not be multiples of the window)",
        macs_doc=macs_doc,
    )


PARAMS = (
    Param("window_size", "ints", min=1, doc="the window (Wh, Ww), or one int for both"),
    Param("num_heads", "int", min=1, doc="attention heads; they divide the channels C"),
    Param("shift_size", "ints", 0, min=0, doc="the cyclic shift (0 in even blocks, window // 2 in odd ones)"),
    Param("attention_dropout", "float", 0.0, min=0, doc="dropout on the attention weights (training mode)"),
    Param("dropout", "float", 0.0, min=0, doc="dropout on the output (training mode)"),
)
MACS_DOC = ("N x pad(H) x pad(W) x (4 C^2 (qkv and proj) + 2 Wh Ww C (scores and weighted sum)), pad() rounding "
            "up to a multiple of the window")

_register(1, "Swin Transformer's (shifted) window self-attention on [N, H, W, C]: H and W padded at the end to "
             "multiples of the window, the map rolled by -shift_size, softmax(q k^T / sqrt(d) + B) v in each window "
             "with B from a learned table of the relative offsets and -100 between positions the roll brought from "
             "opposite borders, then rolled back and cropped (torchvision's ShiftedWindowAttention: keys qkv, proj, "
             "relative_position_bias_table and the buffer relative_position_index).",
          MACS_DOC)
_register(2, "Swin Transformer V2's (shifted) window attention, as shifted_window_attention with scaled cosine "
             "scores cos(q, k) min(exp(logit_scale), 100) per head and the bias 16 sigmoid(B), B from an MLP over "
             "log-spaced relative offsets, the keys' part of the qkv bias zero (torchvision's "
             "ShiftedWindowAttentionV2: keys logit_scale, qkv, proj, cpb_mlp.0, cpb_mlp.2 and the buffers "
             "relative_coords_table and relative_position_index); window_size 2 or more.",
          MACS_DOC + f", plus the position bias MLP once: (2 Wh - 1)(2 Ww - 1) x {CPB_HIDDEN} x (2 + num_heads)")
