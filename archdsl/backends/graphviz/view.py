"""What a diagram shows: boxes (ops, inputs, outputs, collapsed blocks), arrows with shapes, and clusters.

The view is plain data built from the IR and the shapes the shape pass wrote; the DOT writer
only styles it. Nothing here recomputes a shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import UsageError
from ...ir.graph import Graph, Tensor
from .containers import Container, ContainerIndex, Unit, group_nodes


@dataclass(eq=False)
class Item:
    """One box of the diagram."""

    id: str
    kind: str                       # 'op' | 'input' | 'output' | 'unit' | 'other'
    container: Container            # the innermost open container the box sits in
    nodes: list = field(default_factory=list)   # graph nodes it stands for
    units: list = field(default_factory=list)   # kind 'unit': the identical calls merged into it (x N)
    error: str | None = None        # the shape error of its node (kind 'op'), or of a node inside (kind 'unit')
    output_of: Tensor | None = None  # kind 'output': the model output it shows

    @property
    def count(self) -> int:
        return len(self.units)


@dataclass(eq=False)
class Edge:
    tail: Item
    head: Item
    tensor: Tensor
    shape: tuple | None
    error: bool = False             # the head fails its shape rule on this input


@dataclass
class View:
    items: list
    edges: list
    clusters: list                  # open containers holding boxes, outermost first, in order of appearance
    index: ContainerIndex
    models: list                    # the models drawn
    model_clusters: bool            # draw each model's root as a cluster


def tensor_shape(graph: Graph, t: Tensor):
    node = graph.node(t.node)
    if t.index and node.get("outputs") is not None:
        outs = node["outputs"]
        return outs[t.index] if t.index < len(outs) else None
    return node.get("shape")


def build_view(graph: Graph, depth: int | None = None, model: str | None = None,
               failures: dict | None = None) -> View:
    """`failures`: graph node -> shape error message, for nodes whose shape rule failed."""
    failures = failures or {}
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, got {depth}")
    models = list(graph.roots)
    if model is not None:
        if model not in graph.roots:
            raise UsageError(f"there is no model `{model}`; models: {', '.join(models)}")
        models = [model]
    index = ContainerIndex(graph)
    wanted = set(models)
    node_ids = [nid for nid, node in graph.nodes() if index.container_of(node).model in wanted]

    items: list[Item] = []
    item_of: dict[str, Item] = {}
    unit_items: dict[int, Item] = {}
    for nid, unit in group_nodes(index, depth, node_ids):
        node = graph.node(nid)
        if unit is None:
            item = Item(nid, _kind(node), index.container_of(node), [nid], error=failures.get(nid))
            items.append(item)
        else:
            item = unit_items.get(id(unit))
            if item is None:
                uid = "unit:" + unit.container.path + (f"#{unit.index}" if unit.index else "")
                item = Item(uid, "unit", unit.container.parent, [], [unit])
                unit_items[id(unit)] = item
                items.append(item)
            item.nodes.append(nid)
            if nid in failures and item.error is None:
                item.error = failures[nid]
        item_of[nid] = item

    items = _merge_repeats(graph, items, item_of)
    for name in models:
        for k, t in enumerate(_flat(graph.outputs.get(name))):
            if t.node in item_of:
                oid = f"output:{name}" + (f"#{k}" if k else "")
                out = Item(oid, "output", index.roots[name], output_of=t)
                items.append(out)
    edges = _edges(graph, items, item_of, failures)
    clusters = _clusters(items)
    return View(items, edges, clusters, index, models, model_clusters=len(graph.roots) > 1 and model is None)


def _kind(node: dict) -> str:
    if node.get("op") is not None:
        return "op"
    if node.get("kind", "input") == "input" and not node.get("inputs"):
        return "input"
    return "other"


def _signature(graph: Graph, unit: Unit) -> tuple:
    """Two calls look the same when the same ops, with the same arguments, give the same shapes."""
    parts = [unit.container.title]
    for nid in unit.nodes:
        node = graph.node(nid)
        op = node.get("op")
        attrs = tuple(sorted((k, repr(v)) for k, v in (node.get("attrs") or {}).items()))
        parts.append((op.name if op else node.get("kind"), attrs, repr(node.get("shape")), node.get("params", 0)))
    return tuple(parts)


def _merge_repeats(graph: Graph, items: list, item_of: dict) -> list:
    """Fold a chain of identical collapsed calls (each feeding only the next) into one `x N` box."""
    outputs = {t.node for name in graph.outputs for t in _flat(graph.outputs[name])}
    kept: list[Item] = []
    for item in items:
        prev = kept[-1] if kept else None
        if (item.kind == "unit" and prev is not None and prev.kind == "unit"
                and prev.container is item.container and not item.error and not prev.error
                and _signature(graph, prev.units[0]) == _signature(graph, item.units[0])
                and _feeds_only(graph, prev.units[-1].nodes, item.nodes, outputs)):
            prev.units.append(item.units[0])
            prev.nodes.extend(item.nodes)
            for nid in item.nodes:
                item_of[nid] = prev
            continue
        kept.append(item)
    return kept


def _feeds_only(graph: Graph, first: list, second: list, outputs: set) -> bool:
    """`first` reaches the rest of the graph only through `second`, and `second` reads only from `first`."""
    a, b = set(first), set(second)
    if a & outputs:
        return False
    if any(s not in a and s not in b for n in first for s in graph.g.successors(n)):
        return False
    return all(p in a or p in b for n in second for p in graph.g.predecessors(n))


def _edges(graph: Graph, items: list, item_of: dict, failures: dict) -> list:
    edges, seen = [], set()

    def add(tail: Item, head: Item, t: Tensor, error: bool) -> None:
        key = (tail.id, head.id, t)
        if tail is head or key in seen:
            return
        seen.add(key)
        edges.append(Edge(tail, head, t, tensor_shape(graph, t), error))

    for item in items:
        if item.kind == "output":
            add(item_of[item.output_of.node], item, item.output_of, False)
            continue
        for nid in item.nodes:
            for t in _flat(graph.node(nid).get("inputs") or []):
                if t.node in item_of:
                    add(item_of[t.node], item, t, nid in failures)
    return edges


def _clusters(items: list) -> list:
    """Every open container (level >= 1, or a model root) with a box in it or below it, in order of appearance."""
    seen, out = set(), []
    for item in items:
        c = item.container
        chain = []
        while c is not None:
            chain.append(c)
            c = c.parent
        for c in reversed(chain):
            if id(c) not in seen:
                seen.add(id(c))
                out.append(c)
    return out


def _flat(v):
    if v is None:
        return
    if isinstance(v, Tensor):
        yield v
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _flat(x)
