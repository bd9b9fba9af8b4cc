"""Weight tying: a `tied_linear(source)` layer takes its sizes from the embedding `source` of the same block."""
from __future__ import annotations

from ..errors import ArgumentError
from ..ir.graph import Module
from ..ops.registry import Attrs


def resolve_ties(block: Module) -> None:
    """Fill each tied layer's sizes from its source, a dotted path among the block's layers."""
    for child in block.children.values():
        if child.kind == "op" and child.op.name == "tied_linear":
            source = _find(block, child)
            sizes = {k: source.attrs[k] for k in ("num_embeddings", "embedding_dim")}
            for k, v in sizes.items():
                if child.attrs[k] is not None and child.attrs[k] != v:
                    raise ArgumentError(f"`{child.path}` gives {k}={child.attrs[k]}, but its source "
                                        f"`{source.path}` has {v}", child.span, hint=f"leave `{k}` out")
            child.attrs = Attrs({**child.attrs, **sizes})


def _find(block: Module, child: Module) -> Module:
    path = child.attrs.source
    here: Module | None = block
    for part in path.split("."):
        here = here.children.get(part) if here is not None else None
    if here is None or here.kind != "op" or here.op.name != "embedding":
        what = "is not a layer of" if here is None else "is not an embedding in"
        raise ArgumentError(f"the source `{path}` of `{child.path}` {what} `{block.path or block.name}`",
                            child.span, hint="tie to an embedding by its dotted path in the same block, "
                                             "e.g. tied_linear('transformer.wte')")
    return here
