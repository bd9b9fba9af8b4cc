"""Subscripts, chunk, split, narrow and bare parameters."""
from __future__ import annotations

from ....ops.indexing import subscript_text
from ._source import atom
from .table import lower


def _index_call(a, ins, args) -> str:
    return f"{atom(args[0])}[{subscript_text(a.subscript)}]"


def _parameter_init(a, ins) -> str:
    shape = ", ".join(map(str, a.shape))
    if isinstance(a.init, (int, float)):
        tensor = f"torch.full(({shape}{',' * (len(a.shape) == 1)}), {float(a.init)!r})"
    elif a.init in ("zeros", "ones"):
        tensor = f"torch.{a.init}({shape})"
    elif a.init == "normal":
        tensor = f"torch.empty({shape}).normal_(std={a.std!r})"
    else:
        tensor = f"nn.init.trunc_normal_(torch.empty({shape}), std={a.std!r})"
    return f"nn.Parameter({tensor})"


lower("index", call=_index_call)
lower("if_training", call=lambda a, ins, args: f"({args[0]} if self.training else {args[1]})")
lower("chunk", call=lambda a, ins, args: f"{atom(args[0])}.chunk({a.chunks}, {a.dim})")
lower("split", call=lambda a, ins, args: f"{atom(args[0])}.split({list(a.sizes)}, {a.dim})")
lower("narrow", call=lambda a, ins, args: f"{atom(args[0])}.narrow({a.dim}, {a.start}, {a.length})")
lower("parameter", init=_parameter_init, layer_call=lambda a, ins, module, args: module)

lower("tied_linear", init=lambda a, ins: f"nn.Linear({a.embedding_dim}, {a.num_embeddings}"
                                         f"{'' if a.bias else ', bias=False'})")
