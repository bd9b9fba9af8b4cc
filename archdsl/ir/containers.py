"""Which block instance or sequence each graph node belongs to, and runs of a container's nodes.

A *container* is a module of kind 'block' or 'seq' (a model's root is a block at level 0; the
layers of the root are at level 1, their children at level 2, ...). A graph node belongs to
the container that holds its layer (`node.module`), or, for an inline op, to the block
instance whose forward made it (`node.scope`).

Collapsing at depth K keeps containers at level <= K open and folds each container at level K+1
into one *unit*. A container called several times makes one unit per call: the nodes of one
call are contiguous in the graph's insertion order, so a unit is a maximal contiguous run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph, Module, Node, flat_tensors


@dataclass(eq=False)
class Container:
    path: str
    module: Module
    parent: "Container | None"
    level: int
    model: str
    children: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.module.kind

    @property
    def title(self) -> str:
        """What the container is: the block's name, or 'Sequential'."""
        return self.module.block.name if self.kind == "block" else "Sequential"

    def chain(self) -> list["Container"]:
        """The containers from level 1 down to this one (the model root excluded)."""
        out: list[Container] = []
        c: Container | None = self
        while c is not None and c.level > 0:
            out.append(c)
            c = c.parent
        return out[::-1]


class ContainerIndex:
    """The containers of every model and objective (`roots`, by name), by path."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.by_path: dict[str, Container] = {}
        self.roots: dict[str, Container] = {}
        self.objectives = list(getattr(graph, "objectives", {}))
        for model, root in [*graph.roots.items(), *getattr(graph, "objectives", {}).items()]:
            self.roots[model] = self._add(root, None, 0, model)

    def _add(self, module: Module, parent: Container | None, level: int, model: str) -> Container:
        c = Container(module.path, module, parent, level, model)
        self.by_path.setdefault(module.path, c)
        for child in module.children.values():
            if child.kind in ("block", "seq"):
                c.children.append(self._add(child, c, level + 1, model))
        return c

    def container_of(self, node: Node) -> Container:
        module = node.module
        if module:
            owner = self.by_path.get(module.rpartition(".")[0])
            if owner is not None:
                return owner
        found = self.by_path.get(node.scope or "")
        return found if found is not None else self.roots.get(node.model or "", next(iter(self.roots.values())))

    def owner(self, node: Node) -> str:
        """The model (or objective) whose forward made the node; a model calling another (`uses:`) makes
        nodes inside the other's layers."""
        made_by = node.model
        return made_by if made_by in self.roots else self.container_of(node).model

    def collapsed_at(self, container: Container, depth: int | None) -> Container | None:
        """The outermost container folded into one unit at `depth` that holds `container`, if any."""
        if depth is None:
            return None
        for c in container.chain():
            if c.level > depth:
                return c
        return None


@dataclass(eq=False)
class Unit:
    """One call of a collapsed container: its graph nodes, in order."""

    container: Container
    index: int                 # the how-manieth run of this container
    host: Container | None     # the open container the unit sits in (None: the top level)
    nodes: list = field(default_factory=list)


def group_nodes(index: ContainerIndex, depth: int | None, node_ids) -> list:
    """For each graph node (in order): (node_id, Unit or None). None: the node is drawn/listed on its own.

    A model's call of another model (`uses:`) is always one unit: the used model, in the caller.
    """
    out: list = []
    runs: dict = {}
    current: Unit | None = None
    for nid in node_ids:
        node = index.graph.node(nid)
        container = index.container_of(node)
        owner = index.owner(node)
        folded: Container | None
        host: Container | None
        if owner != container.model:
            folded, host = index.roots[container.model], index.roots[owner]
        else:
            folded = index.collapsed_at(container, depth)
            host = folded.parent if folded is not None else None
        if folded is None:
            current = None
            out.append((nid, None))
            continue
        if current is None or current.container is not folded:
            k = runs.get(folded.path, 0)
            runs[folded.path] = k + 1
            current = Unit(folded, k, host)
        current.nodes.append(nid)
        out.append((nid, current))
    return out


def aggregate_rows(graph: Graph, rows: list, depth: int, make_row) -> list:
    """Summary rows folded per unit at `depth`: name = the container's path, op = its block name or 'Sequential'.

    A row's shape is the output of the unit (the last of its tensors read outside it), its params
    and MACs the sums over its ops. A container called twice gives two rows, the second `path@1`.
    """
    if depth < 0:
        from ..errors import UsageError

        raise UsageError(f"--depth must be 0 or more, got {depth}")
    by_name = {r.name: r for r in rows}
    index = ContainerIndex(graph)
    out, folded = [], {}
    for nid, unit in group_nodes(index, depth, list(by_name)):
        row = by_name[nid]
        if unit is None:
            out.append(row)
            continue
        if id(unit) not in folded:
            name = unit.container.path + (f"@{unit.index}" if unit.index else "")
            folded[id(unit)] = (unit, make_row(name, unit.container.title, row.shape, 0, 0))
            out.append(folded[id(unit)][1])
        agg = folded[id(unit)][1]
        agg.params += row.params
        agg.macs = agg.macs + row.macs
    for unit, agg in folded.values():
        agg.shape = by_name[unit_output(graph, unit.nodes)].shape
    return out


def unit_output(graph: Graph, nodes: list) -> str:
    """The node whose tensor leaves the unit (the last such one), else its last node."""
    inside = set(nodes)
    outputs = {t.node for name in graph.outputs for t in flat_tensors(graph.outputs[name])}  # of both modes
    leaving = [n for n in nodes if n in outputs or any(s not in inside for s in graph.g.successors(n))]
    return leaving[-1] if leaving else nodes[-1]
