"""Cost: learnable parameters (counted once per layer, shared calls included) and multiply-adds."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..dims import as_static
from ..ir.graph import Graph
from .loops import LOOP_KINDS
from .shapes import input_shapes

if TYPE_CHECKING:
    from .carry import Carried


def infer_costs(graph: Graph, carried: Carried | None = None) -> None:
    """Write params, macs (for all the node's runs) and repeat (how often a node inside loops runs); `carried`:
    the results of the document's previous check that carry over (passes/carry.py)."""
    repeat: dict[str, object] = {}
    for nid, node in graph.nodes():
        if node.kind in LOOP_KINDS and node.meta.count is not None:
            for inner in node.body_nodes:
                repeat[inner] = repeat.get(inner, 1) * node.meta.count
    seen_modules: set[str] = set()
    for nid, node in graph.nodes():
        op = node.op
        node.meta.repeat = as_static(repeat.get(nid, 1))
        if op is None or node.meta.shape is None:
            node.meta.params, node.meta.macs = 0, 0
            continue
        ins = input_shapes(graph, node)
        ins = ins[0] if op.inputs is None else ins
        module = node.module
        if module and module not in seen_modules:
            seen_modules.add(module)
            node.meta.params = as_static(op.weights(node.attrs, ins))
        else:
            node.meta.params = 0
        macs = carried.macs_of(node) if carried is not None else None
        if macs is None:
            macs = as_static(op.macs(node.attrs, ins, node.meta.shape) * node.meta.repeat)
        node.meta.macs = macs
