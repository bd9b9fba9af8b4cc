"""The graph to draw: the checked one, or, when shape errors are allowed, one with every shape error collected."""
from __future__ import annotations

from ...errors import ShapeError
from ...ir.graph import flat_tensors


def graph_for_drawing(spec, allow_errors: bool = False):
    """(graph, errors, failures): `failures` maps each node whose shape rule failed to its error message.

    Without `allow_errors` the first shape error is raised, as `Spec.check()` does. Other errors
    (names, arguments, structure) are always raised: without a graph there is nothing to draw.
    """
    try:
        return spec.graph, [], {}
    except ShapeError:
        if not allow_errors:
            raise
    from ...pipeline import elaborate

    result = elaborate(spec.doc, spec.overrides, spec.limits, collect_errors=True)
    return result.graph, result.errors, _failures(result.graph, result.errors)


def _failures(graph, errors: list) -> dict:
    """The nodes whose own rule failed (their inputs have shapes), matched to the errors in dataflow order."""
    failed = []
    for nid, node in graph.nodes():
        if node.kind == "input" or node.meta.shape is not None:
            continue
        ins = [graph.node(t.node).meta.shape for t in flat_tensors(node.inputs or [])]
        if all(s is not None for s in ins):
            failed.append(nid)
    return {nid: err.message for nid, err in zip(failed, errors)}
