"""Memory estimate from static shapes, checked against the limit `max_memory` before anything is allocated.

The estimate is what one float32 forward pass with autograd keeps: every weight, plus every node's output
(times the steps it runs inside loops). Symbolic dims take the values given for them; a dim still
symbolic counts as 1, so the estimate is then a lower bound: a spec is rejected only when even its
smallest inputs would not fit.

Spec.build() checks the weights before allocating them; archdsl.testing checks weights and activations
before running a model on the CPU (on the meta device nothing is allocated).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..dims import substitute
from ..errors import LimitError
from ..ir.graph import Graph
from ..limits import current as current_limit, exceeded, human_bytes
from .loops import LOOP_KINDS

BYTES_PER_ELEMENT = 4  # float32


@dataclass
class MemoryEstimate:
    weights: int          # bytes
    activations: int      # bytes
    largest: str | None   # the node with the largest output
    largest_bytes: int
    exact: bool           # False when some dims were symbolic (counted as 1)

    @property
    def total(self) -> int:
        return self.weights + self.activations


def estimate_memory(graph: Graph, dims: dict | None = None) -> MemoryEstimate:
    dims = dict(dims or {})
    values: dict = {}
    exact = True

    def value(d) -> int:
        nonlocal exact
        if isinstance(d, int):
            return max(d, 0)
        if d not in values:
            v = substitute(d, dims)
            if not isinstance(v, int):
                exact = False
                v = substitute(v, {s.name: 1 for s in v.free_symbols})
            values[d] = max(int(v), 1) if isinstance(v, int) else 1
        return values[d]

    def elements(shape) -> int:
        n = 1
        for d in shape:
            n *= value(d)
        return n

    weights = activations = largest_bytes = 0
    largest = None
    for nid, node in graph.nodes():
        weights += _count((node.meta.params or 0)) * BYTES_PER_ELEMENT
        shapes = node.meta.outputs if node.kind in LOOP_KINDS else [node.meta.shape]
        size = sum(elements(s) for s in shapes or () if s is not None) * BYTES_PER_ELEMENT
        size *= value((node.meta.repeat or 1))
        activations += size
        if size > largest_bytes:
            largest, largest_bytes = nid, size
    return MemoryEstimate(weights, activations, largest, largest_bytes, exact)


def _count(v) -> int:
    return v if isinstance(v, int) else 0


def check_memory(graph: Graph, dims: dict | None = None, activations: bool = True) -> MemoryEstimate:
    """Raise a LimitError, located at the largest layer or activation, when the weights (and activations)
    exceed the limit `max_memory`."""
    limit = current_limit("max_memory")
    est = estimate_memory(graph, dims)
    if not activations:
        est.activations, est.largest, est.largest_bytes = 0, None, 0
    if est.total <= limit:
        return est
    given = ", ".join(f"{k}={v}" for k, v in sorted((dims or {}).items()))
    at = f" with {given}" if given else ""
    bound = "at least " if not est.exact else ""
    if est.weights > est.activations or est.largest is None:
        span = _largest_layer_span(graph)
    else:
        node = graph.node(est.largest)
        span = node.call_span or node.span
    what = (f"{bound}{human_bytes(est.total)}{at} (weights {human_bytes(est.weights)}, activations "
            f"{human_bytes(est.activations)})") if activations else f"{human_bytes(est.weights)} for its weights"
    err = LimitError(f"the model needs {what}, more than the limit `max_memory`", span, hint=exceeded("max_memory"))
    if est.largest:
        err.with_note(f"the largest activation is `{est.largest}`, {human_bytes(est.largest_bytes)}")
    if not est.exact and activations:
        err.with_note("symbolic dims without a value count as 1")
    raise err


def _largest_layer_span(graph: Graph):
    best, span = 0, None
    for _, node in graph.nodes():
        p = _count((node.meta.params or 0))
        if p > best:
            best, span = p, node.span
    return span
