"""Pass results carried over from a document's previous check (the language server's): a node that the
previous check's graph has with the same id, op, attributes and input nodes, whose inputs' shapes are those
of then, keeps the shapes the shapes pass gave it then, and its MACs if it runs as often, instead of
evaluating its rules again.

That is exact: a node's shapes are a pure function of its op's rules, its attributes (compared with their
types: 1, 1.0 and True differ, and so do 0.0 and -0.0), its inputs' shapes and the graph's declared dims
(dims.Facts), which decide the dim comparisons its rules make; its MACs, of those and of how often it runs
(`repeat`). An input's shapes are those of then when its node's were carried over, or were inferred again
and are equal with the same types. Only a node that checked without an error then is carried, so every error
is raised again, at the node of this check; what depends on other nodes runs in full (a layer's sizes
compared across its calls, its parameters counted at its first call), and so do the dtype rules, cheaper
than this comparison. Loops and their step inputs are not carried. A graph that accepts assumptions
(`--assume`) carries nothing: its rules record what they assume in its facts.
"""
from __future__ import annotations

from ..ir.graph import Graph, flat_tensors
from ..ops.registry import Attrs


class Carry:
    """The latest checked graph of one document, for the next check to carry from."""

    def __init__(self) -> None:
        self.graph: Graph | None = None
        self.latest: Carried | None = None

    def start(self, graph: Graph) -> Carried | None:
        """What the passes of `graph` (elaborated, not yet checked) may carry over from the previous check."""
        old, self.graph, self.latest = self.graph, None, None
        if old is not None and not graph.facts.accept and old.facts.key == graph.facts.key:
            self.latest = Carried(dict(old.nodes()))
        return self.latest

    def keep(self, graph: Graph) -> None:
        """`graph`, its passes run in full, for the next check to carry from."""
        self.graph = graph


class Carried:
    """For the passes of one check: the previous check's nodes by id; `same`: the nodes whose shapes are those
    of then; `kept`: those whose shapes were carried over, and `macs`: whose MACs were."""

    def __init__(self, before: dict):
        self.before = before
        self.same: set = set()
        self.kept: set = set()
        self.macs: set = set()

    def shape_meta(self, node):
        """The previous check's Meta of `node` if its shapes carry over, else None."""
        old = self.before.get(node.id)
        if (old is None or node.kind != "op" or not all(t.node in self.same for t in flat_tensors(node.inputs))
                or not _same(old, node)):
            return None
        return old.meta

    def shaped(self, node, kept: bool) -> None:
        """`node`'s shapes were carried over (`kept`), or inferred or (for an input) given: note whether they
        are those of then."""
        if kept:
            self.kept.add(node.id)
            self.same.add(node.id)
            return
        old = self.before.get(node.id)
        if (old is not None and old.meta.shape is not None
                and _equal((node.meta.shape, node.meta.outputs), (old.meta.shape, old.meta.outputs))):
            self.same.add(node.id)

    def macs_of(self, node):
        """The previous check's MACs of `node` if they carry over (its shapes did, and it runs as often)."""
        if node.id not in self.kept:
            return None
        old = self.before[node.id].meta
        if type(old.repeat) is not type(node.meta.repeat) or old.repeat != node.meta.repeat:
            return None
        self.macs.add(node.id)
        return old.macs


def _same(old, node) -> bool:
    """Whether `node` is `old`, checked without an error, as far as its rules see it (not its inputs' values)."""
    return (old.kind == "op" and (node.op is old.op or node.op == old.op) and node.inputs == old.inputs
            and old.meta.shape is not None and old.meta.dtype is not None and _equal(node.attrs, old.attrs))


def _equal(a, b) -> bool:
    """Whether `a` and `b` are equal with the same types throughout (floats with the same repr: -0.0 is not
    0.0), for the values nodes hold (attributes, shapes: data and sympy dims, equal by structure)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b) or a != b:
        return False
    if kind is Attrs:  # keys are parameter names (str), in the op's order
        if tuple(a) != tuple(b):
            return False
        a, b, kind = tuple(a.values()), tuple(b.values()), tuple
    elif kind is dict:
        return _equal(tuple(a), tuple(b)) and _equal(tuple(a.values()), tuple(b.values()))
    if kind is tuple or kind is list:
        types = tuple(map(type, a))
        if types != tuple(map(type, b)):
            return False
        nested = tuple in types or list in types or dict in types or Attrs in types or float in types
        return not nested or all(map(_equal, a, b))
    return kind is not float or repr(a) == repr(b)
