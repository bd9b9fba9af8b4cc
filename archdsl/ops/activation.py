"""Elementwise activations: shape-preserving, no weights."""
from __future__ import annotations

from .registry import Param, register


def _same(a, ins):
    return ins[0]


register(name="relu", family="activation", doc="Rectified linear unit max(x, 0).", shape=_same,
         init=lambda a, ins: "nn.ReLU()", call=lambda a, ins, args: f"torch.relu({args[0]})",
         shape_doc="shape unchanged")
