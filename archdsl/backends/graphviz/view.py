"""What a diagram shows: boxes (ops, inputs, outputs, collapsed blocks), arrows with shapes, and clusters.

The view is plain data built from the IR and the shapes the shape pass wrote; the DOT writer
only styles it. Nothing here recomputes a shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import UsageError
from ...ir.graph import Graph, Node, Tensor, flat_tensors
from ...ir.containers import Container, ContainerIndex, Unit, group_nodes
from ...reporting.ties import ties


@dataclass(eq=False)
class Item:
    """One box of the diagram."""

    id: str
    kind: str                       # 'op' | 'input' | 'output' | 'unit' | 'loop' | 'loop_in' | 'other'
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
    dtype: str | None = None        # shown on the arrow when the diagram shows dtypes


@dataclass(eq=False)
class BackEdge:
    """A loop's carried value going back to the start of the next step."""

    tail: Item
    head: Item
    label: str


@dataclass(eq=False)
class LoopFrame:
    """A loop drawn rolled: its step inputs, its body (a cluster or a folded box) and the loop box, in one frame."""

    item: Item                      # the loop box (kind 'loop')
    kind: str                       # 'scan' | 'loop' | 'decode'
    steps: str                      # 'T steps over dim 1', '3 iterations', 'up to 6 steps'
    inputs: list                    # the step-input boxes (kind 'loop_in')
    body: Container | None          # the body's cluster, when it is open
    body_item: Item | None          # the body's box, when it is folded
    back_edges: list = field(default_factory=list)


@dataclass(eq=False)
class TieEdge:
    """From the box of a layer whose parameter another reuses to the box of that tied layer (drawn dashed)."""

    tail: Item
    head: Item
    key: str                        # the shared parameter's key: 'transformer.wte.weight'


@dataclass
class View:
    items: list
    edges: list
    clusters: list                  # open containers holding boxes, outermost first, in order of appearance
    index: ContainerIndex
    models: list                    # the models drawn
    model_clusters: bool            # draw each model's root as a cluster
    loops: list = field(default_factory=list)
    tied: dict = field(default_factory=dict)     # graph node of each tied layer drawn -> its Tie
    ties: list = field(default_factory=list)     # TieEdge, where both boxes are drawn and differ


def tensor_shape(graph: Graph, t: Tensor):
    node = graph.node(t.node)
    if t.index and node.meta.outputs is not None:
        outs = node.meta.outputs
        return outs[t.index] if t.index < len(outs) else None
    return node.meta.shape


def build_view(graph: Graph, depth: int | None = None, model: str | None = None,
               failures: dict | None = None, fuse: bool = True, dtypes: bool = False) -> View:
    """`failures`: graph node -> shape error message, for nodes whose shape rule failed.

    `fuse`: an activation that is the only reader of an op's output is drawn in that op's box.
    `dtypes`: each edge carries its tensor's dtype (else None).
    """
    failures = failures or {}
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, got {depth}")
    index = ContainerIndex(graph)
    models = list(index.roots)            # the models, then the objectives
    if model is not None:
        if model not in index.roots:
            raise UsageError(f"there is no model `{model}`; models: {', '.join(graph.roots)}"
                             + (f"; objectives: {', '.join(index.objectives)}" if index.objectives else ""))
        models = [model]
    wanted = set(models)
    node_ids = [nid for nid, node in graph.nodes() if index.owner(node) in wanted]

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
                item = Item(uid, "unit", unit.host, [], [unit])
                unit_items[id(unit)] = item
                items.append(item)
            item.nodes.append(nid)
            if nid in failures and item.error is None:
                item.error = failures[nid]
        item_of[nid] = item

    if fuse:
        items = _fuse_activations(graph, items, item_of)
    items = _merge_repeats(graph, items, item_of)
    for name in models:
        result = graph.outputs[name] if name in graph.outputs else index.roots[name].module.output
        for k, t in enumerate(flat_tensors(result)):
            if t.node in item_of:
                oid = f"output:{name}" + (f"#{k}" if k else "")
                out = Item(oid, "output", index.roots[name], output_of=t)
                items.append(out)
    edges = _edges(graph, items, item_of, failures, dtypes)
    clusters = _clusters(items)
    loops = [_loop_frame(graph, index, item, item_of) for item in items if item.kind == "loop"]
    tied = {nid: tie for nid, tie in ties(graph).items() if nid in item_of}
    return View(items, edges, clusters, index, models, model_clusters=len(index.roots) > 1 and model is None,
                loops=loops, tied=tied, ties=_tie_edges(graph, tied, item_of))


LOOP_KINDS = ("scan", "loop", "decode")


def _kind(node: Node) -> str:
    if node.op is not None:
        return "op"
    kind = (node.kind or "input")
    if kind == "input" and not node.inputs:
        return "input"
    if kind == "loop_in":
        return "loop_in"
    return "loop" if kind in LOOP_KINDS else "other"


def step_count_text(node: Node) -> str:
    from ...dims import fmt_dim

    kind, attrs = node.kind, node.attrs or {}
    count = node.meta.count
    if kind == "scan":
        steps = fmt_dim(count) if count is not None else "?"
        return f"{steps} steps over dim {attrs.get('dim')}" + (", last to first" if attrs.get("reverse") else "")
    if kind == "loop":
        n = attrs.get("count")
        return f"{n} iteration{'' if n == 1 else 's'}"
    return f"up to {attrs.get('max_len')} steps" + (f", until token {attrs['eos']}" if attrs.get("eos") is not None
                                                    else "")


def _loop_frame(graph: Graph, index: ContainerIndex, item: Item, item_of: dict) -> LoopFrame:
    """The loop's step inputs and body, and its back edges: each new state to its step input (decode: the
    step's logits to its token, by argmax)."""
    node = graph.node(item.nodes[0])
    kind, attrs = node.kind, node.attrs or {}
    placeholders = [item_of[p] for p in (node.placeholders or []) if p in item_of]
    body_outs = list(flat_tensors(node.inputs or []))[(node.n_inputs or 0):]
    body = index.by_path.get((node.body or ""))
    folded = item_of.get(body_outs[0].node) if body_outs else None
    body_item = folded if folded is not None and folded.kind == "unit" else None
    frame = LoopFrame(item, kind, step_count_text(node), placeholders, None if body_item else body, body_item)
    first = 0 if kind == "loop" else 1
    per_step = 0 if kind == "loop" else attrs.get("step_outputs", 1)
    for i in range(attrs.get("n_state", 0)):
        if per_step + i < len(body_outs) and first + i < len(placeholders):
            tail = item_of.get(body_outs[per_step + i].node)
            if tail is not None:  # the step count labels the first back edge (the frame's title says it too)
                label = "" if frame.back_edges else frame.steps
                frame.back_edges.append(BackEdge(tail, placeholders[first + i], label))
    if kind == "decode" and body_outs and placeholders and body_outs[0].node in item_of:
        frame.back_edges.append(BackEdge(item_of[body_outs[0].node], placeholders[0], "argmax"))
    return frame


def _fuse_activations(graph: Graph, items: list, item_of: dict) -> list:
    """`conv2d 3x3, 64` followed by `relu` (its only reader, same block) becomes one box `conv2d 3x3, 64 + relu`."""
    outputs = {t.node for name in graph.outputs for t in flat_tensors(graph.outputs[name])}
    kept = []
    for item in items:
        host = _fusion_host(graph, item, item_of, outputs)
        if host is None:
            kept.append(item)
            continue
        host.nodes.extend(item.nodes)
        item_of[item.nodes[0]] = host
    return kept


def _fusion_host(graph: Graph, item: Item, item_of: dict, outputs: set):
    if item.kind != "op" or item.error:
        return None
    node = graph.node(item.nodes[0])
    ins = list(flat_tensors(node.inputs or []))
    if node.op.family != "activation" or node.meta.params or len(ins) != 1:
        return None
    source = ins[0].node
    host = item_of.get(source)
    if (host is None or host.kind != "op" or len(host.nodes) != 1 or host.error or host.container is not item.container
            or source in outputs or graph.node(source).op.name in FUSE_NEVER):
        return None
    if list(graph.g.successors(source)) != [item.nodes[0]]:
        return None
    return host


# Drawn as small symbols (circles) that hold no second op.
FUSE_NEVER = ("add", "sub", "mul", "scalar_arith")


def _signature(graph: Graph, unit: Unit) -> tuple:
    """Two calls look the same when the same ops, with the same arguments, give the same shapes."""
    parts = [unit.container.title]
    for nid in unit.nodes:
        node = graph.node(nid)
        op = node.op
        attrs = tuple(sorted((k, repr(v)) for k, v in (node.attrs or {}).items()))
        parts.append((op.name if op else node.kind, attrs, repr(node.meta.shape), (node.meta.params or 0)))
    return tuple(parts)


def _merge_repeats(graph: Graph, items: list, item_of: dict) -> list:
    """Fold a chain of identical collapsed calls (each feeding only the next) into one `x N` box."""
    outputs = {t.node for name in graph.outputs for t in flat_tensors(graph.outputs[name])}
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


def _edges(graph: Graph, items: list, item_of: dict, failures: dict, dtypes: bool) -> list:
    edges, seen = [], {}

    def add(tail: Item, head: Item, t: Tensor, error: bool) -> None:
        key = (tail.id, head.id, t)
        if tail is head:
            return
        if key in seen:
            seen[key].error = seen[key].error or error   # one reader inside a folded box rejects it
            return
        seen[key] = Edge(tail, head, t, tensor_shape(graph, t), error, graph.dtype(t) if dtypes else None)
        edges.append(seen[key])

    for item in items:
        if item.kind == "output":
            add(item_of[item.output_of.node], item, item.output_of, False)
            continue
        for nid in item.nodes:
            node = graph.node(nid)
            ins = list(flat_tensors(node.inputs or []))
            if _kind(node) == "loop":           # its sources reach it through its step inputs
                ins = ins[(node.n_inputs or 0):]
            for t in ins:
                if t.node in item_of:
                    add(item_of[t.node], item, t, nid in failures)
    return edges


def _tie_edges(graph: Graph, tied: dict, item_of: dict) -> list:
    """One edge per tie from the box of the source layer's first call (an embedding, or the folded block that
    holds it) to the tied layer's box; none where the source is not called or both are in one box."""
    first_call: dict = {}
    for nid in item_of:
        first_call.setdefault(graph.node(nid).module, nid)
    out, seen = [], set()
    for nid, tie in tied.items():
        source = first_call.get(tie.source)
        if source is None:
            continue
        tail, head = item_of[source], item_of[nid]
        if tail is not head and (tail.id, head.id) not in seen:
            seen.add((tail.id, head.id))
            out.append(TieEdge(tail, head, tie.key))
    return out


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
