"""Recurrent ops: embedding, the multi-layer rnn/lstm/gru (nn.RNN, nn.LSTM, nn.GRU), their single-step cells,
and the small helpers that recurrent specs need (masks, initial states, the final hidden state).

The sequence layers return what PyTorch returns, so a spec reads like PyTorch code:

    ys, h = gru1(x)                # nn.GRU:  output [N, T, D*H], h_n [D*L, N, H]
    ys, (h, c) = lstm1(x, h0, c0)  # nn.LSTM: output, (h_n, c_n); the initial state is optional
    h, c = cell(x_t, h, c)         # nn.LSTMCell

Unlike PyTorch, batch_first defaults to true: sequences are [N, T, F] in specs.
"""
from __future__ import annotations

from ..dims import fmt_shape, product
from ..errors import ShapeRuleError
from ._util import expect_min_rank, expect_rank, mismatch, static_dim
from .dtypes import ATTR_DTYPE, IDS, INTS, LAYER, DtypeRuleError
from .registry import Param, register

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_TORCH = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


# --- embedding -------------------------------------------------------------------------------------------------

def _embedding_shape(a, ins):
    if a.padding_idx is not None and not -a.num_embeddings <= a.padding_idx < a.num_embeddings:
        raise ShapeRuleError(f"`embedding` padding_idx={a.padding_idx} is not a token id of the "
                             f"{a.num_embeddings}-entry table")
    return (*ins[0], a.embedding_dim)


register(
    name="embedding", family="recurrent",
    doc="A lookup table of learned vectors for integer token ids (nn.Embedding).",
    params=(Param("num_embeddings", "int", min=1, doc="vocabulary size: token ids are 0..num_embeddings-1"),
            Param("embedding_dim", "int", min=1),
            Param("padding_idx", "int", None, doc="the id whose vector stays zero and gets no gradient")),
    shape=_embedding_shape, layer_only=True, ids_below="num_embeddings",
    weights=lambda a, ins: a.num_embeddings * a.embedding_dim,
    shape_doc="[*S] integer ids -> [*S, embedding_dim]", dtypes=IDS("float32"),
)


# --- multi-layer rnn / lstm / gru ------------------------------------------------------------------------------

def _seq_params(kind: str) -> tuple:
    extra: tuple[Param, ...] = ()
    if kind == "rnn":
        extra = (Param("nonlinearity", "str", "tanh", choices=("tanh", "relu")),)
    if kind == "lstm":
        extra = (Param("proj_size", "int", 0, min=0, doc="project h to this size (LSTM with projections)"),)
    return (Param("hidden_size", "int", min=1), Param("num_layers", "int", 1, min=1, limit="max_repeat"),
            Param("bias", "bool", True),
            Param("batch_first", "bool", True, doc="[N, T, F] sequences (PyTorch's default is [T, N, F])"),
            Param("dropout", "float", 0.0, min=0, doc="dropout between layers (training only)"),
            Param("bidirectional", "bool", False)) + extra


def _out_size(a) -> int:
    return a.get("proj_size") or a.hidden_size


def _seq_dims(kind: str, a, ins):
    """(batched, N, T, input features, directions) of a sequence layer's input; checks the state inputs."""
    x = ins[0]
    expect_rank(kind, x, (2, 3), "sequence")
    if a.dropout > 1:
        raise ShapeRuleError(f"`{kind}` dropout={a.dropout} must be at most 1")
    if kind == "lstm" and a.proj_size and a.proj_size >= a.hidden_size:
        raise ShapeRuleError(f"`lstm` proj_size={a.proj_size} must be smaller than hidden_size={a.hidden_size}")
    batched = len(x) == 3
    n, t = ((x[0], x[1]) if a.batch_first else (x[1], x[0])) if batched else (None, x[0])
    features = static_dim(kind, x[-1], "feature dim (last dim)")
    d = 2 if a.bidirectional else 1
    return batched, n, t, features, d


def _state_shape(a, batched: bool, n, size: int) -> tuple:
    d = 2 if a.bidirectional else 1
    return (d * a.num_layers, n, size) if batched else (d * a.num_layers, size)


def _check_state(kind: str, what: str, got, want) -> None:
    if len(got) != len(want) or any(mismatch(p, q, "the recurrent layer compares") for p, q in zip(got, want)):
        raise ShapeRuleError(f"`{kind}` initial {what} must be {fmt_shape(want)} ([layers * directions, N, size]), "
                             f"got {fmt_shape(got)}")


def _without_lengths(kind: str, a, ins) -> list:
    """The inputs before a `lengths=` input, which is checked: [N], one length per sequence of a batch."""
    if not a.get("lengths"):
        return ins
    *ins, lengths = ins
    batched, n, _, _, _ = _seq_dims(kind, a, ins)
    if not batched:
        raise ShapeRuleError(f"`{kind}` with lengths= needs a batch of sequences, got the single sequence "
                             f"{fmt_shape(ins[0])}", hint="add a batch dim of 1, or leave out lengths=")
    if len(lengths) != 1 or mismatch(lengths[0], n, f"`{kind}` compares its lengths with the batch"):
        raise ShapeRuleError(f"`{kind}` lengths must be {fmt_shape((n,))} (one per sequence), got "
                             f"{fmt_shape(lengths)}")
    return ins


def _seq_shape(kind: str):
    def shape(a, ins):
        ins = _without_lengths(kind, a, ins)
        batched, n, t, _, d = _seq_dims(kind, a, ins)
        h_out = _out_size(a)
        y = ((n, t, d * h_out) if a.batch_first else (t, n, d * h_out)) if batched else (t, d * h_out)
        h = _state_shape(a, batched, n, h_out)
        if len(ins) > 1:
            _check_state(kind, "hidden state h0", ins[1], h)
        if kind != "lstm":
            return [y, h]
        c = _state_shape(a, batched, n, a.hidden_size)
        if len(ins) > 2:
            _check_state(kind, "cell state c0", ins[2], c)
        return [y, h, c]

    return shape


def _seq_dtypes(a, ins) -> str:
    """float32 sequences and states (the weights' dtype); a `lengths=` input holds integers."""
    if a.get("lengths"):
        if ins[-1] not in INTS:
            raise DtypeRuleError(f"takes integer lengths (lengths=), got {ins[-1]}",
                                 hint="declare them as `lengths: {shape: [N], dtype: int64, low: 1, high: T + 1}`")
        ins = ins[:-1]
    return LAYER(a, ins)


def _matrix_macs(kind: str, a, features) -> int:
    """Multiply-adds of one time step over all layers and directions, in closed form (no loop over layers):
    each of the D directions of layer 1 reads `features`, of the L - 1 others D * H_out inputs."""
    g, hidden, out = GATES[kind], a.hidden_size, _out_size(a)
    d = 2 if a.bidirectional else 1
    inputs = features + (a.num_layers - 1) * d * out    # summed over layers, for one direction
    per_direction = g * hidden * (inputs + a.num_layers * out)
    if kind == "lstm" and a.proj_size:
        per_direction += a.num_layers * a.proj_size * hidden
    return d * per_direction


def _seq_weights(kind: str):
    def weights(a, ins):
        biases = 2 * GATES[kind] * a.hidden_size * (2 if a.bidirectional else 1) * a.num_layers if a.bias else 0
        return _matrix_macs(kind, a, ins[0][-1]) + biases

    return weights


def _seq_macs(kind: str):
    def macs(a, ins, out):
        batched, n, t, features, _ = _seq_dims(kind, a, ins)
        return product([n, t] if batched else [t]) * _matrix_macs(kind, a, features)

    return macs


def _input_size(a, ins) -> dict:
    return {"input_size": ins[0][-1]}


for _kind, _doc in (("rnn", "Elman recurrent network h_t = act(W_ih x_t + W_hh h_(t-1) + b)"),
                    ("gru", "Gated recurrent unit network"), ("lstm", "Long short-term memory network")):
    _lstm = _kind == "lstm"
    register(
        name=_kind, family="recurrent",
        doc=f"{_doc} over a whole sequence, num_layers stacked, optionally bidirectional (nn.{_TORCH[_kind]}). "
            f"Returns {'`output, (h_n, c_n)`' if _lstm else '`output, h_n`'} like PyTorch; the initial state "
            f"({'h0, c0' if _lstm else 'h0'}) is optional. With `lengths=` (integers [N]) each sequence of the "
            f"batch runs over its first lengths[i] steps only (a packed sequence): the output is zero past each "
            f"length and the final state is each sequence's own last step's.",
        params=_seq_params(_kind), inputs=(1, 3) if _lstm else (1, 2), call_keywords=("lengths",),
        outputs=(0, (1, 2)) if _lstm else (0, 1),
        shape=_seq_shape(_kind), layer_only=True, sizes=_input_size, dtypes=_seq_dtypes,
        training_dependent=lambda a: a.dropout > 0,  # dropout between layers in training only
        weights=_seq_weights(_kind), macs=_seq_macs(_kind),
        shape_doc=f"[N, T, F] -> output [N, T, D*H], h_n [D*L, N, H]{', c_n [D*L, N, H]' if _lstm else ''} "
                  f"(D = 2 if bidirectional, L = num_layers; H = proj_size if set); lengths= [N]",
        macs_doc=f"N x T x sum over layers and directions of {GATES[_kind]}H(in + H) (with lengths=, a bound: "
                 f"padded steps are skipped)",
    )


# --- single-step cells -----------------------------------------------------------------------------------------

def _cell_shape(kind: str):
    def shape(a, ins):
        x = ins[0]
        expect_rank(f"{kind}_cell", x, (1, 2), "step input")
        static_dim(f"{kind}_cell", x[-1], "feature dim (last dim)")
        h = (*x[:-1], a.hidden_size)
        for what, got in zip(("hidden state h", "cell state c"), ins[1:]):
            if len(got) != len(h) or any(mismatch(p, q, "the recurrent layer compares") for p, q in zip(got, h)):
                raise ShapeRuleError(f"`{kind}_cell` {what} must be {fmt_shape(h)}, got {fmt_shape(got)}")
        return [h, h] if kind == "lstm" else h

    return shape


def _cell_params(kind: str) -> tuple:
    extra = (Param("nonlinearity", "str", "tanh", choices=("tanh", "relu")),) if kind == "rnn" else ()
    return (Param("hidden_size", "int", min=1), Param("bias", "bool", True)) + extra


for _kind in ("rnn", "gru", "lstm"):
    _lstm = _kind == "lstm"
    _g = GATES[_kind]
    register(
        name=f"{_kind}_cell", family="recurrent",
        doc=f"One time step of a{'n' if _kind == 'rnn' else ''} {_kind.upper()} (nn.{_TORCH[_kind]}Cell), for the "
            f"bodies of `scan` and `decode`. Returns {'`h, c`' if _lstm else 'the new h'}; the state inputs "
            f"({'h, c' if _lstm else 'h'}) are optional (zeros).",
        params=_cell_params(_kind), inputs=(1, 3) if _lstm else (1, 2), outputs=(0, 1) if _lstm else None,
        shape=_cell_shape(_kind), layer_only=True, sizes=_input_size,
        weights=lambda a, ins, g=_g: g * a.hidden_size * (ins[0][-1] + a.hidden_size)
        + (2 * g * a.hidden_size if a.bias else 0),
        macs=lambda a, ins, out, g=_g: product(ins[0][:-1]) * g * a.hidden_size * (ins[0][-1] + a.hidden_size),
        shape_doc=f"x [N, F], state [N, H] -> {'h, c: [N, H] each' if _lstm else 'h [N, H]'}",
        macs_doc=f"N x {_g}H(F + H)",
    )


# --- helpers: masks, initial states, the final hidden state ------------------------------------------------------

register(
    name="token_mask", family="recurrent",
    doc="True where a token is not padding: `tokens != pad`; feeds `masked_softmax` to ignore padded positions.",
    params=(Param("pad", "int", 0, doc="the padding token id"),),
    shape=lambda a, ins: ins[0], inline_only=True,
    shape_doc="[*S] ids -> [*S] booleans", dtypes=IDS("bool"),
)

_DTYPES = ("float32", "int64", "bool")


def _full_shape(a, ins):
    x = ins[0]
    expect_min_rank("batch_full", x, 1)
    if not 0 <= a.batch_dim <= len(a.shape):
        raise ShapeRuleError(f"`batch_full` batch_dim={a.batch_dim} must be from 0 to {len(a.shape)} "
                             f"for shape {list(a.shape)}")
    shape = list(a.shape)
    return tuple(shape[:a.batch_dim]) + (x[0],) + tuple(shape[a.batch_dim:])


register(
    name="batch_full", family="recurrent",
    doc="A new tensor filled with `value`, with the input's batch size (its dim 0) at batch_dim: initial "
        "states (`batch_full(x, [hidden])` -> zeros [N, hidden]) and start tokens (`dtype='int64'`).",
    params=(Param("shape", "int_list", min=1, doc="the dims besides the batch"), Param("value", "float", 0.0),
            Param("dtype", "str", "float32", choices=_DTYPES), Param("batch_dim", "int", 0, min=0)),
    shape=_full_shape, inline_only=True, dtypes=ATTR_DTYPE,
    shape_doc="[N, ...] -> shape with N inserted at batch_dim",
)


def _last_hidden_shape(a, ins):
    h = ins[0]
    expect_rank("last_hidden", h, (2, 3), "h_n ([layers * directions, N, H])")
    d = 2 if a.bidirectional else 1
    if isinstance(h[0], int) and h[0] % d:
        raise ShapeRuleError(f"`last_hidden` bidirectional h_n needs an even first dim (2 x layers), "
                             f"got {fmt_shape(h)}")
    return (*h[1:-1], d * h[-1])


register(
    name="last_hidden", family="recurrent",
    doc="The top layer's final hidden state from h_n, both directions concatenated when bidirectional: the "
        "sequence summary a classifier reads.",
    params=(Param("bidirectional", "bool", False),),
    shape=_last_hidden_shape, inline_only=True,
    shape_doc="h_n [D*L, N, H] -> [N, D*H]",
)
