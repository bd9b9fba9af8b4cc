"""Which block instance or sequence each graph node belongs to, and runs of a container's nodes.

A *container* is a module of kind 'block' or 'seq' (a model's root is a block at level 0; the
layers of the root are at level 1, their children at level 2, ...). A graph node belongs to
the container that holds its layer (`node['module']`), or, for an inline op, to the block
instance whose forward made it (`node['scope']`).

Collapsing at depth K keeps containers at level <= K open and folds each container at level K+1
into one *unit*. A container called several times makes one unit per call: the nodes of one
call are contiguous in the graph's insertion order, so a unit is a maximal contiguous run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.graph import Graph, Module


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
        out, c = [], self
        while c is not None and c.level > 0:
            out.append(c)
            c = c.parent
        return out[::-1]


class ContainerIndex:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.by_path: dict[str, Container] = {}
        self.roots: dict[str, Container] = {}
        for model, root in graph.roots.items():
            self.roots[model] = self._add(root, None, 0, model)

    def _add(self, module: Module, parent: Container | None, level: int, model: str) -> Container:
        c = Container(module.path, module, parent, level, model)
        self.by_path.setdefault(module.path, c)
        for child in module.children.values():
            if child.kind in ("block", "seq"):
                c.children.append(self._add(child, c, level + 1, model))
        return c

    def container_of(self, node: dict) -> Container:
        module = node.get("module")
        if module:
            owner = self.by_path.get(module.rpartition(".")[0])
            if owner is not None:
                return owner
        return self.by_path.get(node.get("scope") or "", next(iter(self.roots.values())))

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
    nodes: list = field(default_factory=list)


def group_nodes(index: ContainerIndex, depth: int | None, node_ids) -> list:
    """For each graph node (in order): (node_id, Unit or None). None: the node is drawn/listed on its own."""
    out, runs = [], {}
    current: Unit | None = None
    for nid in node_ids:
        node = index.graph.node(nid)
        folded = index.collapsed_at(index.container_of(node), depth)
        if folded is None:
            current = None
            out.append((nid, None))
            continue
        if current is None or current.container is not folded:
            k = runs.get(folded.path, 0)
            runs[folded.path] = k + 1
            current = Unit(folded, k)
        current.nodes.append(nid)
        out.append((nid, current))
    return out
