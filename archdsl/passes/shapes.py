"""Shape inference: run each op's shape rule over the graph in dataflow order. No torch involved."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..dims import fmt_shape, reasoning, same
from ..errors import ArchDSLError, ShapeError, ShapeRuleError
from ..ir.graph import Graph, Node, flat_tensors
from .loops import LOOP_KINDS, loop_outputs, step_input_shape

if TYPE_CHECKING:
    from .carry import Carried


def input_shapes(graph: Graph, node: Node) -> list:
    """The shapes of a node's inputs (a list of them for list-input ops)."""
    return [[graph.shape(x) for x in t] if isinstance(t, list) else graph.shape(t) for t in node.inputs]


def infer_shapes(graph: Graph, collect_errors: bool = False, carried: Carried | None = None) -> list[ArchDSLError]:
    """Write `shape` on every node. Raises the first ShapeError, or collects them all (for diagrams).
    Dims are compared under the graph's declared dims and assumptions (dims.Facts). `carried`: the results
    of the document's previous check that carry over (passes/carry.py)."""
    with reasoning(graph.facts):
        return _infer(graph, collect_errors, carried)


def _infer(graph: Graph, collect_errors: bool, carried: Carried | None) -> list[ArchDSLError]:
    errors: list[ArchDSLError] = []
    failed: set[str] = set()
    sizes: dict[str, dict] = {}  # the sizes each layer takes from its inputs, at its first call
    for nid, node in graph.nodes():
        kind = node.kind
        if kind == "input":
            if carried is not None:
                carried.shaped(node, False)
            continue
        if any(t.node in failed for t in flat_tensors(node.inputs)):
            failed.add(nid)
            node.meta.shape = None
            continue
        op = node.op
        ins = input_shapes(graph, node)
        flat_ins = ins[0] if op is not None and op.inputs is None else ins
        old = carried.shape_meta(node) if carried is not None else None
        try:
            if old is not None:
                node.meta.shape, node.meta.outputs = old.shape, None if old.outputs is None else list(old.outputs)
            elif kind == "loop_in":
                node.meta.shape = step_input_shape(node, ins[0])
            elif kind in LOOP_KINDS:
                node.meta.outputs, node.meta.count = loop_outputs(node, ins)
                node.meta.shape = node.meta.outputs[0] if node.meta.outputs else ()
            elif op.outputs is not None:  # several outputs: one shape per output index
                node.meta.outputs = [tuple(s) for s in op.shape(node.attrs, flat_ins)]
                node.meta.shape = node.meta.outputs[0]
            else:
                node.meta.shape = tuple(op.shape(node.attrs, flat_ins))
            if node.module:
                _check_layer_sizes(node, flat_ins, sizes)
            if carried is not None:
                carried.shaped(node, old is not None)
        except ShapeRuleError as exc:
            err = _located(exc, graph, nid, node, flat_ins)
            if not collect_errors:
                raise err from None
            errors.append(err)
            failed.add(nid)
            node.meta.shape = None
    return errors


def _check_layer_sizes(node: Node, ins: list, sizes: dict) -> None:
    """A layer called twice must take the same sizes (in_features, ...) from its inputs both times."""
    here = node.op.sizes(node.attrs, ins)
    first = sizes.setdefault(node.module, here)
    again = f"the layer `{node.module}` called again compares"
    if first.keys() != here.keys() or not all(same(here[k], first[k], f"{again} {k}=") for k in first):
        raise ShapeRuleError(f"the layer `{node.module}` is called again with inputs that need other sizes: "
                             f"{_sizes_text(here)} here, {_sizes_text(first)} before",
                             hint="a layer called twice shares its weights; declare a second layer instead")


def _sizes_text(sizes: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())


def _located(exc: ShapeRuleError, graph: Graph, nid: str, node: Node, ins: list) -> ArchDSLError:
    where = node.call_span
    err = ShapeError(exc.message, where, hint=exc.hint)
    shown = ", ".join(fmt_shape(s) for s in ins)
    if node.op is not None:
        err.with_note(f"at node `{nid}`, input shape{'s' if len(ins) > 1 else ''} {shown}")
    if node.module and node.span != where:
        err.with_note(f"the layer `{node.module}` is defined at {node.span}")
    scope = node.scope
    instance = graph.module_at(scope) if scope else None
    if instance is not None and instance.block is not None:
        args = ", ".join(f"{k}={v!r}" for k, v in instance.args.items())
        err.with_note(f"inside `{scope}`, the instance {instance.block.name}({args}) made at {instance.span}")
    return err
