"""Attention: alignment scores, masked softmax, the context vector, the attentional hidden state; matmul and bmm.

Scores compare a query (the decoder state h_t, [N, Dq], or all steps at once, [N, Tq, Dq]) with the
source states h_s ([N, S, Dk]) and give [N, S] (or [N, Tq, S]):

    dot_score         h_t . h_s                         (Luong et al. 2015, "dot")
    general_score     h_t^T W_a h_s                     (Luong, "general")
    concat_score      v_a^T tanh(W_a [h_t; h_s])        (Luong, "concat")
    additive_score    v_a^T tanh(W_a h_t + U_a h_s + b) (Bahdanau et al. 2015; Xu et al. 2015's f_att)

then   a = masked_softmax(scores, mask),  c_t = attend(a, h_s),  h~_t = attentional_state(c_t, h_t) = tanh(W_c[c_t; h_t]).

The Transformer's attention: scaled_dot_product_attention (F.scaled_dot_product_attention) and
multi_head_attention (nn.MultiheadAttention), with the positions (arange) and the causal mask (causal_mask) of a
sequence of symbolic length.
"""
from __future__ import annotations

from ..dims import fmt_shape, known_eq, product
from ..errors import ShapeRuleError
from ._util import expect_min_rank, expect_rank, mismatch, norm_dim, static_dim
from .dropout import check_p
from .dtypes import FLOAT, INDICES, LAYER, with_masks
from .registry import Param, register


def _score_dims(op: str, q, k, same_size: bool = False):
    """Output shape of a score op and (Dq, Dk); q is [N, Dq] or [N, Tq, Dq], k is [N, S, Dk]."""
    expect_rank(op, q, (2, 3), "query")
    expect_rank(op, k, (3,), "source states (keys)")
    if mismatch(q[0], k[0], "`attention` compares"):
        raise ShapeRuleError(f"`{op}` query {fmt_shape(q)} and source states {fmt_shape(k)} have different "
                             f"batch sizes")
    dq = static_dim(op, q[-1], "query size (last dim)")
    dk = static_dim(op, k[-1], "source state size (last dim)")
    if same_size and dq != dk:
        raise ShapeRuleError(f"`{op}` needs query and source states of one size, got {dq} and {dk}",
                             hint="use general_score (h_t^T W_a h_s) for different sizes")
    return (*q[:-1], k[1]), dq, dk


def _query_key_sizes(a, ins) -> dict:
    return {"query_size": ins[0][-1], "key_size": ins[1][-1]}


def _pair_size(a, ins) -> dict:
    """Layers on the concatenation of their two inputs need only the sum of their sizes."""
    return {"in_features": ins[0][-1] + ins[1][-1]}


def _queries(q) -> object:
    """Number of query vectors: N or N * Tq."""
    return product(q[:-1])


register(
    name="dot_score", family="attention",
    doc="Luong dot alignment score h_t . h_s of a query against every source state.",
    inputs=2, shape=lambda a, ins: _score_dims("dot_score", ins[0], ins[1], same_size=True)[0], inline_only=True,
    macs=lambda a, ins, out: product(out) * ins[0][-1],
    shape_doc="query [N, D] or [N, Tq, D], sources [N, S, D] -> [N, S] or [N, Tq, S]",
    macs_doc="out elements x D",
)

register(
    name="general_score", family="attention",
    doc="Luong general alignment score h_t^T W_a h_s; W_a is applied to the query (nn.Linear(Dq, Dk, bias=False)).",
    inputs=2, shape=lambda a, ins: _score_dims("general_score", *ins)[0], layer_only=True, sizes=_query_key_sizes,
    weights=lambda a, ins: ins[0][-1] * ins[1][-1],
    macs=lambda a, ins, out: _queries(ins[0]) * ins[0][-1] * ins[1][-1] + product(out) * ins[1][-1],
    shape_doc="query [N, Dq] or [N, Tq, Dq], sources [N, S, Dk] -> [N, S] or [N, Tq, S]",
    macs_doc="queries x Dq x Dk + out elements x Dk",
)


register(
    name="concat_score", family="attention",
    doc="Luong concat alignment score v_a^T tanh(W_a [h_t; h_s]) (an nn.Sequential of Linear, Tanh, Linear).",
    params=(Param("units", "int", min=1, doc="rows of W_a"),),
    inputs=2, shape=lambda a, ins: _score_dims("concat_score", *ins)[0], layer_only=True, sizes=_pair_size,
    weights=lambda a, ins: (ins[0][-1] + ins[1][-1]) * a.units + a.units,
    macs=lambda a, ins, out: product(out) * ((ins[0][-1] + ins[1][-1]) * a.units + a.units),
    shape_doc="query [N, Dq] or [N, Tq, Dq], sources [N, S, Dk] -> [N, S] or [N, Tq, S]",
    macs_doc="out elements x ((Dq + Dk) x units + units)",
)


register(
    name="additive_score", family="attention",
    doc="Bahdanau additive alignment score v_a^T tanh(W_a h_t + U_a h_s + b); an nn.ModuleDict with the "
        "projections `query` (W_a), `key` (U_a, with the bias) and `v`.",
    params=(Param("units", "int", min=1, doc="size of the hidden layer of the alignment model"),),
    inputs=2, shape=lambda a, ins: _score_dims("additive_score", *ins)[0], layer_only=True, sizes=_query_key_sizes,
    weights=lambda a, ins: ins[0][-1] * a.units + ins[1][-1] * a.units + a.units + a.units,
    macs=lambda a, ins, out: (_queries(ins[0]) * ins[0][-1] + ins[1][0] * ins[1][1] * ins[1][-1] + product(out))
    * a.units,
    shape_doc="query [N, Dq] or [N, Tq, Dq], sources [N, S, Dk] -> [N, S] or [N, Tq, S]",
    macs_doc="(queries x Dq + N x S x Dk + out elements) x units",
)


def _masked_softmax_shape(a, ins):
    s, m = ins
    expect_min_rank("masked_softmax", s, 2)
    full = len(m) == len(s)
    want = s if full else (s[0], s[-1])
    if len(m) not in (2, len(s)) or any(mismatch(p, q, "`attention` compares") for p, q in zip(m, want)):
        raise ShapeRuleError(f"`masked_softmax` mask {fmt_shape(m)} fits neither the scores {fmt_shape(s)} nor "
                             f"[N, S] = {fmt_shape((s[0], s[-1]))}")
    return s


register(
    name="masked_softmax", family="attention",
    doc="Softmax over the last dim (the source positions) that gives weight 0 where the mask is false (padding); "
        "a row whose mask is all false has no valid position and gives NaN.",
    inputs=2, shape=_masked_softmax_shape, inline_only=True, dtypes=with_masks(FLOAT, 1),
    shape_doc="scores [N, ..., S], mask [N, S] or the scores' shape -> scores' shape",
)


def _attend_shape(a, ins):
    w, v = ins
    expect_rank("attend", w, (2, 3), "weights")
    expect_rank("attend", v, (3,), "values")
    if mismatch(w[0], v[0], "`attention` compares") or mismatch(w[-1], v[1], "`attention` compares"):
        raise ShapeRuleError(f"`attend` weights {fmt_shape(w)} do not fit values {fmt_shape(v)}",
                             hint="weights [N, S] or [N, Tq, S] need values [N, S, D]")
    return (*w[:-1], v[-1])


register(
    name="attend", family="attention",
    doc="The context vector c_t = sum_s a_t(s) h_s: the attention weights applied to the source states.",
    inputs=2, shape=_attend_shape, inline_only=True,
    macs=lambda a, ins, out: product(ins[0]) * ins[1][-1],
    shape_doc="weights [N, S] or [N, Tq, S], values [N, S, D] -> [N, D] or [N, Tq, D]",
    macs_doc="weight elements x D",
)


def _attentional_shape(a, ins):
    c, h = ins
    if len(c) != len(h) or any(mismatch(p, q, "`attention` compares") for p, q in zip(c[:-1], h[:-1])):
        raise ShapeRuleError(f"`attentional_state` context {fmt_shape(c)} and hidden state {fmt_shape(h)} "
                             f"must agree except in the last dim")
    static_dim("attentional_state", c[-1], "context size")
    static_dim("attentional_state", h[-1], "hidden size")
    return (*h[:-1], a.units)


register(
    name="attentional_state", family="attention",
    doc="Luong's attentional hidden state h~_t = tanh(W_c [c_t; h_t]) (nn.Linear on the concatenation).",
    params=(Param("units", "int", min=1), Param("bias", "bool", False)),
    inputs=2, shape=_attentional_shape, layer_only=True, sizes=_pair_size,
    weights=lambda a, ins: (ins[0][-1] + ins[1][-1]) * a.units + (a.units if a.bias else 0),
    macs=lambda a, ins, out: product(out[:-1]) * (ins[0][-1] + ins[1][-1]) * a.units,
    shape_doc="c_t [*, Dc], h_t [*, Dh] -> [*, units]",
    macs_doc="rows x (Dc + Dh) x units",
)


# --- scaled dot-product and multi-head attention ----------------------------------------------------------------

SDPA = "scaled_dot_product_attention"


def _sdpa_dims(a, ins):
    """The broadcast batch dims and (L, S, E, Ev) of query [*B, L, E], key [*B, S, E], value [*B, S, Ev]."""
    q, k, v = ins[:3]
    for what, t in (("query", q), ("key", k), ("value", v)):
        if len(t) < 2:
            raise ShapeRuleError(f"`{SDPA}` {what} {fmt_shape(t)} needs rank 2 or more: [..., length, features]")
    if mismatch(q[-1], k[-1], "`attention` compares"):
        raise ShapeRuleError(f"`{SDPA}` query {fmt_shape(q)} and key {fmt_shape(k)} need one size E in the last dim")
    if mismatch(k[-2], v[-2], "`attention` compares"):
        raise ShapeRuleError(f"`{SDPA}` key {fmt_shape(k)} and value {fmt_shape(v)} need one length S in dim -2")
    batch = _broadcast_batch(_broadcast_batch(q[:-2], k[:-2], SDPA), v[:-2], SDPA)
    return batch, (q[-2], k[-2], q[-1], v[-1])


def _sdpa_shape(a, ins):
    check_p(SDPA, a.dropout_p, "dropout_p")
    batch, (L, S, _, ev) = _sdpa_dims(a, ins)
    if len(ins) == 4:
        if a.is_causal:
            raise ShapeRuleError(f"`{SDPA}` takes a mask or is_causal=true, not both",
                                 hint="fold the causal mask into the mask, or drop the mask")
        scores, mask = (*batch, L, S), ins[3]
        if len(mask) > len(scores) or any(known_eq(m, 1) is False and mismatch(m, d, "`attention` compares")
                                           for m, d in zip(reversed(mask), reversed(scores))):
            raise ShapeRuleError(f"`{SDPA}` mask {fmt_shape(mask)} does not broadcast to the scores "
                                 f"[*B, L, S] = {fmt_shape(scores)}")
    return (*batch, L, ev)


def _sdpa_macs(a, ins, out):
    batch, (L, S, e, ev) = _sdpa_dims(a, ins)
    return product(batch) * L * S * (e + ev)


register(
    name=SDPA, family="attention",
    doc="softmax(q k^T * scale + mask) v (F.scaled_dot_product_attention), scale 1/sqrt(E) unless given. The "
        "optional 4th input is a mask: boolean, true where a query may attend to a key, or float, added to the "
        "scores. is_causal masks the keys after each query (top-left aligned when L != S). dropout_p drops "
        "attention weights in training mode only.",
    params=(Param("dropout_p", "float", 0.0, min=0), Param("is_causal", "bool", False),
            Param("scale", "float", None, doc="score scale; None: 1 / sqrt(E)")),
    inputs=(3, 4), shape=_sdpa_shape, macs=_sdpa_macs, inline_only=True, dtypes=with_masks(FLOAT, 3),
    training_dependent=lambda a: a.dropout_p > 0,
    shape_doc="query [*B, L, E], key [*B, S, E], value [*B, S, Ev], mask broadcasting to [*B, L, S] -> "
              "[*B, L, Ev] (batch dims broadcast)",
    macs_doc="B x L x S x (E + Ev): the scores and the weighted sum (torch's FlopCounterMode sees them only with "
             "the math kernel, not in the fused CPU kernels)",
)

MHA = "multi_head_attention"


def _mha_dims(a, ins):
    """(N, L, S) of query, key and value checked against embed_dim, kdim, vdim and the layout (N = 1 unbatched)."""
    q, k, v = ins[:3]
    if a.embed_dim % a.num_heads:
        raise ShapeRuleError(f"`{MHA}` embed_dim={a.embed_dim} must be divisible by num_heads={a.num_heads}")
    expect_rank(MHA, q, (2, 3), "query")
    seq, bat = (1, 0) if a.batch_first else (0, 1)
    for what, t, size, key in (("query", q, a.embed_dim, "embed_dim"), ("key", k, a.kdim or a.embed_dim, "kdim"),
                               ("value", v, a.vdim or a.embed_dim, "vdim")):
        if len(t) != len(q):
            raise ShapeRuleError(f"`{MHA}` {what} {fmt_shape(t)} must have the rank of the query {fmt_shape(q)}")
        if mismatch(t[-1], size, "`attention` compares"):
            raise ShapeRuleError(f"`{MHA}` {what} {fmt_shape(t)} needs {size} features in its last dim, got {t[-1]}",
                                 hint=f"set {key}= to the {what}'s feature size" if key != "embed_dim" else None)
    if len(q) == 2:
        n, (L, S) = 1, (q[0], k[0])
    else:
        n, (L, S) = q[bat], (q[seq], k[seq])
        if mismatch(k[bat], n, "`attention` compares") or mismatch(v[bat], n, "`attention` compares"):
            raise ShapeRuleError(f"`{MHA}` query {fmt_shape(q)}, key {fmt_shape(k)} and value {fmt_shape(v)} "
                                 f"have different batch sizes", hint="batch_first=true: [N, L, E]; false: [L, N, E]")
    if mismatch(v[-2 if len(q) == 2 else seq], S, "`attention` compares"):
        raise ShapeRuleError(f"`{MHA}` key {fmt_shape(k)} and value {fmt_shape(v)} have different lengths")
    return n, L, S


def mha_masks(a, n_inputs: int) -> tuple:
    """What the mask inputs after query, key and value are: ('attn',), ('key_padding',) or both."""
    return ("attn", "key_padding") if n_inputs == 5 else (a.mask,) if n_inputs == 4 else ()


def _mha_shape(a, ins):
    check_p(MHA, a.dropout, "dropout")
    n, L, S = _mha_dims(a, ins)
    kinds = mha_masks(a, len(ins))
    if a.is_causal and "attn" in kinds:
        raise ShapeRuleError(f"`{MHA}` takes an attn_mask input or is_causal=true, not both",
                             hint="is_causal=true applies causal_mask itself; drop the attn_mask input")
    for kind, mask in zip(kinds, ins[3:]):
        if kind == "attn":
            want = [(L, S), (n * a.num_heads, L, S)]
            text = f"[L, S] = {fmt_shape(want[0])} or [N * num_heads, L, S] = {fmt_shape(want[1])}"
        else:
            want = [(n, S) if len(ins[0]) == 3 else (S,)]
            text = fmt_shape(want[0])
        if not any(len(mask) == len(w) and all(known_eq(m, d) is not False for m, d in zip(mask, w)) for w in want):
            raise ShapeRuleError(f"`{MHA}` {kind}_mask {fmt_shape(mask)} must be {text}")
    if not a.need_weights:
        return ins[0]
    heads = () if a.average_attn_weights else (a.num_heads,)
    return [ins[0], ((n,) if len(ins[0]) == 3 else ()) + heads + (L, S)]


def _mha_weights(a, ins):
    e = a.embed_dim
    return e * (2 * e + (a.kdim or e) + (a.vdim or e)) + (4 * e if a.bias else 0)


def _mha_macs(a, ins, out):
    n, L, S = _mha_dims(a, ins)
    e = a.embed_dim
    return n * (2 * L * e * e + S * e * ((a.kdim or e) + (a.vdim or e)) + 2 * L * S * e)


register(
    name=MHA, family="attention",
    doc="Multi-head attention, nn.MultiheadAttention with its keys: in_proj_weight, in_proj_bias, out_proj.weight, "
        "out_proj.bias, or q_proj_weight, k_proj_weight and v_proj_weight when kdim or vdim differ from "
        "embed_dim. Called as `attn(query, key, value)`, it gives the attention output alone (need_weights=False, "
        "torch's fast path); with need_weights=true it gives (output, weights), the attention weights averaged "
        "over the heads unless average_attn_weights=false. Optional mask inputs follow, as torch takes them "
        "(true, or -inf in a float mask, where a query may NOT attend): a 4th input is attn_mask ([L, S] or "
        "[N * num_heads, L, S]; causal_mask(x, dim) makes the causal one) or, with mask='key_padding', "
        "key_padding_mask ([N, S], true at padding); with 5 inputs, the 4th is attn_mask and the 5th "
        "key_padding_mask. is_causal=true applies the causal mask itself (causal_mask of the query and key "
        "lengths, passed with torch's is_causal hint, as nn.TransformerDecoderLayer does).",
    params=(Param("embed_dim", "int", min=1), Param("num_heads", "int", min=1),
            Param("dropout", "float", 0.0, min=0, doc="dropout on the attention weights (training mode)"),
            Param("bias", "bool", True), Param("batch_first", "bool", True, doc="[N, L, E]; false: [L, N, E]"),
            Param("kdim", "int", None, min=1, doc="key features; None: embed_dim"),
            Param("vdim", "int", None, min=1, doc="value features; None: embed_dim"),
            Param("mask", "str", "attn", choices=("attn", "key_padding"), doc="what a 4th input is"),
            Param("need_weights", "bool", False, doc="also give the attention weights: (output, weights)"),
            Param("average_attn_weights", "bool", True, doc="weights averaged over the heads; false: per head"),
            Param("is_causal", "bool", False, doc="mask the keys after each query (no attn_mask input then)")),
    inputs=(3, 4, 5), shape=_mha_shape, weights=_mha_weights, macs=_mha_macs, layer_only=True,
    outputs_of=lambda a: (0, 1) if a.need_weights else None, dtypes=with_masks(LAYER, 3),
    training_dependent=lambda a: a.dropout > 0,
    shape_doc="query [N, L, E], key [N, S, kdim], value [N, S, vdim] -> [N, L, E] (batch_first; [L, N, *] "
              "otherwise; unbatched [L, E] too); with need_weights also the weights [N, L, S] ([N, num_heads, L, "
              "S] with average_attn_weights=false; [L, S] unbatched)",
    macs_doc="N x (L x E x E (query projection) + S x E x (kdim + vdim) (key and value projections) + "
             "2 x L x S x E (scores and weighted sum) + L x E x E (output projection)); torch's FlopCounterMode "
             "misses the scores and weighted sum inside nn.MultiheadAttention with the fused CPU kernels",
)


# --- positions and the causal mask ------------------------------------------------------------------------------

def _length(op: str, a, ins):
    """The size of the input in `dim`: the length of the positions or of the mask (symbolic too)."""
    x = ins[0]
    return x[norm_dim(op, a.dim, x)]


register(
    name="arange", family="tensor",
    doc="The positions start, start + 1, ..., start + n - 1 as an int64 tensor on the input's device, where n is "
        "the input's size in `dim` (torch.arange(start, start + x.shape[dim], device=x.device)); the input gives "
        "only that size and the device. The positions of a sequence whose length is symbolic: "
        "`wpe(arange(tokens, 1))`.",
    params=(Param("dim", "int", doc="the dim whose size is the number of positions"),
            Param("start", "int", 0, doc="the first position")),
    shape=lambda a, ins: (_length("arange", a, ins),), inline_only=True, dtypes=INDICES,
    shape_doc="[*A, n, *B] -> [n] (n the size of `dim`, symbolic too)",
)


def _bool(a, ins) -> str:
    return "bool"


register(
    name="causal_mask", family="attention",
    doc="The causal attention mask of a sequence: an [n, n] bool tensor on the input's device, true above the "
        "diagonal, where query i may NOT attend to key j > i (torch.ones(n, n, dtype=torch.bool).triu(1)), with n "
        "the input's size in `dim`. It is the convention of nn.MultiheadAttention's and nn.Transformer's attn_mask "
        "(the mask of multi_head_attention); F.scaled_dot_product_attention's boolean mask means the opposite "
        "(true: may attend), so use its is_causal=true there.",
    params=(Param("dim", "int", doc="the dim whose size is the sequence length"),),
    shape=lambda a, ins: (_length("causal_mask", a, ins),) * 2, inline_only=True, dtypes=_bool,
    shape_doc="[*A, n, *B] -> [n, n] (n the size of `dim`, symbolic too)",
)


# --- matmul, bmm ------------------------------------------------------------------------------------------------

def _broadcast_batch(p, q, op: str = "matmul"):
    out = []
    for i in range(1, max(len(p), len(q)) + 1):
        x = p[-i] if i <= len(p) else 1
        y = q[-i] if i <= len(q) else 1
        if known_eq(x, 1) is True:
            out.append(y)
        elif known_eq(y, 1) is True or known_eq(x, y) is not False:
            out.append(x)
        else:
            raise ShapeRuleError(f"`{op}` batch dims {fmt_shape(p)} and {fmt_shape(q)} do not broadcast")
    return tuple(reversed(out))


def _matmul_parts(ins):
    a, b = ins
    if not a or not b:
        raise ShapeRuleError("`matmul` needs inputs of rank 1 or more")
    a2 = (1, *a) if len(a) == 1 else tuple(a)
    b2 = (*b, 1) if len(b) == 1 else tuple(b)
    if mismatch(a2[-1], b2[-2], "`attention` compares"):
        raise ShapeRuleError(f"`matmul` cannot multiply {fmt_shape(a)} by {fmt_shape(b)}: "
                             f"{a2[-1]} columns vs {b2[-2]} rows")
    return a2, b2, _broadcast_batch(a2[:-2], b2[:-2])


def _matmul_shape(a, ins):
    a2, b2, batch = _matmul_parts(ins)
    return batch + ((a2[-2],) if len(ins[0]) > 1 else ()) + ((b2[-1],) if len(ins[1]) > 1 else ())


def _matmul_macs(a, ins, out):
    a2, b2, batch = _matmul_parts(ins)
    return product(batch) * a2[-2] * a2[-1] * b2[-1]


def _bmm_shape(a, ins):
    x, y = ins
    expect_rank("bmm", x, (3,))
    expect_rank("bmm", y, (3,))
    if mismatch(x[0], y[0], "`attention` compares") or mismatch(x[2], y[1], "`attention` compares"):
        raise ShapeRuleError(f"`bmm` cannot multiply {fmt_shape(x)} by {fmt_shape(y)}",
                             hint="[B, n, k] @ [B, k, m]")
    return (x[0], x[1], y[2])


register(
    name="matmul", family="linear", doc="Matrix product with broadcasting (torch.matmul); also written `a @ b`.",
    inputs=2, shape=_matmul_shape, macs=_matmul_macs, inline_only=True,
    shape_doc="[*B, n, k] @ [*B, k, m] -> [*B, n, m] (1-D operands as in torch.matmul)",
    macs_doc="batch x n x k x m",
)

register(
    name="bmm", family="linear", doc="Batched matrix product of two rank-3 tensors (torch.bmm).",
    inputs=2, shape=_bmm_shape, macs=lambda a, ins, out: product(out) * ins[0][2], inline_only=True,
    shape_doc="[B, n, k], [B, k, m] -> [B, n, m]",
    macs_doc="B x n x k x m",
)
