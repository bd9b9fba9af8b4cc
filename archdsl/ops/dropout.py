"""Dropout: identity in eval mode, so shapes are unchanged and there are no weights."""
from __future__ import annotations

from ..errors import ShapeRuleError
from ._util import expect_rank
from .registry import Param, register


def _shape(name: str, ranks):
    def shape(a, ins):
        if a.p > 1:
            raise ShapeRuleError(f"`{name}` p={a.p} is a probability and must be at most 1")
        if ranks:
            expect_rank(name, ins[0], ranks)
        return ins[0]

    return shape


for _name, _ranks, _doc in (
        ("dropout", None, "Zero elements with probability p (nn.Dropout)."),
        ("dropout2d", (4,), "Zero whole channels of [N, C, H, W] with probability p (nn.Dropout2d)."),
):
    register(
        name=_name, family="dropout", doc=_doc,
        params=(Param("p", "float", 0.5, min=0, doc="drop probability, 0 to 1"),),
        shape=_shape(_name, _ranks), training_dependent=True,
        shape_doc="shape unchanged" if _ranks is None else "[N, C, H, W] unchanged",
    )
