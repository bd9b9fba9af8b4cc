"""Outputs that differ by mode: a model (or method) that ends with `(logits, aux) if training else logits`.

Inside a forward, `a if training else b` chooses between two tensors of one shape (the `if_training` op).
A model's output (its last statement, also inside static conditions: `(... if training else logits) if
aux_logits else logits`) may differ in structure: its value is a ModeChoice, generated as
`if self.training: return ...` and checked in each mode. What reads a model's output in one structure (a
model using it, a loop running it, an objective) refuses a ModeChoice with a located error.
"""
from __future__ import annotations

from ..errors import Span, TypeError_
from ..ir.graph import ModeChoice, Tensor
from ..syntax import ast as A
from .values import describe

HINT = ("return the same structure in both modes to use it here (e.g. `(logits, aux)`), or build the model "
        "without its training-only outputs")


def output_conds(stmt: A.Node) -> set:
    """The ids of the conditionals whose value is the value of `stmt`, a forward's last statement."""
    out: set = set()
    node = stmt.value if isinstance(stmt, A.Return) else stmt
    todo = [node]
    while todo:
        node = todo.pop()
        if isinstance(node, A.Cond):
            out.add(id(node))
            todo += [n for n in (node.body, node.orelse) if n is not None]
    return out


def is_entry(doc, block) -> bool:
    """Whether `block` is a model's or a method's definition (an entry point, whose output may differ by mode)."""
    return any(block is m or any(block is f for f in m.methods.values()) for m in doc.models.values())


def choice(train, eval_, span: Span) -> ModeChoice:
    """The output `train if training else eval_` (a side that is itself a ModeChoice gives its own side)."""
    sides = [v.side(mode) if isinstance(v, ModeChoice) else v for v, mode in ((train, "training"), (eval_, "eval"))]
    for v in sides:
        if not _tensor_tree(v):
            raise TypeError_(f"a model's output `a if training else b` chooses between tensors or tuples of them, "
                             f"got {describe(v)}", span)
    return ModeChoice(*sides)


def refuse(result, what: str, span: Span) -> None:
    """A located error where `what` (a model using another, a loop) reads an output that differs by mode."""
    if isinstance(result, ModeChoice):
        raise TypeError_(f"{what} returns {shape_text(result)}, so it cannot be used here", span, hint=HINT)


def shape_text(choice_: ModeChoice) -> str:
    """`a tuple of 2 in training and a tensor in eval`."""
    return f"{_count(choice_.train)} in training and {_count(choice_.eval)} in eval"


def _count(v) -> str:
    return "a tensor" if isinstance(v, Tensor) else f"a {type(v).__name__} of {len(v)}"


def _tensor_tree(v) -> bool:
    return isinstance(v, Tensor) or (isinstance(v, (tuple, list)) and bool(v) and all(_tensor_tree(x) for x in v))
