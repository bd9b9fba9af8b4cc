"""Attention: the score layers are plain torch modules (nn.Linear, nn.Sequential, nn.ModuleDict) whose call is
written inline around them; scores, masked softmax and context vectors are torch.bmm and torch.softmax;
F.scaled_dot_product_attention; nn.MultiheadAttention called as nn.TransformerEncoderLayer calls it; the positions
(torch.arange) and the causal mask (torch.ones(...).triu(1)) on the input's device."""
from __future__ import annotations

from ....ops.attention import mha_masks
from ._source import atom, src_args
from .table import lower


def _dot_call(q: str, k: str, rank: int) -> str:
    if rank == 2:
        return f"torch.bmm({k}, {q}.unsqueeze(2)).squeeze(2)"
    return f"torch.bmm({q}, {atom(k)}.transpose(1, 2))"


def _pairs(q: str, k: str, rank: int) -> str:
    """[h_t; h_s] for every (query, source) pair: [N, S, Dq + Dk] or [N, Tq, S, Dq + Dk]."""
    if rank == 2:
        return f"torch.cat([{q}.unsqueeze(1).expand(-1, {k}.shape[1], -1), {k}], -1)"
    return (f"torch.cat([{q}.unsqueeze(2).expand(-1, -1, {k}.shape[1], -1), "
            f"{k}.unsqueeze(1).expand(-1, {q}.shape[1], -1, -1)], -1)")


def _additive_call(a, ins, m, args) -> str:
    q, k = atom(args[0]), atom(args[1])
    if len(ins[0]) == 2:
        inner = f"{m}.query({q}).unsqueeze(1) + {m}.key({k})"
    else:
        inner = f"{m}.query({q}).unsqueeze(2) + {m}.key({k}).unsqueeze(1)"
    return f"{m}.v(torch.tanh({inner})).squeeze(-1)"


def _masked_softmax_call(a, ins, args) -> str:
    s, m = atom(args[0]), atom(args[1])
    if len(ins[1]) != len(ins[0]):
        m = f"{m}[:, {', '.join(['None'] * (len(ins[0]) - 2))}]"
    return f"torch.softmax({s}.masked_fill({m} == 0, float('-inf')), dim=-1)"


lower("dot_score", call=lambda a, ins, args: _dot_call(atom(args[0]), atom(args[1]), len(ins[0])))
lower("general_score",
      init=lambda a, ins: f"nn.Linear({ins[0][-1]}, {ins[1][-1]}, bias=False)",
      layer_call=lambda a, ins, m, args: _dot_call(f"{m}({args[0]})", atom(args[1]), len(ins[0])))
lower("concat_score",
      init=lambda a, ins: (f"nn.Sequential(nn.Linear({ins[0][-1] + ins[1][-1]}, {a.units}, bias=False), nn.Tanh(), "
                           f"nn.Linear({a.units}, 1, bias=False))"),
      layer_call=lambda a, ins, m, args: f"{m}({_pairs(atom(args[0]), atom(args[1]), len(ins[0]))}).squeeze(-1)")
lower("additive_score",
      init=lambda a, ins: (f"nn.ModuleDict({{'query': nn.Linear({ins[0][-1]}, {a.units}, bias=False), "
                           f"'key': nn.Linear({ins[1][-1]}, {a.units}), 'v': nn.Linear({a.units}, 1, bias=False)}})"),
      layer_call=_additive_call)
lower("masked_softmax", call=_masked_softmax_call)
lower("attend", call=lambda a, ins, args: (f"torch.bmm({atom(args[0])}.unsqueeze(1), {args[1]}).squeeze(1)"
                                           if len(ins[0]) == 2 else f"torch.bmm({args[0]}, {args[1]})"))
lower("attentional_state",
      init=lambda a, ins: f"nn.Linear({ins[0][-1] + ins[1][-1]}, {a.units}{'' if a.bias else ', bias=False'})",
      layer_call=lambda a, ins, m, args: f"torch.tanh({m}(torch.cat([{args[0]}, {args[1]}], -1)))")


def _sdpa_call(a, ins, args) -> str:
    parts = list(args[:3])
    if len(args) == 4:
        parts.append(f"attn_mask={args[3]}")
    if a.dropout_p > 0:
        parts.append(f"dropout_p={a.dropout_p!r} if self.training else 0.0")
    if a.is_causal:
        parts.append("is_causal=True")
    if a.scale is not None:
        parts.append(f"scale={a.scale!r}")
    return f"F.scaled_dot_product_attention({', '.join(parts)})"


_MHA_KW = {"dropout": 0.0, "bias": True, "batch_first": False, "kdim": None, "vdim": None}


def causal_mask_source(rows: str, cols: str, device: str) -> str:
    """The [rows, cols] causal mask as torch's attn_mask takes it: true above the diagonal (may not attend)."""
    return f"torch.ones({rows}, {cols}, dtype=torch.bool, device={device}).triu(1)"


def _mha_call(a, ins, m, args) -> str:
    """`m(query, key, value, ...)` as nn.TransformerEncoderLayer calls it: the output alone unless need_weights."""
    masks = [f"{kind}_mask={src}" for kind, src in zip(mha_masks(a, len(args)), args[3:])]
    if a.is_causal:
        seq = 1 if len(ins[0]) == 3 and a.batch_first else 0
        q, k = atom(args[0]), atom(args[1])
        mask = causal_mask_source(f"{q}.shape[{seq}]", f"{k}.shape[{seq}]", f"{q}.device")
        masks += [f"attn_mask={mask}", "is_causal=True"]
    flags = [] if a.need_weights else ["need_weights=False"]
    flags += [] if a.average_attn_weights else ["average_attn_weights=False"]
    call = f"{m}({', '.join(args[:3] + flags + masks)})"
    return call if a.need_weights else f"{call}[0]"


def _arange_call(a, ins, args) -> str:
    x = atom(args[0])
    n = f"{x}.shape[{a.dim}]"
    return f"torch.arange({f'{a.start}, {a.start} + {n}' if a.start else n}, device={x}.device)"


def _causal_mask_call(a, ins, args) -> str:
    x = atom(args[0])
    return causal_mask_source(f"{x}.shape[{a.dim}]", f"{x}.shape[{a.dim}]", f"{x}.device")


lower("scaled_dot_product_attention", call=_sdpa_call)
lower("multi_head_attention", layer_call=_mha_call,
      init=lambda a, ins: f"nn.MultiheadAttention({src_args(a, ('embed_dim', 'num_heads'), _MHA_KW)})")
lower("arange", call=_arange_call)
lower("causal_mask", call=_causal_mask_call)
lower("matmul", call=lambda a, ins, args: f"torch.matmul({args[0]}, {args[1]})")
lower("bmm", call=lambda a, ins, args: f"torch.bmm({args[0]}, {args[1]})")
