"""Recurrent ops: nn.Embedding, nn.RNN/GRU/LSTM (packed by the helper `run_packed` where a call gives lengths=)
and their cells (input_size from the input shape), and helpers."""
from __future__ import annotations

from ._source import atom, src_args
from .table import lower

_TORCH = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}

lower("embedding",
      init=lambda a, ins: f"nn.Embedding({src_args(a, ('num_embeddings', 'embedding_dim'), {'padding_idx': None})})")


def _seq_init(kind: str):
    kw: dict[str, object] = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                             "bidirectional": False}
    if kind == "rnn":
        kw = {"nonlinearity": "tanh", **kw}
    if kind == "lstm":
        kw["proj_size"] = 0
    return lambda a, ins: f"nn.{_TORCH[kind]}({src_args(a, ('hidden_size',), kw, first=(ins[0][-1],))})"


def _cell_init(kind: str):
    kw = {"bias": True, **({"nonlinearity": "tanh"} if kind == "rnn" else {})}
    return lambda a, ins: f"nn.{_TORCH[kind]}Cell({src_args(a, ('hidden_size',), kw, first=(ins[0][-1],))})"


PACKED = '''
def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """rnn over the first lengths[i] steps of each sequence of the batch x (a packed sequence): the
    output is zero past each length, and the final state is each sequence's own last step's."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=rnn.batch_first,
                                               enforce_sorted=False)
    out, state = rnn(packed, state)
    steps = x.shape[1 if rnn.batch_first else 0]
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=rnn.batch_first, total_length=steps)
    return out, state
'''


def _state(args: list) -> list:
    """The initial state as nn.RNN/GRU (h0) and nn.LSTM and nn.LSTMCell ((h0, c0), one tuple) take it."""
    return [f"({args[0]}, {args[1]})"] if len(args) == 2 else args


def _lstm_call(a, ins, module: str, args: list) -> str:
    return f"{module}({', '.join(args[:1] + _state(args[1:]))})"


def _seq_call(a, ins, module: str, args: list) -> str:
    """A sequence layer's call; with `lengths=` (the last input), through run_packed."""
    if not a.get("lengths"):
        return f"{module}({', '.join(args[:1] + _state(args[1:]))})"
    *args, lengths = args
    return f"run_packed({', '.join([module, args[0], lengths] + _state(args[1:]))})"


for _kind in ("rnn", "gru", "lstm"):
    lower(_kind, init=_seq_init(_kind), layer_call=_seq_call, support=PACKED,
          uses_support=lambda a: bool(a.get("lengths")))
    lower(f"{_kind}_cell", init=_cell_init(_kind), layer_call=_lstm_call if _kind == "lstm" else None)

lower("token_mask", call=lambda a, ins, args: f"({atom(args[0])} != {a.pad})")


def _full_call(a, ins, args):
    x = atom(args[0])
    dims = [str(d) for d in a.shape]
    dims.insert(a.batch_dim, f"{x}.shape[0]")
    value = int(a.value) if a.dtype == "int64" else bool(a.value) if a.dtype == "bool" else a.value
    return f"{x}.new_full(({', '.join(dims)},), {value!r}, dtype=torch.{a.dtype})"


lower("batch_full", call=_full_call)
lower("last_hidden", call=lambda a, ins, args: (f"torch.cat(tuple({atom(args[0])}[-2:]), -1)" if a.bidirectional
                                                else f"{atom(args[0])}[-1]"))
