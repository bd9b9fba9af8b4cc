"""Shape rules of the loop constructs (elaborate/loops.py): per-step inputs and loop outputs."""
from __future__ import annotations

from ..dims import fmt_shape, same
from ..errors import ShapeRuleError
from ..ir.graph import Node

LOOP_KINDS = ("scan", "loop", "decode")


def _axis(dim: int, rank: int, what: str) -> int:
    if not -rank <= dim < rank:
        raise ShapeRuleError(f"{what} {dim} is out of range for a rank-{rank} tensor")
    return dim % rank


def step_input_shape(node: Node, source) -> tuple:
    """A body input: the state or constant as is, or the scanned sequence without its scan dim."""
    drop = node.attrs["drop_dim"]
    if drop is None:
        return tuple(source)
    axis = _axis(drop, len(source), "the scan dim")
    return tuple(source[:axis]) + tuple(source[axis + 1:])


def loop_outputs(node: Node, ins: list) -> tuple[list, object]:
    """Output shapes of a loop node and its step count. `ins`: the loop's inputs, then the body's outputs."""
    kind, a = node.kind, node.attrs
    sources, body = ins[:node.n_inputs], ins[node.n_inputs:]
    k = a["n_state"]
    first = 0 if kind == "loop" else 1
    m = 0 if kind == "loop" else a.get("step_outputs", 1)  # per-step outputs come first in the body's outputs
    state_in, state_out = sources[first:first + k], body[m:]
    for i, (before, after) in enumerate(zip(state_in, state_out)):
        keeps = f"the carried state {i} of `{kind}` compares"
        if len(before) != len(after) or not all(same(p, q, keeps) for p, q in zip(before, after)):
            raise ShapeRuleError(f"the carried state {i} of `{kind}` changes shape in one step: "
                                 f"{fmt_shape(before)} in, {fmt_shape(after)} out",
                                 hint="the body must return each state with the shape it received")
    if kind == "loop":
        return list(state_in), a["count"]
    if kind == "scan":
        xs = sources[0]
        axis = _axis(a["dim"], len(xs), "the scan dim")
        count = xs[axis]
        stacked = [tuple(y[:min(axis, len(y))]) + (count,) + tuple(y[min(axis, len(y)):]) for y in body[:m]]
        return stacked + list(state_in), count
    start, logits = sources[0], body[0]
    if len(logits) != len(start) + 1:
        raise ShapeRuleError(f"`decode` needs logits with one more dim than the token, got token "
                             f"{fmt_shape(start)} and logits {fmt_shape(logits)}")
    n = a["max_len"]
    tokens = tuple(start) + (n,)
    at = len(start)  # the step dim follows the token's dims (the batch)
    stacked = [tuple(y[:at]) + (n,) + tuple(y[at:]) for y in body[:m]]
    return [tokens] + stacked + list(state_in), n
