"""Recurrent ops: nn.Embedding, nn.RNN/GRU/LSTM and their cells (input_size from the input shape), and helpers."""
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


def _lstm_call(a, ins, module: str, args: list) -> str:
    """nn.LSTM and nn.LSTMCell take their state as one tuple (h, c)."""
    if len(args) == 1:
        return f"{module}({args[0]})"
    return f"{module}({args[0]}, ({args[1]}, {args[2]}))"


for _kind in ("rnn", "gru", "lstm"):
    _layer_call = _lstm_call if _kind == "lstm" else None
    lower(_kind, init=_seq_init(_kind), layer_call=_layer_call)
    lower(f"{_kind}_cell", init=_cell_init(_kind), layer_call=_layer_call)

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
