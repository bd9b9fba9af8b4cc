"""Attention: the score layers are plain torch modules (nn.Linear, nn.Sequential, nn.ModuleDict) whose call is
written inline around them; scores, masked softmax and context vectors are torch.bmm and torch.softmax;
F.scaled_dot_product_attention, and nn.MultiheadAttention called with need_weights=False."""
from __future__ import annotations

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


def _mha_call(a, ins, m, args) -> str:
    kinds = ("attn", "key_padding") if len(args) == 5 else (a.mask,)
    masks = [f"{kind}_mask={src}" for kind, src in zip(kinds, args[3:])]
    return f"{m}({', '.join(args[:3] + ['need_weights=False'] + masks)})[0]"


lower("scaled_dot_product_attention", call=_sdpa_call)
lower("multihead_attention", layer_call=_mha_call,
      init=lambda a, ins: f"nn.MultiheadAttention({src_args(a, ('embed_dim', 'num_heads'), _MHA_KW)})")
lower("matmul", call=lambda a, ins, args: f"torch.matmul({args[0]}, {args[1]})")
lower("bmm", call=lambda a, ins, args: f"torch.bmm({args[0]}, {args[1]})")
