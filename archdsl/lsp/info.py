"""What hover and completion show, as Markdown: shapes with their symbolic dims, parameters, MACs, values,
op signatures. Everything is read from the checked graph (Node.meta) and the module tree."""
from __future__ import annotations

from ..dims import fmt_shape
from ..errors import ArchDSLError
from ..ir.graph import Graph, Module, Tensor, flat_tensors
from ..ops.registry import REGISTRY, Op, signature
from ..reporting.summary import human
from ..syntax.unparse import unparse
from .index import Def, Index, Ref

SHOWN = 6  # instances listed in a hover; the rest are counted


def hover(index: Index, graph: Graph | None, item: Def | Ref) -> str | None:
    target = index.resolve(item) if isinstance(item, Ref) else item
    if target is None:
        op = REGISTRY.get(item.name)
        return op_doc(op) if op is not None else None
    head = f"**{target.kind}** `{target.name}`"
    if target.kind == "layer":
        return "\n\n".join([head + _expr(target), *_layer(index, graph, target, item)])
    if target.kind in ("var", "input"):
        return "\n\n".join([head, *_tensor(index, graph, target)])
    if target.kind in ("param", "block param", "let"):
        return "\n\n".join([head + _expr(target), *_value(index, graph, target)])
    bdef = index.doc.blocks.get(target.name) if target.kind == "block" else None
    return "\n\n".join([head, *([bdef.doc] if bdef is not None and bdef.doc else []),
                        *([f"{len(instances(graph, bdef))} instances"] if bdef is not None and graph else [])])


def op_doc(op: Op) -> str:
    lines = [f"```\n{signature(op)}\n```", op.doc]
    if op.shape_doc:
        lines.append(f"shape: `{op.shape_doc}`")
    lines += [f"- `{p.name}`: {p.doc}" for p in op.params if p.doc]
    return "\n\n".join(lines[:3]) + ("\n\n" + "\n".join(lines[3:]) if lines[3:] else "")


def _expr(d: Def) -> str:
    return f" = `{unparse(d.node)}`" if d.node is not None else ""


# --- the block instances of a block or model, and what belongs to one

def instances(graph: Graph | None, bdef) -> list[Module]:
    """The modules that run `bdef` (a block's instances, a model's root, a method's view), in model order."""
    if graph is None:
        return []
    roots = [*graph.roots.values(), *graph.objectives.values()]
    found = [m for r in roots for m in (*r.walk(), *r.methods.values()) if m.kind == "block" and m.block is bdef]
    return list({id(m): m for m in found}.values())


def _owned(graph: Graph, path: str) -> list:
    """The graph nodes of a layer instance: its op's calls, or everything inside the block or sequence."""
    inside = (lambda p: p is not None and (p == path or p.startswith(path + "."))) if path else (lambda p: True)
    return [n for _, n in graph.nodes() if inside(n.module) or (n.module is None and inside(n.scope))]


def _shapes(graph: Graph, value) -> str:
    if isinstance(value, str):  # an op layer's call: its node id
        meta = graph.node(value).meta
        shapes = meta.outputs if meta.outputs is not None else [meta.shape]
    else:
        shapes = [graph.shape(t) for t in flat_tensors(value)]
    return ", ".join(fmt_shape(s) if s is not None else "?" for s in shapes) or "?"


def _costs(graph: Graph, path: str) -> str:
    nodes = _owned(graph, path)
    params = sum(n.meta.params or 0 for n in nodes)
    macs = sum((n.meta.macs or 0 for n in nodes), 0)
    return f"{params:,} params · {human(macs)} MACs"


def _listed(lines: list) -> list:
    more = len(lines) - SHOWN
    return lines[:SHOWN] + ([f"- … and {more} more"] if more > 0 else [])


def _layer(index: Index, graph: Graph | None, d: Def, item) -> list:
    parts = []
    node = d.node
    op = REGISTRY.get(node.func.id) if hasattr(node, "func") and hasattr(node.func, "id") else None
    if op is not None:
        parts.append(f"op `{signature(op)}`: {op.doc}")
    if graph is None:
        return parts
    lines = []
    for inst in instances(graph, d.owner):
        if d.name in inst.disabled:
            lines.append(f"- `{inst.path or d.owner.name}`: disabled (its definition is None)")
            continue
        layer = inst.children.get(d.name)
        if layer is None:
            continue
        here = [s for s in inst.program or () if isinstance(item, Ref) and s.kind == "module"
                and s.callee == d.name and s.span == item.span]
        out = _shapes(graph, here[0].result if here else layer.calls[0]) if (here or layer.calls) else "never called"
        lines.append(f"- `{layer.path}`: {'here ' if here else ''}→ `{out}` · {_costs(graph, layer.path)}")
    return parts + _listed(lines)


def _tensor(index: Index, graph: Graph | None, d: Def) -> list:
    """The value of an input or a forward variable in each instance of its block."""
    if graph is None:
        return []
    lines = []
    for inst in instances(graph, d.owner):
        value = _bound(index, graph, inst, d)
        if value is None:
            continue
        dtype = ""
        if isinstance(value, Tensor) and graph.node(value.node).dtype:
            dtype = f" {graph.node(value.node).dtype}"
        lines.append(f"- `{inst.path or d.owner.name}`: `{_shapes(graph, value)}`{dtype}")
    return _listed(lines)


def _bound(index: Index, graph: Graph, inst: Module, d: Def):
    """The tensor(s) the name `d` is bound to in the first call of `inst`."""
    if d.kind == "input":
        names = [n for n, _, _ in d.owner.inputs]
        return inst.inputs[names.index(d.name)] if d.name in names and len(inst.inputs) == len(names) else None
    first, stop = index.stmt_range(d.owner, d.order)
    stmts = [s for s in inst.program or () if first <= s.span.line < stop and _has(s.target, d.name)]
    if not stmts:
        return None
    s = stmts[-1]
    if isinstance(s.target, str):
        return s.result
    return _pick(s.target, s.result, d.name)


def _has(target, name: str) -> bool:
    return target == name if isinstance(target, str) else isinstance(target, tuple) and any(_has(t, name)
                                                                                             for t in target)


def _pick(target, value, name: str):
    if isinstance(target, str):
        return value if target == name else None
    if not isinstance(value, (list, tuple)) or len(value) != len(target):
        return None
    for t, v in zip(target, value):
        if _has(t, name):
            return _pick(t, v, name)
    return None


def _value(index: Index, graph: Graph | None, d: Def) -> list:
    """A parameter's or let's value; a block parameter's in each instance, with where the instance sets it."""
    if d.kind == "param":
        value = index.doc.params[d.name][0]
        return [f"value `{value!r}` (the default; override it with `-D {d.name}=...` or "
                f"`archdsl.load(path, {d.name}=...)`)"]
    lines = []
    owners = instances(graph, d.owner) if d.owner is not None else [*graph.roots.values()][:1] if graph else []
    for inst in owners:
        try:
            value = inst.static_scope.lookup(d.name, d.span)
        except ArchDSLError:
            continue
        where = f" (set at line {inst.span.line})" if d.kind == "block param" and inst.path else ""
        lines.append(f"- `{inst.path or inst.name}`: `{_repr(value)}`{where}")
    return _listed(lines)


def _repr(value) -> str:
    from ..elaborate.values import describe

    plain = (int, float, str, bool, list, tuple, dict, type(None))
    text = repr(value) if isinstance(value, plain) else describe(value)
    return text if len(text) <= 120 else text[:117] + "..."
