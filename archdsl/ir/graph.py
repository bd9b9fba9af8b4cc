"""The IR: a networkx graph of typed Nodes, plus the module tree the layers form.

Elaboration decides each `Node` (what runs: kind, op, attributes, inputs, where it is written and which
model made it); the passes fill in its `Meta` (what they computed: shapes, loop step counts, parameters,
multiply-adds), as torch.fx keeps a Node's facts in `meta`. Nodes are created in dataflow order (insertion
order is a topological order). Shapes are read through `Graph.shape` (a Tensor's shape, whichever output of
its node it is). No pass writes backend source into the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..dims import Facts
from ..errors import Span


@dataclass
class Meta:
    """What the passes compute for a node."""

    shape: Any = None          # output shape (of output 0 when there are several)
    outputs: list | None = None  # several outputs (multi-output ops, loops): one shape each
    count: Any = None          # loops: how many steps
    params: Any = 0            # learnable parameters (a layer's, counted at its first call)
    macs: Any = 0              # multiply-adds of all the node's runs
    repeat: Any = 1            # how often the node runs inside loops
    dtype: str | None = None   # output dtype: 'float32', 'int64', 'bool', ... (of output 0 when there are several)
    dtypes: list | None = None  # several outputs: one dtype each


@dataclass(eq=False)
class Node:
    """An op application, a graph input or a loop, as elaboration decided it."""

    id: str
    kind: str            # 'op', 'input', or for loops (elaborate/loops.py): 'loop_in' (a step's input or state),
    #                      'scan' | 'loop' | 'decode' (the loop itself, with several outputs)
    inputs: list         # Tensor, or for list-input ops one list of Tensor
    op: Any              # registry Op, or None for inputs and loops
    attrs: Any           # bound attributes (Attrs)
    scope: str           # path of the block instance whose forward made the node ('' at the top)
    span: Span           # where the layer or inline op is written
    call_span: Span      # where it is called
    module: str | None = None   # the layer's path when the node is a layer call (its weights)
    model: str | None = None    # the model or objective whose elaboration made the node
    method: str | None = None   # the model's method that made it (None: its forward)
    stmt_index: str | None = None  # probes: the call site in the block's forward, and which call of it
    call_index: int | None = None
    step: tuple | None = None  # made inside `for layer in layers:`: (iteration, iterations) of each call
    # inputs
    name: str | None = None
    dtype: str | None = None
    low: Any = None
    high: Any = None
    objective_input: bool = False
    # loops, and their step inputs (`loop`: the id of the loop a 'loop_in' node feeds)
    loop: str | None = None
    body: str | None = None
    placeholders: list | None = None
    body_nodes: list | None = None
    body_outputs: list | None = None
    n_inputs: int | None = None
    n_outputs: int | None = None
    meta: Meta = field(default_factory=Meta)


@dataclass(frozen=True)
class Tensor:
    """A value in the dataflow: output `index` of graph node `node`."""

    node: str
    index: int = 0


@dataclass(frozen=True)
class ModeChoice:
    """A model's output that differs by mode, from its last statement `(logits, aux) if training else logits`:
    the value returned in training mode and the one returned in eval mode (each a Tensor or a tuple of them)."""

    train: Any
    eval: Any

    def side(self, mode: str):
        return self.train if mode == "training" else self.eval

    def only_in(self, t: "Tensor") -> str | None:
        """The mode whose output alone holds `t` ('training' or 'eval'), None where both do."""
        found = [mode for mode in MODES if t in flat_tensors(self.side(mode))]
        return found[0] if len(found) == 1 else None


MODES = ("training", "eval")


@dataclass
class Stmt:
    """One statement of a block's generated forward: a layer call or an inline op."""

    kind: str            # 'module' | 'op'
    callee: str          # child layer name, or graph node id for an inline op
    args: list           # Tensor, or a list of Tensor for list-input ops
    result: Any          # Tensor, or a tuple structure of Tensor for blocks with several outputs
    span: Span
    target: Any = None  # variable name(s) from the spec's assignment: 'y' or ('a', 'b'), if any
    options: dict = field(default_factory=dict)  # loops: dim, count, n_state, placeholders, ...


@dataclass(eq=False)
class Module:
    """A layer instance: an op with weights, a block instance, or a sequence (nn.Sequential)."""

    path: str
    name: str
    kind: str            # 'op' | 'block' | 'seq'
    span: Span
    op: Any = None
    attrs: Any = None
    block: Any = None
    args: dict = field(default_factory=dict)
    children: dict = field(default_factory=dict)
    disabled: dict = field(default_factory=dict)   # layer name -> span, for layers whose condition is false
    calls: list = field(default_factory=list)       # graph nodes (op) or output values (block), one per call
    program: list | None = None                     # block: statements of its forward, from the first call
    inputs: list = field(default_factory=list)      # block: input Tensors of the first call
    output: Any = None                              # block: output structure of the first call
    static_scope: Any = None                        # block: names visible to its forward (args, lets)
    methods: dict = field(default_factory=dict)     # model: method name -> a Module view running that method

    def walk(self):
        yield self
        for child in self.children.values():
            yield from child.walk()


class Graph:
    def __init__(self) -> None:
        self.g = nx.DiGraph()
        self.outputs: dict[str, Any] = {}     # model name -> output structure
        self.roots: dict[str, Module] = {}    # model name -> root module
        self.inputs: dict[str, list[str]] = {}  # model name -> input node ids
        self.uses: dict[str, list[str]] = {}  # model name -> the models its forward calls (elaborate/compose.py)
        self.objectives: dict[str, Module] = {}  # objective name -> root (elaborate/objectives.py)
        self.facts = Facts()  # declared dims and assumed conditions: what dims.decide may use
        self._suffix: dict[str, int] = {}  # base id -> the suffix to try first (keeps unique_id linear)

    def unique_id(self, base: str) -> str:
        if base not in self.g:
            return base
        k = self._suffix.get(base, 1)
        while f"{base}_{k}" in self.g:
            k += 1
        self._suffix[base] = k
        return f"{base}_{k}"

    def add(self, node_id: str, inputs: list, shape=None, **fields) -> str:
        """A new node; `shape` for inputs, whose shape elaboration knows."""
        self.g.add_node(node_id, node=Node(node_id, inputs=inputs, meta=Meta(shape=shape), **fields))
        for t in flat_tensors(inputs):
            self.g.add_edge(t.node, node_id)
        return node_id

    def module_at(self, path: str) -> Module | None:
        """The layer instance at a dotted path (`layer1.0`), searching every model."""
        for root in self.roots.values():
            if root.path and path == root.path:
                return root
            rest = path[len(root.path) + 1:] if root.path and path.startswith(root.path + ".") else path
            here: Module | None = root
            for part in rest.split(".") if rest else []:
                here = here.children.get(part) if here is not None else None
            if here is not None:
                return here
        return None

    def node(self, node_id: str) -> Node:
        return self.g.nodes[node_id]["node"]

    def nodes(self):
        """(id, Node) in dataflow order."""
        return self.g.nodes(data="node")

    def shape(self, t: Tensor):
        """The shape of a value: its node's shape, or for a node with several outputs the one `t` is."""
        meta = self.node(t.node).meta
        return meta.outputs[t.index] if meta.outputs is not None else meta.shape

    def dtype(self, t: Tensor) -> str | None:
        """The dtype of a value, read as `shape` reads its shape."""
        meta = self.node(t.node).meta
        return meta.dtypes[t.index] if meta.dtypes is not None else meta.dtype

    def __len__(self) -> int:
        return self.g.number_of_nodes()


def flat_tensors(value):
    """The Tensors of a value: one Tensor, or nested lists and tuples of them; for a ModeChoice those of its
    training side, then those of its eval side that the training side does not return."""
    if isinstance(value, ModeChoice):
        train = list(flat_tensors(value.train))
        yield from train
        yield from (t for t in flat_tensors(value.eval) if t not in train)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from flat_tensors(v)
    elif isinstance(value, Tensor):
        yield value
