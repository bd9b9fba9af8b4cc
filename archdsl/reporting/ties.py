"""Weight tying as reports show it: the layer calls that reuse another layer's parameter, and whose."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.graph import Graph
from ..ops.indexing import TIED


@dataclass(frozen=True)
class Tie:
    source: str    # the layer that owns the parameter: 'transformer.wte'
    key: str       # the parameter's state_dict key, where it is counted: 'transformer.wte.weight'


def ties(graph: Graph) -> dict[str, Tie]:
    """Each call of a tied layer (`tied_linear`) -> its tie. The source is a dotted path among the layers of
    the block that declares the tied layer; the parameter's name is the one the torch lowering shares."""
    out = {}
    for nid, node in graph.nodes():
        if node.op is not None and node.op.name in TIED and node.module:
            block = node.module.rpartition(".")[0]
            source = f"{block}.{node.attrs.source}" if block else node.attrs.source
            out[nid] = Tie(source, f"{source}.{TIED[node.op.name]}")
    return out


def tie_text(keys) -> str:
    """'tied to transformer.wte.weight': what a row or a box says of the parameters it reuses."""
    return "tied to " + ", ".join(keys)
