"""Cost: learnable parameters (counted once per layer, shared calls included) and multiply-adds."""
from __future__ import annotations

from ..dims import as_static
from ..ir.graph import Graph
from .shapes import input_shapes


def infer_costs(graph: Graph) -> None:
    seen_modules: set[str] = set()
    for nid, node in graph.nodes():
        op = node["op"]
        if op is None or node.get("shape") is None:
            node["params"], node["macs"] = 0, 0
            continue
        ins = input_shapes(graph, node)
        ins = ins[0] if op.inputs is None else ins
        module = node["module"]
        if module and module not in seen_modules:
            seen_modules.add(module)
            node["params"] = as_static(op.weights(node["attrs"], ins))
        else:
            node["params"] = 0
        node["macs"] = as_static(op.macs(node["attrs"], ins, node["shape"]))
