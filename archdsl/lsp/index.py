"""The names of a spec: every definition (params, lets, blocks, models, layers, inputs, forward variables)
and every use of a name in an expression, each with its span and the block or model it belongs to.

A use resolves as elaboration scopes names: the forward's earlier assignments, the inputs, the layers, the
block's lets and parameters, then (for a method) its model's, then the top level's lets and parameters,
the blocks and models; anything else is an op or a builtin.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import Span
from ..syntax import ast as A
from ..syntax.spec import BlockDef, SpecDoc

LOCAL_KINDS = ("var", "input", "layer", "let", "block param")  # what a block or model defines, innermost first


@dataclass(frozen=True, eq=False)
class Def:
    kind: str                  # 'param' 'let' 'block' 'model' 'method' 'objective' 'layer' 'input' 'var' 'block param'
    name: str
    span: Span                 # the name where it is defined
    owner: BlockDef | None     # the block or model it belongs to; None: the top level
    node: A.Node | None = None  # its expression: a layer's, a let's, a block parameter's default
    order: int = -1            # forward variables: the statement that assigns it


@dataclass(frozen=True, eq=False)
class Ref:
    name: str
    span: Span
    owner: BlockDef | None
    order: int = -1            # in a forward: the statement it is in (it sees the variables assigned before)


def _name_span(span: Span, name: str) -> Span:
    return Span(span.file, span.line, span.col, len(name))


class Index:
    def __init__(self, doc: SpecDoc):
        self.doc = doc
        self.defs: list[Def] = []
        self.refs: list[Ref] = []
        self.parent: dict[int, BlockDef] = {}  # id(method) -> its model
        self.stmt_lines: dict[int, list[int]] = {}  # id(block) -> first line of each forward statement
        for name, (_, span) in doc.params.items():
            self.defs.append(Def("param", name, span, None))
        self._lets(doc.lets, None)
        for bdef in doc.blocks.values():
            if bdef.name in doc.hidden:  # used by an imported block, not a name of this spec
                continue
            self.defs.append(Def("block", bdef.name, _name_span(bdef.span, bdef.name), None))
            if bdef.home is not None:  # imported: its name only, defined in its file
                continue
            for pname, default, span in bdef.params:
                self.defs.append(Def("block param", pname, span, bdef, default if isinstance(default, A.Node) else None))
                self._uses(default, None)
            self._body(bdef, lets=True)
        for model in doc.models.values():
            if doc.multi_model:
                self.defs.append(Def("model", model.name, model.span, None))
            self._body(model, lets=doc.multi_model)
            for mdef in model.methods.values():
                self.parent[id(mdef)] = model
                self.defs.append(Def("method", mdef.name, mdef.span, model))
                self._body(mdef, lets=True)
        for obj in doc.objectives.values():
            self.defs.append(Def("objective", obj.name, obj.span, None))
            self._body(obj, lets=True)

    # --- building
    def _lets(self, lets: list, owner: BlockDef | None) -> None:
        for name, node, span in lets:
            self.defs.append(Def("let", name, span, owner, node))
            self._uses(node, owner)

    def _body(self, bdef: BlockDef, lets: bool) -> None:
        for name, dims, span in bdef.inputs:
            self.defs.append(Def("input", name, span, bdef))
            self._uses(dims, None)
        if lets:  # a single-model spec's lets are the top level's
            self._lets(bdef.lets, bdef)
        for name, node, span in bdef.layers:
            self.defs.append(Def("layer", name, span, bdef, node))
            self._uses(node, bdef)
        if bdef.forward is None:
            return
        self.stmt_lines[id(bdef)] = [s.span.line for s in bdef.forward.stmts]
        for k, stmt in enumerate(bdef.forward.stmts):
            if isinstance(stmt, A.Assign):
                for target in _flat(stmt.targets):
                    self.defs.append(Def("var", target.id, target.span, bdef, order=k))
                self._uses(stmt.value, bdef, k)
            else:
                self._uses(stmt, bdef, k)

    def _uses(self, node, owner: BlockDef | None, order: int = -1, bound: frozenset = frozenset()) -> None:
        """Record the names an expression reads; comprehension variables are local to it."""
        if isinstance(node, A.Name):
            if node.id not in bound:
                self.refs.append(Ref(node.id, node.span, owner, order))
        elif isinstance(node, A.ListComp):
            for comp in node.fors:
                self._uses(comp.iter, owner, order, bound)
                bound = bound | {t.id for t in _flat(comp.targets)}
                for cond in comp.conds:
                    self._uses(cond, owner, order, bound)
            self._uses(node.elt, owner, order, bound)
        elif isinstance(node, A.Node):
            for f in fields(node):
                if f.name != "span":
                    self._uses(getattr(node, f.name), owner, order, bound)
        elif isinstance(node, (list, tuple)):
            for item in node:
                self._uses(item, owner, order, bound)

    # --- queries
    def at(self, line: int, col: int) -> Def | Ref | None:
        """The definition or use under a 1-based position (the narrowest; the end of a name counts too)."""
        hits = [x for x in (*self.refs, *self.defs) if x.span.line == line and x.span.file == self.doc.file
                and x.span.col <= col <= x.span.col + max(len(x.name), 1)]
        return min(hits, key=lambda x: x.span.length, default=None)

    def resolve(self, ref: Ref) -> Def | None:
        """The definition a use refers to; None for ops, builtins and unknown names."""
        owner, order = ref.owner, ref.order
        while owner is not None:
            local = [d for d in self.defs if d.owner is owner and d.name == ref.name and d.kind in LOCAL_KINDS
                     and (d.kind != "var" or d.order < order)]
            if local:
                return max(local, key=lambda d: (LOCAL_KINDS[::-1].index(d.kind), d.order))
            owner, order = self.parent.get(id(owner)), -1
        top = [d for d in self.defs if d.owner is None and d.name == ref.name]
        kinds = ("let", "param", "block", "model", "objective")
        return min(top, key=lambda d: kinds.index(d.kind) if d.kind in kinds else len(kinds), default=None)

    def owner_at(self, line: int) -> BlockDef | None:
        """The block or model the text at `line` belongs to: that of the nearest name at or above it."""
        above = [x for x in (*self.refs, *self.defs) if x.span.line <= line and x.span.file == self.doc.file]
        best = max(above, key=lambda x: (x.span.line, x.span.col), default=None)
        if best is None:
            return None
        return best.owner if not isinstance(best, Def) or best.kind not in ("block", "model", "objective") \
            else self.defined(best)

    def defined(self, d: Def) -> BlockDef | None:
        return (self.doc.blocks.get(d.name) if d.kind == "block" else self.doc.models.get(d.name)
                if d.kind == "model" else self.doc.objectives.get(d.name))

    def visible(self, owner: BlockDef | None) -> list[Def]:
        """The names defined in `owner` (and its model, for a method) and at the top level."""
        out = []
        while owner is not None:
            out += [d for d in self.defs if d.owner is owner and d.kind in LOCAL_KINDS]
            owner = self.parent.get(id(owner))
        return out + [d for d in self.defs if d.owner is None]

    def stmt_range(self, bdef: BlockDef, order: int) -> tuple[int, int]:
        """The lines of forward statement `order`: from its first line to before the next statement's."""
        lines = self.stmt_lines.get(id(bdef), [])
        return lines[order], lines[order + 1] if order + 1 < len(lines) else 1 << 30


def _flat(targets):
    if isinstance(targets, A.Name):
        yield targets
    elif isinstance(targets, (list, tuple)):
        for t in targets:
            yield from _flat(t)
