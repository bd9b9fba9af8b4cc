"""Dtype inference: run each op's dtype rule (ops/dtypes.py) over the graph in dataflow order, after shapes.

Inputs have their declared dtype (float32 unless declared); loops carry their states' dtypes and stack their
per-step outputs'. A rule's DtypeRuleError becomes a located TypeError_ (E006) at the call.
"""
from __future__ import annotations

from ..errors import ArchDSLError, TypeError_
from ..ir.graph import Graph, Node, flat_tensors
from ..ops.dtypes import DtypeRuleError
from .loops import LOOP_KINDS


def input_dtypes(graph: Graph, node: Node) -> list:
    """The dtypes of a node's inputs, flat (list-input ops' tensors in order)."""
    return [graph.dtype(t) for t in flat_tensors(node.inputs)]


def infer_dtypes(graph: Graph, collect_errors: bool = False) -> list[ArchDSLError]:
    """Write `dtype` (and `dtypes` for several outputs) on every node whose shapes are known."""
    errors: list[ArchDSLError] = []
    for nid, node in graph.nodes():
        if node.kind == "input":
            node.meta.dtype = node.dtype or "float32"
            continue
        ins = input_dtypes(graph, node)
        if node.meta.shape is None or None in ins:  # its shape or an input's failed: nothing to say
            continue
        try:
            _infer(node, ins)
        except DtypeRuleError as exc:
            err = _located(exc, nid, node, ins)
            if not collect_errors:
                raise err from None
            errors.append(err)
    return errors


def _infer(node: Node, ins: list) -> None:
    if node.kind == "loop_in":
        node.meta.dtype = ins[0]
        return
    outs: list | None
    if node.kind in LOOP_KINDS:
        outs = loop_dtypes(node, ins)
    else:
        out = node.op.dtype_rule(node.attrs, ins)
        outs = None if node.meta.outputs is None else [out] * len(node.meta.outputs)
        node.meta.dtype = out
    if outs is not None:
        node.meta.dtypes, node.meta.dtype = outs, outs[0] if outs else None


def loop_dtypes(node: Node, ins: list) -> list:
    """A loop's output dtypes (as loops.loop_outputs orders its shapes): carried states keep theirs."""
    kind, a = node.kind, node.attrs
    sources, body = ins[:node.n_inputs], ins[node.n_inputs:]
    first = 0 if kind == "loop" else 1
    m = 0 if kind == "loop" else a.get("step_outputs", 1)
    state_in = sources[first:first + a["n_state"]]
    for i, (before, after) in enumerate(zip(state_in, body[m:])):
        if before != after:
            raise DtypeRuleError(f"the carried state {i} of `{kind}` changes dtype in one step: {before} in, "
                                 f"{after} out", hint="the body must return each state with the dtype it received")
    if kind == "loop":
        return list(state_in)
    if kind == "scan":
        return body[:m] + list(state_in)
    return ["int64"] + body[:m] + list(state_in)  # decode: argmax positions (the body is checked with the start's)


def _located(exc: DtypeRuleError, nid: str, node: Node, ins: list) -> ArchDSLError:
    what = f"`{node.op.name}` " if node.op is not None else ""
    err = TypeError_(what + exc.message, node.call_span, hint=exc.hint)
    err.with_note(f"at node `{nid}`, input dtype{'s' if len(ins) > 1 else ''} {', '.join(ins)}")
    if node.module and node.span != node.call_span:
        err.with_note(f"the layer `{node.module}` is defined at {node.span}")
    return err
