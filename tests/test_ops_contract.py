"""Contract tests for every registered op: its shape rule, lowering, weight count, MACs and flags agree with PyTorch,
and every backend table (the PyTorch lowerings, the diagram's captions and colours) names registered ops only."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from archdsl import dims
from archdsl.backends.graphviz.labels import CAPTIONS, SYMBOLS
from archdsl.backends.graphviz.style import FAMILY_COLOURS
from archdsl.backends.torch.lowerings import LOWERINGS, lowering
from archdsl.errors import ShapeRuleError, Span
from archdsl.ops import REGISTRY, bind
from archdsl.ops.registry import Attrs
from archdsl.ops._util import window_out
from archdsl.ops.attention import mha_masks


SPAN = Span("t", 1, 1)
SCOPE = {"torch": torch, "nn": torch.nn, "F": F}
FAMILIES = {"conv", "pool", "linear", "norm", "activation", "dropout", "tensor", "merge", "stochastic", "loss"}
FAMILIES |= {"recurrent", "attention"}
FAMILIES |= {"resize"}


def attrs(name: str, kw: dict):
    op = REGISTRY.get(name)
    given = dict.fromkeys((k for k in op.call_keywords if kw.get(k)), True)  # tensor keyword inputs of the call
    return Attrs({**bind(op, [], {k: (v, SPAN) for k, v in kw.items() if k not in given}, SPAN), **given})


# --- strategies: each draws (kwargs, input shapes) that the op must accept ------------------------------------

def shapes(min_rank=1, max_rank=4, lo=1, hi=4):
    return st.lists(st.integers(lo, hi), min_size=min_rank, max_size=max_rank).map(tuple)


def ints_arg(draw, values: list):
    """Per-dim values as one int (when all equal, sometimes) or a tuple, as a user may write them."""
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else tuple(values)


def signed_dim(draw, d: int, rank: int) -> int:
    """Dim index `d`, sometimes written negative."""
    return d - rank if draw(st.booleans()) else d


@st.composite
def conv(draw, n):
    g = draw(st.integers(1, 2))
    k, d, s = ([draw(st.integers(lo, hi)) for _ in range(n)] for lo, hi in ((1, 3), (1, 2), (1, 2)))
    padding = draw(st.sampled_from(["int", "same", "valid"]))
    if padding == "same":
        s = [1] * n
    else:
        padding = padding if padding == "valid" else ints_arg(draw, [draw(st.integers(0, 1)) for _ in range(n)])
    size = [di * (ki - 1) + 1 + draw(st.integers(0, 3)) for ki, di in zip(k, d)]
    kw = dict(out_channels=g * draw(st.integers(1, 3)), kernel_size=ints_arg(draw, k), stride=ints_arg(draw, s),
              padding=padding, dilation=ints_arg(draw, d), groups=g, bias=draw(st.booleans()))
    return kw, [(draw(st.integers(1, 2)), g * draw(st.integers(1, 2)), *size)]


@st.composite
def conv_transpose(draw):
    g = draw(st.integers(1, 2))
    k, s, d = ([draw(st.integers(lo, hi)) for _ in range(2)] for lo, hi in ((1, 3), (1, 3), (1, 2)))
    p = [draw(st.integers(0, di * (ki - 1) // 2)) for ki, di in zip(k, d)]
    op = [draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d)]
    kw = dict(out_channels=g * draw(st.integers(1, 3)), kernel_size=ints_arg(draw, k), stride=ints_arg(draw, s),
              padding=ints_arg(draw, p), output_padding=ints_arg(draw, op), groups=g, bias=draw(st.booleans()),
              dilation=ints_arg(draw, d))
    return kw, [(draw(st.integers(1, 2)), g * draw(st.integers(1, 2)), *draw(shapes(2, 2, 1, 4)))]


@st.composite
def window_pool(draw, n, kind):
    k = [draw(st.integers(1, 3)) for _ in range(n)]
    p = [draw(st.integers(0, ki // 2)) for ki in k]
    d = [draw(st.integers(1, 2)) if kind == "max" else 1 for _ in range(n)]
    stride = draw(st.none() | st.lists(st.integers(1, 3), min_size=n, max_size=n))
    kw = dict(kernel_size=ints_arg(draw, k), stride=stride and ints_arg(draw, stride), padding=ints_arg(draw, p),
              ceil_mode=draw(st.booleans()))
    if kind == "max":
        kw["dilation"] = ints_arg(draw, d)
    else:
        kw["count_include_pad"] = draw(st.booleans())
    unpadded = kind == "avg" and n == 3  # PyTorch's avg_pool3d needs the kernel to fit without the padding
    size = [max(1, di * (ki - 1) + 1 - 2 * pi * (not unpadded)) + draw(st.integers(0, 4))
            for ki, pi, di in zip(k, p, d)]
    return kw, [(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)]


@st.composite
def adaptive(draw, n):
    out = [draw(st.integers(1, 4)) for _ in range(n)]
    return dict(output_size=ints_arg(draw, out)), [draw(shapes(n + 2, n + 2, 1, 6))]


@st.composite
def layernorm(draw):
    x = draw(shapes(1, 4))
    return dict(ndim=draw(st.integers(1, len(x))), eps=draw(st.sampled_from([1e-5, 1e-3])),
                elementwise_affine=draw(st.booleans())), [x]


@st.composite
def batchnorm(draw, ranks):
    rank = draw(st.sampled_from(ranks))
    x = draw(shapes(rank, rank, 2, 4))  # >1 value per channel: eval mode without running stats uses batch stats
    kw = dict(eps=draw(st.sampled_from([1e-5, 1e-3])), momentum=draw(st.sampled_from([0.1, 0.2])),
              affine=draw(st.booleans()), track_running_stats=draw(st.booleans()))
    return kw, [x]


@st.composite
def softmax(draw):
    x = draw(shapes())
    return dict(dim=signed_dim(draw, draw(st.integers(0, len(x) - 1)), len(x))), [x]


@st.composite
def flatten(draw):
    x = draw(shapes())
    start = draw(st.integers(0, len(x) - 1))
    end = draw(st.integers(start, len(x) - 1))
    return dict(start_dim=signed_dim(draw, start, len(x)), end_dim=signed_dim(draw, end, len(x))), [x]


@st.composite
def reshape(draw):
    x = draw(shapes())
    cuts = sorted(draw(st.sets(st.integers(1, len(x) - 1))) | {0, len(x)}) if len(x) > 1 else [0, 1]
    target = [dims.product(x[i:j]) for i, j in zip(cuts, cuts[1:])] + [1] * draw(st.integers(0, 1))
    entries = [0 if i < len(x) and v == x[i] and draw(st.booleans()) else v for i, v in enumerate(target)]
    if draw(st.booleans()):
        entries[draw(st.integers(0, len(entries) - 1))] = -1
    return dict(shape=entries), [x]


@st.composite
def permute(draw):
    x = draw(shapes())
    return dict(dims=[signed_dim(draw, d, len(x)) for d in draw(st.permutations(range(len(x))))]), [x]


@st.composite
def concat(draw):
    base = draw(shapes())
    dim = draw(st.integers(0, len(base) - 1))
    ins = [(*base[:dim], draw(st.integers(1, 3)), *base[dim + 1:]) for _ in range(draw(st.integers(1, 3)))]
    return dict(dim=signed_dim(draw, dim, len(base))), ins


@st.composite
def broadcast(draw):
    base = draw(shapes(1, 4, 2, 4))

    def side():
        keep = base[draw(st.integers(0, len(base) - 1)):]
        return tuple(1 if draw(st.booleans()) else v for v in keep)

    return {}, [side(), side()]


def plain(params=st.just({}), ins=shapes()):
    return st.tuples(params, ins.map(lambda x: [x]))


def fixed(**params):
    return st.fixed_dictionaries(params)


CASES = {
    "conv1d": conv(1), "conv2d": conv(2), "conv3d": conv(3), "conv_transpose2d": conv_transpose(),
    "maxpool1d": window_pool(1, "max"), "maxpool2d": window_pool(2, "max"), "maxpool3d": window_pool(3, "max"),
    "avgpool1d": window_pool(1, "avg"), "avgpool2d": window_pool(2, "avg"), "avgpool3d": window_pool(3, "avg"),
    "adaptive_avgpool1d": adaptive(1), "adaptive_avgpool2d": adaptive(2), "adaptive_avgpool3d": adaptive(3),
    "adaptive_maxpool1d": adaptive(1), "adaptive_maxpool2d": adaptive(2), "adaptive_maxpool3d": adaptive(3),
    "global_avgpool2d": plain(ins=shapes(4, 4)), "global_maxpool2d": plain(ins=shapes(4, 4)),
    "linear": plain(fixed(out_features=st.integers(1, 5), bias=st.booleans()), shapes(2, 4)),
    "batchnorm1d": batchnorm((2, 3)), "batchnorm2d": batchnorm((4,)), "batchnorm3d": batchnorm((5,)),
    "layernorm": layernorm(),
    "local_response_norm": plain(fixed(size=st.integers(1, 4), alpha=st.sampled_from([1e-4, 1e-2]),
                                       beta=st.sampled_from([0.75, 0.5]), k=st.sampled_from([1.0, 2.0])),
                                 shapes(3, 4)),
    "dropout": plain(fixed(p=st.sampled_from([0.0, 0.2, 0.5, 1.0]))),
    "dropout2d": plain(fixed(p=st.sampled_from([0.0, 0.5])), shapes(4, 4)),
    "relu": plain(), "sigmoid": plain(), "tanh": plain(), "identity": plain(),
    "sin": plain(), "cos": plain(), "exp": plain(),
    "leaky_relu": plain(fixed(negative_slope=st.sampled_from([0.01, 0.2]))),
    "elu": plain(fixed(alpha=st.sampled_from([1.0, 0.5]))),
    "gelu": plain(fixed(approximate=st.sampled_from(["none", "tanh"]))),
    "softmax": softmax(), "log_softmax": softmax(),
    "flatten": flatten(), "reshape": reshape(), "permute": permute(), "concat": concat(),
    "add": broadcast(), "sub": broadcast(), "mul": broadcast(),
    "scalar_arith": plain(fixed(op=st.sampled_from(["+", "-", "*", "/"]), value=st.sampled_from([0.5, 2.0, -1.0]),
                                reverse=st.booleans())),
}


# --- memory and routing ops (archdsl/ops/linalg.py, capsule.py, memory.py) ---------------------------------

@st.composite
def einsum(draw):
    size = {c: draw(st.integers(1, 3)) for c in "abcd"}
    terms = [draw(st.lists(st.sampled_from("abcd"), max_size=3, unique=True)) for _ in range(draw(st.integers(1, 2)))]
    batch = draw(shapes(0, 2, 1, 3)) if draw(st.booleans()) else None
    subs, ins = [], []
    for t in terms:
        shape = tuple(size[c] for c in t)
        if batch is not None:
            mine = tuple(1 if draw(st.booleans()) else d for d in batch[draw(st.integers(0, len(batch))):])
            shape = mine + shape
        subs.append(("..." if batch is not None else "") + "".join(t))
        ins.append(shape)
    eq = ",".join(subs)
    if draw(st.booleans()):
        used = sorted(set().union(*terms))
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        eq += "->" + ("..." if batch is not None else "") + "".join(out)
    return dict(equation=eq), ins


@st.composite
def pair_last(draw, lo=1, hi=4):
    """Two inputs whose dims but the last broadcast."""
    _, (a, b) = draw(broadcast())
    return {}, [a + (draw(st.integers(lo, hi)),), b + (draw(st.integers(lo, hi)),)]


@st.composite
def cosine(draw):
    _, ins = draw(broadcast())
    rank = max(map(len, ins))
    return dict(dim=signed_dim(draw, draw(st.integers(0, rank - 1)), rank),
                eps=draw(st.sampled_from([1e-8, 1e-6]))), ins


@st.composite
def reduce(draw, allow_none=True, single=False):
    x = draw(shapes())
    axes = draw(st.lists(st.integers(0, len(x) - 1), min_size=1, max_size=1 if single else len(x), unique=True))
    dim = [signed_dim(draw, d, len(x)) for d in axes]
    dim = None if allow_none and draw(st.booleans()) else (dim[0] if len(dim) == 1 else tuple(dim))
    return dict(dim=dim, keepdim=draw(st.booleans())), [x]


@st.composite
def along(draw, extra):
    """An input, a dim of it, and op parameters drawn by `extra(draw, size along that dim)`."""
    x = draw(shapes())
    d = draw(st.integers(0, len(x) - 1))
    return dict(dim=signed_dim(draw, d, len(x)), **extra(draw, x[d])), [x]


@st.composite
def new_zeros(draw):
    x = draw(shapes())
    n = draw(st.integers(1, 4))
    return dict(shape=[0 if i < len(x) and draw(st.booleans()) else draw(st.integers(1, 3)) for i in range(n)]), [x]


@st.composite
def caps_transform(draw):
    x = draw(shapes(0, 2, 1, 3)) + (draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    return dict(out_caps=draw(st.integers(1, 3)), out_dim=draw(st.integers(1, 4)),
                std=draw(st.sampled_from([0.01, 0.1]))), [x]


@st.composite
def circular(draw):
    kw, (w, s) = draw(pair_last())
    n = draw(st.integers(1, 6))
    return kw, [w[:-1] + (n,), s[:-1] + (draw(st.sampled_from([k for k in (1, 3, 5) if k <= n])),)]


@st.composite
def sharpen(draw):
    _, ins = draw(broadcast())
    rank = max(map(len, ins))
    return dict(dim=signed_dim(draw, draw(st.integers(0, rank - 1)), rank)), ins


@st.composite
def position(draw):
    x = draw(shapes(2, 4))
    return dict(dim=signed_dim(draw, draw(st.integers(0, len(x) - 2)), len(x))), [x]


@st.composite
def learned(draw):
    return (dict(shape=draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)), std=draw(st.sampled_from([0.0, 0.5]))),
            [draw(shapes(1, 3))])


CASES.update({
    "einsum": einsum(), "outer": pair_last(), "cosine_similarity": cosine(),
    "vector_norm": reduce(allow_none=False), "reduce_sum": reduce(), "reduce_mean": reduce(),
    "argmax": reduce(allow_none=False, single=True),
    "topk_mask": along(lambda draw, n: dict(k=draw(st.integers(1, n)))),
    "select": along(lambda draw, n: dict(index=draw(st.integers(-n, n - 1)))),
    "roll": along(lambda draw, n: dict(shifts=draw(st.integers(-3, 3)))),
    "new_zeros": new_zeros(), "new_eye": plain(fixed(n=st.integers(1, 4))),
    "softplus": plain(fixed(beta=st.sampled_from([1.0, 2.0]), threshold=st.sampled_from([20.0, 1.0]))),
    "squash": along(lambda draw, n: dict(eps=draw(st.sampled_from([1e-8, 1e-4])))),
    "caps_transform": caps_transform(), "circular_conv": circular(), "sharpen": sharpen(),
    "position_encode": position(), "learned_tensor": learned(),
})


# --- generative models (archdsl/ops/generative.py) -------------------------------------------------------

@st.composite
def same_pair(draw, **params):
    """Two inputs of one shape, and op parameters drawn from `params` (strategies)."""
    x = draw(shapes())
    return {k: draw(v) for k, v in params.items()}, [x, x]


@st.composite
def expand(draw):
    x = draw(shapes(1, 3))
    sizes = [-1 if draw(st.booleans()) else (draw(st.integers(1, 3)) if d == 1 else d) for d in x]
    return dict(sizes=[draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 1)))] + sizes), [x]


REDUCTION = st.sampled_from(["mean", "sum", "batchmean", "none"])
CASES.update({
    "reparameterize": same_pair(sample=st.sampled_from(["train", "never"])),  # eval mode: eps = 0
    "bce": same_pair(reduction=REDUCTION), "bce_with_logits": same_pair(reduction=REDUCTION),
    "mse": same_pair(reduction=REDUCTION), "kl_normal": same_pair(reduction=REDUCTION),
    "gan_discriminator_loss": st.tuples(fixed(logits=st.booleans()), st.tuples(shapes(), shapes()).map(list)),
    "gan_generator_loss": plain(fixed(non_saturating=st.booleans(), logits=st.booleans())),
    "expand": expand(), "ones_like": plain(), "zeros_like": plain(),
})


# --- recurrence and attention (archdsl/ops/recurrent.py, attention.py) ------------------------------------

@st.composite
def sequence_layer(draw, kind):
    """rnn/gru/lstm: batched in either layout or unbatched, with or without the initial state."""
    hidden, layers, bi = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.booleans())
    kw = dict(hidden_size=hidden, num_layers=layers, bidirectional=bi, batch_first=draw(st.booleans()),
              bias=draw(st.booleans()), dropout=draw(st.sampled_from([0.0, 0.3])) if layers > 1 else 0.0)
    if kind == "rnn":
        kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "lstm" and hidden > 1 and draw(st.booleans()):
        kw["proj_size"] = draw(st.integers(1, hidden - 1))
    n, t, f = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batched = draw(st.booleans())
    ins = [((n, t, f) if kw["batch_first"] else (t, n, f)) if batched else (t, f)]
    if draw(st.booleans()):
        lead = ((2 if bi else 1) * layers,) + ((n,) if batched else ())
        ins += [lead + (kw.get("proj_size") or hidden,)] + ([lead + (hidden,)] if kind == "lstm" else [])
    if batched and draw(st.booleans()):  # a packed call: `lstm1(x, lengths=lengths)`, lengths last
        kw["lengths"] = True
        ins.append((n,))
    return kw, ins


@st.composite
def recurrent_cell(draw, kind):
    hidden, f = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kw = dict(hidden_size=hidden, bias=draw(st.booleans()))
    if kind == "rnn":
        kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    lead = (draw(st.integers(1, 3)),) if draw(st.booleans()) else ()
    ins = [lead + (f,)] + ([lead + (hidden,)] * (2 if kind == "lstm" else 1) if draw(st.booleans()) else [])
    return kw, ins


@st.composite
def embedding(draw):
    v = draw(st.integers(1, 6))
    return (dict(num_embeddings=v, embedding_dim=draw(st.integers(1, 4)),
                 padding_idx=draw(st.none() | st.integers(-v, v - 1))), [draw(shapes(1, 3))])


@st.composite
def batch_full(draw):
    extra = draw(st.lists(st.integers(1, 3), max_size=3))
    return (dict(shape=extra, value=draw(st.sampled_from([0.0, 1.0, 2.0])),
                 dtype=draw(st.sampled_from(["float32", "int64", "bool"])),
                 batch_dim=draw(st.integers(0, len(extra)))), [draw(shapes(1, 3))])


@st.composite
def last_hidden(draw):
    bi = draw(st.booleans())
    lead = ((2 if bi else 1) * draw(st.integers(1, 2)),)
    return dict(bidirectional=bi), [lead + draw(shapes(1, 2))]


@st.composite
def scores(draw, same_size=False, **params):
    """A query [N, Dq] or [N, Tq, Dq] and source states [N, S, Dk]."""
    n, s, dq = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dk = dq if same_size else draw(st.integers(1, 4))
    q = (n, dq) if draw(st.booleans()) else (n, draw(st.integers(1, 3)), dq)
    return {k: draw(v) for k, v in params.items()}, [q, (n, s, dk)]


@st.composite
def weights_over(draw, mask=False):
    """Attention weights [N, S] or [N, Tq, S], with a mask or with values [N, S, D]."""
    n, s = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    w = (n, s) if draw(st.booleans()) else (n, draw(st.integers(1, 3)), s)
    if mask:
        return {}, [w, w if draw(st.booleans()) else (n, s)]
    return {}, [w, (n, s, draw(st.integers(1, 4)))]


@st.composite
def attentional(draw):
    lead = draw(shapes(1, 2))
    return (dict(units=draw(st.integers(1, 4)), bias=draw(st.booleans())),
            [lead + (draw(st.integers(1, 4)),), lead + (draw(st.integers(1, 4)),)])


@st.composite
def matmul(draw):
    """torch.matmul operands; the right one has rank 2 or more (FlopCounterMode does not count mv and dot)."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    _, (p, q) = draw(broadcast()) if draw(st.booleans()) else ({}, [(), ()])
    left = (k,) if k > 1 and m > 1 and draw(st.booleans()) else p + (n, k)  # else a vector runs as mv, mul
    return {}, [left, q + (k, m)]


@st.composite
def bmm(draw):
    b, n, k, m = (draw(st.integers(1, 3)) for _ in range(4))
    return {}, [(b, n, k), (b, k, m)]


UNITS = st.integers(1, 4)
CASES.update({
    "embedding": embedding(), "rnn": sequence_layer("rnn"), "gru": sequence_layer("gru"),
    "lstm": sequence_layer("lstm"), "rnn_cell": recurrent_cell("rnn"), "gru_cell": recurrent_cell("gru"),
    "lstm_cell": recurrent_cell("lstm"), "token_mask": plain(fixed(pad=st.integers(0, 2))),
    "batch_full": batch_full(), "last_hidden": last_hidden(),
    "dot_score": scores(same_size=True), "general_score": scores(), "concat_score": scores(units=UNITS),
    "additive_score": scores(units=UNITS), "masked_softmax": weights_over(mask=True), "attend": weights_over(),
    "attentional_state": attentional(), "matmul": matmul(), "bmm": bmm(),
})


# --- the ops of today's architectures (activations, stochastic depth, layernorm2d, tensor ops, attention) -----

@st.composite
def gather(draw):
    x = draw(shapes())
    d = draw(st.integers(0, len(x) - 1))
    index = tuple(draw(st.integers(1, 4)) if i == d else draw(st.integers(1, n)) for i, n in enumerate(x))
    return dict(dim=signed_dim(draw, d, len(x))), [x, index]


@st.composite
def flip(draw):
    x = draw(shapes())
    axes = [signed_dim(draw, d, len(x)) for d in draw(st.lists(st.integers(0, len(x) - 1), min_size=1, unique=True))]
    return dict(dims=ints_arg(draw, axes) if len(axes) == 1 else tuple(axes)), [x]


@st.composite
def sdpa(draw):
    """query [*B, L, E], key [*B, S, E], value [*B, S, Ev] with broadcasting batch dims; a mask or is_causal."""
    _, (bq, bk) = draw(broadcast()) if draw(st.booleans()) else ({}, [(), ()])
    L, S, e, ev = (draw(st.integers(1, 4)) for _ in range(4))
    ins = [bq + (L, e), bk + (S, e), bk + (S, ev)]
    kw = dict(dropout_p=draw(st.sampled_from([0.0, 0.5])), scale=draw(st.none() | st.sampled_from([0.5, 2.0])))
    if draw(st.booleans()):
        ins.append(tuple(1 if draw(st.booleans()) else d for d in (bq + (L, S))[draw(st.integers(0, len(bq))):]))
    else:
        kw["is_causal"] = draw(st.booleans())
    return kw, ins


@st.composite
def multihead(draw):
    heads, n, L, S = (draw(st.integers(1, 3)) for _ in range(4))
    e = heads * draw(st.integers(1, 3))
    kw = dict(embed_dim=e, num_heads=heads, bias=draw(st.booleans()), batch_first=draw(st.booleans()),
              dropout=draw(st.sampled_from([0.0, 0.5])), kdim=draw(st.none() | st.integers(1, 4)),
              vdim=draw(st.none() | st.integers(1, 4)), mask=draw(st.sampled_from(["attn", "key_padding"])))
    batched = draw(st.booleans())

    def seq(length, features):
        return ((n, length) if kw["batch_first"] else (length, n)) + (features,) if batched else (length, features)

    ins = [seq(L, e), seq(S, kw["kdim"] or e), seq(S, kw["vdim"] or e)]
    attn = (L, S) if draw(st.booleans()) else ((n if batched else 1) * heads, L, S)
    padding = (n, S) if batched else (S,)
    masks = draw(st.sampled_from([[], [attn, padding], [attn if kw["mask"] == "attn" else padding]]))
    kw.update(need_weights=draw(st.booleans()), average_attn_weights=draw(st.booleans()))
    if "attn" not in mha_masks(SimpleNamespace(mask=kw["mask"]), len(ins + masks)):  # else the mask is given
        kw["is_causal"] = draw(st.booleans())
    return kw, ins + masks


@st.composite
def padding(draw):
    """F.pad in each mode: 'constant' by amounts that may crop (torch crops before it pads, and at least one
    entry is left), the border modes on 1 to 3 dims of a batched or unbatched input by what torch takes
    (reflect: less than the size, circular: at most the size)."""
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    pairs = draw(st.integers(1, 3))
    x = draw(shapes(pairs, 4)) if mode == "constant" else draw(shapes(pairs + 1, pairs + 2))
    amounts = []
    for d in reversed(x[len(x) - pairs:]):  # the last dim's pair first
        if mode == "constant":
            before = draw(st.integers(-d, 3))
            low = max(1 - d - before, -d - min(before, 0))
            amounts += [before, draw(st.integers(low, max(low, 3)))]
        else:
            top = {"reflect": d - 1, "circular": d}.get(mode, 3)
            amounts += [draw(st.integers(0, top)), draw(st.integers(0, top))]
    value = {"value": draw(st.sampled_from([0.0, 1.5]))} if mode == "constant" else {}
    return dict(pad=amounts, mode=mode, **value), [x]


ACTIVATIONS = ("relu6", "hardswish", "hardsigmoid", "silu", "mish")
CASES.update({name: plain() for name in ACTIVATIONS})
CASES.update({
    "stochastic_depth": plain(fixed(p=st.sampled_from([0.0, 0.2, 1.0]), mode=st.sampled_from(["row", "batch"]))),
    "layernorm2d": plain(fixed(eps=st.sampled_from([1e-5, 1e-6]), elementwise_affine=st.booleans()), shapes(4, 4)),
    "one_hot": plain(fixed(num_classes=st.integers(1, 5)), shapes(1, 3)), "gather": gather(), "flip": flip(), "pad": padding(),
    "cast": plain(fixed(dtype=st.sampled_from(["float32", "float64", "int64", "int32", "bool"]))),
    "reduce_max": reduce(), "reduce_min": reduce(), "argmin": reduce(allow_none=False, single=True),
    "scaled_dot_product_attention": sdpa(), "multi_head_attention": multihead(),
    "arange": plain(fixed(dim=st.integers(-1, 0), start=st.integers(0, 3))),
    "causal_mask": plain(fixed(dim=st.integers(-1, 0))),
})


# --- Swin's shifted-window attention (archdsl/ops/window_attention.py; tests/test_window_attention.py computes it
# by hand) ------------------------------------------------------------------------------------------------------

@st.composite
def window_attention(draw, smallest=1):
    """x [N, H, W, C] with H and W not multiples of the window as often as multiples, a shift below the window;
    v2 (smallest=2) normalizes its offsets by window - 1."""
    heads = draw(st.integers(1, 2))
    window = [draw(st.integers(smallest, 4)) for _ in range(2)]
    kw = dict(window_size=ints_arg(draw, window), num_heads=heads,
              shift_size=ints_arg(draw, [draw(st.integers(0, w - 1)) for w in window]),
              attention_dropout=draw(st.sampled_from([0.0, 0.5])), dropout=draw(st.sampled_from([0.0, 0.5])))
    return kw, [(draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9)), heads * draw(UNITS))]


CASES.update({"shifted_window_attention": window_attention(), "shifted_window_attention_v2": window_attention(2)})


# --- MaxViT's relative-position attention (archdsl/ops/maxvit_attention.py; tests/test_maxvit.py computes it by
# hand) ---------------------------------------------------------------------------------------------------------

@st.composite
def relative_position_attention(draw):
    """x [*B, Wh Ww, C] with 0 to 2 leading dims, C a multiple of head_dim."""
    window = [draw(st.integers(1, 3)) for _ in range(2)]
    kw = dict(head_dim=draw(st.integers(1, 3)), window_size=ints_arg(draw, window))
    lead = draw(shapes(0, 2, 1, 3))
    return kw, [lead + (window[0] * window[1], kw["head_dim"] * draw(st.integers(1, 3)))]


CASES["relative_position_attention"] = relative_position_attention()


# --- subscripts, chunk, split, narrow and bare parameters (archdsl/ops/indexing.py) ---------------------------

@st.composite
def subscript(draw):
    """A static subscript of a drawn shape: indices (some negative), non-empty slices, `...` and None."""
    x = draw(shapes())
    entries = []
    for d in x:
        if draw(st.booleans()):
            entries.append(("i", draw(st.integers(-d, d - 1))))
            continue
        bounds = (draw(st.none() | st.integers(-d, d)), draw(st.none() | st.integers(-d, d)),
                  draw(st.none() | st.integers(1, 3)))
        entries.append(("s", *bounds) if len(range(d)[slice(*bounds)]) else ("s", None, None, None))
    if draw(st.booleans()):
        entries = entries[:draw(st.integers(0, len(entries)))] + [("e",)]
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), ("n",))
    return dict(subscript=tuple(entries)), [x]


def chunks(draw, d):
    """A number of chunks that torch.chunk gives exactly (5 into 4 gives 3)."""
    return dict(chunks=draw(st.sampled_from([k for k in range(1, d + 1) if -(-d // -(-d // k)) == k])))


def split_sizes(draw, d):
    cuts = sorted(draw(st.sets(st.integers(1, d - 1))) if d > 1 else [])
    return dict(sizes=[b - a for a, b in zip([0] + cuts, cuts + [d])])


def narrow(draw, d):
    start = draw(st.integers(0, d - 1))
    return dict(start=start, length=draw(st.integers(1, d - start)))


CASES.update({
    "index": subscript(), "chunk": along(chunks), "split": along(split_sizes), "narrow": along(narrow),
    "if_training": st.tuples(st.just({}), shapes().map(lambda s: [s, s])),
    "tied_linear": plain(fixed(source=st.just("wte"), bias=st.booleans(), num_embeddings=st.integers(1, 4),
                               embedding_dim=st.just(3)), shapes(1, 3).map(lambda s: s + (3,))),
    "parameter": st.tuples(fixed(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), std=st.just(0.5),
                                 init=st.sampled_from(["zeros", "ones", "normal", "trunc_normal", 0.5])), st.just([])),
})


# --- resizing (archdsl/ops/resize.py) -----------------------------------------------------------------------

@st.composite
def interpolate(draw):
    """F.interpolate in each mode at its rank, to a drawn size or to the spatial size of a second tensor."""
    mode = draw(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
    rank = draw(st.sampled_from([3, 4, 5])) if mode == "nearest" else {"linear": 3, "trilinear": 5}.get(mode, 4)
    x = draw(shapes(rank, rank, 1, 5))
    kw = dict(mode=mode, align_corners=draw(st.booleans()) and mode != "nearest")
    size = [draw(st.integers(1, 7)) for _ in range(rank - 2)]
    if draw(st.booleans()):
        return dict(kw, size=ints_arg(draw, size)), [x]
    return kw, [x, (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *size)]


CASES["interpolate"] = interpolate()
# Parameters a layer shares with another layer, which counts them: {(op, parameter name)}
SHARED = {("tied_linear", "weight")}
# Inputs that hold positions: {op: (which input, the size its entries stay below)}
INDEX_INPUTS = {"gather": (1, lambda a, ins: ins[0][a.dim])}


def test_every_op_has_a_contract_case():
    assert sorted(CASES) == REGISTRY.names()


def test_every_op_has_a_lowering_and_every_lowering_an_op():
    assert sorted(LOWERINGS) == REGISTRY.names()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_flags_agree_with_the_lowering(name):
    op, low = REGISTRY.get(name), LOWERINGS[name]
    assert low.init or low.call
    assert op.layer_only == (low.call is None) and op.inline_only == (low.init is None)
    if low.layer_call:  # a layer called in its own way is never a step of an nn.Sequential
        assert not op.chainable


def test_drawing_tables_name_registered_ops():
    assert set(CAPTIONS) | set(SYMBOLS) <= set(REGISTRY.names())
    assert FAMILIES <= set(FAMILY_COLOURS)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", REGISTRY.names())
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_op_contract(name, data):
    op, low = REGISTRY.get(name), lowering(REGISTRY.get(name))
    assert op.doc and op.shape_doc and op.family in FAMILIES
    kw, ins = data.draw(CASES[name], label="kwargs, inputs")
    a = attrs(name, kw)
    op = op.called(a)  # its output structure for these attributes (chunk's parts, the attention weights)
    assert op.inputs is None or len(ins) - sum(k in a for k in op.call_keywords) in op.arities
    out = op.shape(a, ins)
    main = out[0] if op.outputs is not None else out  # the shape cost rules see (a multi-output op's first)
    expected = [tuple(o) for o in out] if op.outputs is not None else tuple(out)
    xs = [example_input(op, a, s, index_bound(name, a, ins, i)) for i, s in enumerate(ins)]
    if a.get("lengths"):  # every sequence full length: packing skips no step, so torch counts all T steps' MACs
        xs[-1] = torch.full(ins[-1], ins[0][1 if a.batch_first else 0])
    names = [f"x{i}" for i in range(len(xs))]
    scope = dict(SCOPE)
    exec(low.support, scope)  # helper classes/functions the lowering refers to (Lowering.support)
    env = {**scope, "self": SimpleNamespace(training=False), **dict(zip(names, xs))}
    want = None
    if low.init:
        module = eval(low.init(a, ins), scope)
        if isinstance(module, torch.nn.Parameter):  # a bare parameter (`parameter`): the layer's value itself
            assert tuple(module.shape) == expected and module.numel() == op.weights(a, ins)
            return
        module = module.eval()
        assert sum(p.numel() for n, p in module.named_parameters() if (name, n) not in SHARED) == op.weights(a, ins)
        call = lambda srcs: eval(low.layer_call(a, ins, "module", srcs), {**env, "module": module})  # noqa: E731
        run = lambda: call(names) if low.layer_call else module(xs) if op.inputs is None else module(*xs)  # noqa: E731
        with countable(op), FlopCounterMode(display=False) as flops:
            want = run()
        assert shapes_of(want) == expected
        assert 2 * op.macs(a, ins, main) == flops.get_total_flops()
        if low.layer_call:  # inputs given as expressions must keep their meaning
            torch.testing.assert_close(call([f"1 * {n} + 0" for n in names]), want)
        if not op.depends_on_training(a):  # then training mode computes the same
            module.train()
            with countable(op):
                torch.testing.assert_close(run(), want)
        check_layer_sizes(op, low, a, ins)
    else:
        assert op.weights(a, ins) == 0
    if low.call:
        assert ("self.training" in low.call(a, ins, call_args(op, names))) == op.depends_on_training(a)
        with countable(op), FlopCounterMode(display=False) as flops:
            got = eval(low.call(a, ins, call_args(op, names)), env)
        assert shapes_of(got) == expected
        if want is None:  # functional ops count MACs as PyTorch runs them (einsum: its contraction; most: 0)
            assert 2 * op.macs(a, ins, main) == flops.get_total_flops()
        if want is not None:
            torch.testing.assert_close(got, want, equal_nan=True)
        # inputs given as expressions must keep their meaning (parenthesized where needed)
        again = eval(low.call(a, ins, call_args(op, [f"1 * {n} + 0" for n in names])), env)
        torch.testing.assert_close(again, got, equal_nan=True)


def countable(op):
    """FlopCounterMode misses oneDNN's RNN kernels and the fused CPU attention kernels: run the plain ones."""
    return torch.backends.mkldnn.flags(enabled=False) if op.family == "recurrent" else sdpa_kernel(SDPBackend.MATH)


def index_bound(name, a, ins, i):
    """The bound of input i's entries when it holds positions (INDEX_INPUTS), else None."""
    which, bound = INDEX_INPUTS.get(name, (None, None))
    return bound(a, ins) if i == which else None


def example_input(op, a, shape, high=None):
    """A random input: positions below `high`, token ids below the attribute named by `ids_below` (embedding),
    probabilities for ops marked `unit_interval`, normal samples otherwise."""
    if high is not None or op.ids_below:
        return torch.randint(0, high or a[op.ids_below], shape)
    return torch.rand(shape) if op.unit_interval else torch.randn(shape)


def check_layer_sizes(op, low, a, ins):
    """`Op.sizes` names exactly the input sizes the constructor reads: growing one input dim changes the
    constructor's source if and only if it changes the sizes."""
    for other in grown(ins):
        try:
            op.shape(a, other)
        except ShapeRuleError:
            continue
        assert (low.init(a, other) == low.init(a, ins)) == (op.sizes(a, other) == op.sizes(a, ins)), other


def grown(ins):
    """The input shapes with one dim grown by one, for each dim of each input."""
    for i, shape in enumerate(ins):
        for k in range(len(shape)):
            yield [s if j != i else (*s[:k], s[k] + 1, *s[k + 1:]) for j, s in enumerate(ins)]


def shapes_of(value):
    """A tensor's shape, or the flat list of shapes of a (nested) tuple of tensors: nn.LSTM's output, (h, c)."""
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in (shapes_of(v) if isinstance(v, (tuple, list)) else [tuple(v.shape)])]
    return tuple(value.shape)


def call_args(op, sources: list) -> list:
    """`args` as codegen passes them: one source per input, or the source of the list for list-input ops."""
    return [f"[{', '.join(sources)}]"] if op.inputs is None else sources


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 3),
       ceil_mode=st.booleans(), data=st.data())
def test_window_out_matches_torch_pooling(size, k, s, d, ceil_mode, data):
    p = data.draw(st.integers(0, k // 2))
    try:
        want = F.max_pool1d(torch.zeros(1, 1, size), k, s, p, d, ceil_mode=ceil_mode).shape[-1]
    except RuntimeError:
        want = None
    try:
        got = window_out("maxpool1d", size, k, s, p, d, ceil_mode)
    except ShapeRuleError:
        got = None
    assert got == want
    if got is not None:
        symbolic = window_out("maxpool1d", dims.symbol("H"), k, s, p, d, ceil_mode)
        assert dims.substitute(symbolic, {"H": size}) == got


N, H = dims.symbol("N"), dims.symbol("H")

SYMBOLIC = [
    ("conv2d", dict(out_channels=4, kernel_size=3, stride=2, padding=1), lambda n, h: [(n, 3, h, h + 2)]),
    ("conv2d", dict(out_channels=4, kernel_size=(2, 3), stride=3, dilation=2), lambda n, h: [(n, 3, h, h)]),
    ("maxpool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), lambda n, h: [(n, 3, h, h + 1)]),
    ("maxpool2d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), lambda n, h: [(n, 3, h, h)]),
    ("maxpool2d", dict(kernel_size=3, stride=3, padding=1, ceil_mode=True), lambda n, h: [(n, 3, h, h)]),
    ("avgpool2d", dict(kernel_size=3, stride=2, ceil_mode=True), lambda n, h: [(n, 3, h, h)]),
    ("avgpool2d", dict(kernel_size=2), lambda n, h: [(n, 3, h, 2 * h)]),
    ("conv3d", dict(out_channels=4, kernel_size=(3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
     lambda n, h: [(n, 3, h, 5, h)]),
    ("avgpool3d", dict(kernel_size=(2, 7, 7), stride=1), lambda n, h: [(n, 3, h, h + 6, 7)]),
    ("conv_transpose2d", dict(out_channels=2, kernel_size=4, stride=2, padding=1, output_padding=1),
     lambda n, h: [(n, 3, h, h)]),
    ("linear", dict(out_features=5), lambda n, h: [(n, h, 8)]),
    ("flatten", dict(), lambda n, h: [(n, 2, h, h)]),
    ("reshape", dict(shape=[0, -1]), lambda n, h: [(n, 4, h, h)]),
    ("reshape", dict(shape=[-1, 4, 0]), lambda n, h: [(n, 8, h)]),
    ("concat", dict(dim=-1), lambda n, h: [(n, 3, h), (n, 3, 2 * h), (n, 3, 1)]),
]


@pytest.mark.parametrize("name, kw, make", SYMBOLIC, ids=[case[0] for case in SYMBOLIC])
def test_symbolic_shape_matches_concrete(name, kw, make):
    op, a = REGISTRY.get(name), attrs(name, kw)
    symbolic = op.shape(a, make(N, H))
    checked = 0
    for n in (1, 3):
        for h in range(1, 14):
            try:
                concrete = op.shape(a, make(n, h))
            except ShapeRuleError:
                continue
            assert tuple(dims.substitute(d, {"N": n, "H": h}) for d in symbolic) == concrete
            checked += 1
    assert checked


ERRORS = [
    ("conv2d", dict(out_channels=4, kernel_size=3), [(1, 3, 8)], r"rank-4 input, got rank 3"),
    ("conv2d", dict(out_channels=4, kernel_size=3, groups=2), [(1, 3, 8, 8)], r"groups=2 .*\(3\)"),
    ("conv2d", dict(out_channels=4, kernel_size=5), [(1, 3, 3, 3)], r"does not fit .* size 3"),
    ("maxpool2d", dict(kernel_size=5), [(1, 3, 3, 3)], r"does not fit .* size 3"),
    ("maxpool2d", dict(kernel_size=3, padding=2), [(1, 3, 8, 8)], r"padding 2 .* kernel size 3"),
    # torch.nn.AvgPool3d(2, padding=1) rejects a size-1 dim ("smaller than kernel size"); AvgPool2d does not
    ("avgpool3d", dict(kernel_size=2, padding=1), [(1, 3, 4, 1, 4)], r"kernel size 2 .* dim 3 of size 1"),
    ("conv_transpose2d", dict(out_channels=2, kernel_size=3, output_padding=1), [(1, 3, 4, 4)], "output_padding"),
    ("linear", dict(out_features=4), [(N, H)], r"static feature dim"),
    ("concat", dict(dim=1), [(2, 3, 4), (2, 5, 4), (2, 3, 5)], r"input 2 has shape \[2, 3, 5\] .* \[2, 3, 4\]"),
    ("concat", dict(dim=0), [(2, 3), (2, 3, 1)], r"input 1 has shape \[2, 3, 1\]"),
    ("add", {}, [(2, 3), (2, 4)], r"\[2, 3\] with \[2, 4\]: dim -1 is 3 vs 4"),
    ("mul", {}, [(N, 3, 5), (4, 1)], r"\[N, 3, 5\] with \[4, 1\]: dim -2 is 3 vs 4"),
    ("softmax", dict(dim=2), [(2, 3)], r"dim=2 is out of range for the rank-2 input"),
    ("flatten", dict(start_dim=-1, end_dim=1), [(2, 3, 4)], r"start_dim=-1 comes after end_dim=1"),
    ("permute", dict(dims=[0, 0, 1]), [(2, 3, 4)], r"not a permutation"),
    ("reshape", dict(shape=[0, 5]), [(2, 6)], r"cannot view \[2, 6\] \(12 elements\)"),
    ("reshape", dict(shape=[0, 4]), [(N, 6)], r"cannot view \[N, 6\]"),
    ("reshape", dict(shape=[5, -1]), [(2, 6)], r"cannot view"),
    ("batchnorm2d", {}, [(2, 3, 4)], r"rank-4 input"),
    ("dropout", dict(p=1.5), [(2, 3)], r"at most 1"),
    ("stochastic_depth", dict(p=1.5), [(2, 3)], r"p=1.5 .* at most 1"),
    ("layernorm2d", {}, [(2, 3, 4)], r"rank-4 input"),
    ("layernorm2d", {}, [(N, H, 4, 4)], r"static channel dim"),
    ("gather", dict(dim=1), [(2, 3), (2, 3, 1)], r"index \[2, 3, 1\] must have the rank"),
    ("gather", dict(dim=1), [(2, 3), (4, 1)], r"larger than the input \[2, 3\] in dim 0"),
    ("flip", dict(dims=(0, -2)), [(2, 3)], r"names a dim twice"),
    ("reduce_max", dict(dim=2), [(2, 3)], r"dim=2 is out of range"),
    ("scaled_dot_product_attention", {}, [(2, 4, 8), (2, 5, 6), (2, 5, 6)], r"one size E in the last dim"),
    ("scaled_dot_product_attention", {}, [(2, 4, 8), (2, 5, 8), (2, 6, 8)], r"one length S in dim -2"),
    ("scaled_dot_product_attention", {}, [(2, 4, 8), (3, 5, 8), (3, 5, 8)], r"batch dims \[2\] and \[3\]"),
    ("scaled_dot_product_attention", dict(is_causal=True), [(4, 8), (5, 8), (5, 8), (4, 5)], r"not both"),
    ("scaled_dot_product_attention", {}, [(4, 8), (5, 8), (5, 8), (4, 6)], r"mask \[4, 6\] does not broadcast"),
    ("multi_head_attention", dict(embed_dim=10, num_heads=4), [(2, 3, 10)] * 3, r"divisible by num_heads=4"),
    ("multi_head_attention", dict(embed_dim=8, num_heads=2), [(2, 3, 8), (2, 5, 6), (2, 5, 8)],
     r"key \[2, 5, 6\] needs 8"),
    ("multi_head_attention", dict(embed_dim=8, num_heads=2), [(2, 3, 8), (4, 5, 8), (4, 5, 8)], r"batch sizes"),
    ("multi_head_attention", dict(embed_dim=8, num_heads=2), [(2, 3, 8)] * 3 + [(3, 4)], r"attn_mask \[3, 4\]"),
    ("multi_head_attention", dict(embed_dim=8, num_heads=2, mask="key_padding"), [(2, 3, 8)] * 3 + [(3, 3)],
     r"key_padding_mask \[3, 3\] must be \[2, 3\]"),
]


SWIN = dict(window_size=4, num_heads=2)
ERRORS += [
    ("shifted_window_attention", SWIN, [(2, 16, 8)], r"rank-4 input \[N, H, W, C\], got rank 3"),
    ("shifted_window_attention", SWIN, [(2, 8, 8, 5)], r"5 channels, not divisible by num_heads=2"),
    ("shifted_window_attention", SWIN, [(N, H, H, H)], r"static channel dim"),
    ("shifted_window_attention", dict(SWIN, shift_size=(2, 4)), [(2, 8, 8, 4)], r"must be smaller than"),
    ("shifted_window_attention", dict(SWIN, window_size=(1, 3, 3)), [(2, 8, 8, 4)], r"needs 2 values"),
    ("shifted_window_attention", dict(SWIN, window_size=65), [(2, 8, 8, 4)], r"more than 4096 positions"),
    ("shifted_window_attention", dict(SWIN, dropout=2.0), [(2, 8, 8, 4)], r"at most 1"),
    ("shifted_window_attention_v2", dict(SWIN, window_size=(1, 4)), [(2, 8, 8, 4)], r"window of 2 or more"),
]

MAXVIT = dict(head_dim=4, window_size=2)
ERRORS += [
    ("relative_position_attention", MAXVIT, [(8,)], r"rank 2 or more"),
    ("relative_position_attention", MAXVIT, [(2, 4, 6)], r"6 features, not divisible by head_dim=4"),
    ("relative_position_attention", MAXVIT, [(2, 4, H)], r"static feature dim"),
    ("relative_position_attention", MAXVIT, [(2, 5, 8)], r"2x2 = 4 positions of a window in dim -2, got 5"),
    ("relative_position_attention", MAXVIT, [(2, H, 8)], r"H must be 4: `relative_position_attention` compares dim -2"),
    ("relative_position_attention", dict(MAXVIT, window_size=(1, 2, 2)), [(2, 4, 8)], r"needs 2 values"),
    ("relative_position_attention", dict(MAXVIT, window_size=65), [(2, 4, 8)], r"more than 4096 positions"),
]


@pytest.mark.parametrize("name, kw, ins, match", ERRORS, ids=[case[0] for case in ERRORS])
def test_shape_errors(name, kw, ins, match):
    with pytest.raises(ShapeRuleError, match=match):
        REGISTRY.get(name).shape(attrs(name, kw), ins)


def test_registry_rejects_duplicate_name():
    relu = REGISTRY.get("relu")
    with pytest.raises(ValueError, match="registered twice"):
        REGISTRY.register(relu)
    assert REGISTRY.get("relu") is relu
