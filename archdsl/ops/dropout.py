"""Dropout: identity in eval mode, so shapes are unchanged and there are no weights."""
from __future__ import annotations

from ..errors import ShapeRuleError
from ._util import expect_min_rank, expect_rank
from .registry import Param, register

_P = Param("p", "float", 0.5, min=0, doc="drop probability, 0 to 1")


def check_p(name: str, p: float, key: str = "p") -> None:
    """A drop probability: at least 0 by its Param's min, at most 1 by this check."""
    if p > 1:
        raise ShapeRuleError(f"`{name}` {key}={p} is a probability and must be at most 1")


def _shape(name: str, ranks):
    def shape(a, ins):
        check_p(name, a.p)
        if ranks:
            expect_rank(name, ins[0], ranks)
        return ins[0]

    return shape


for _name, _ranks, _doc in (
        ("dropout", None, "Zero elements with probability p (nn.Dropout)."),
        ("dropout2d", (4,), "Zero whole channels of [N, C, H, W] with probability p (nn.Dropout2d)."),
):
    register(
        name=_name, family="dropout", doc=_doc, params=(_P,),
        shape=_shape(_name, _ranks), training_dependent=True,
        shape_doc="shape unchanged" if _ranks is None else "[N, C, H, W] unchanged",
    )


def _stochastic_depth_shape(a, ins):
    check_p("stochastic_depth", a.p)
    if a.mode == "row":
        expect_min_rank("stochastic_depth", ins[0], 1)
    return ins[0]


register(
    name="stochastic_depth", family="dropout",
    doc="Stochastic depth (torchvision.ops.stochastic_depth): in training, drop the whole input of a residual "
        "branch with probability p, per sample ('row') or for the whole batch ('batch'), and scale what survives "
        "by 1 / (1 - p); the identity in eval mode.",
    params=(Param("p", "float", min=0, doc="drop probability, 0 to 1"),
            Param("mode", "str", "row", choices=("row", "batch"), doc="'row': one draw per sample (dim 0); "
                                                                     "'batch': one draw for the whole batch")),
    shape=_stochastic_depth_shape, training_dependent=True,
    shape_doc="shape unchanged",
)
