"""Values of the expression language besides plain Python data and graph Tensors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import Span


@dataclass(frozen=True)
class OpFn:
    """A registry op named in an expression: `relu`, `conv2d`."""

    op: Any


@dataclass(frozen=True)
class BlockFn:
    """A block named in an expression: `Bottleneck`."""

    block: Any


@dataclass(frozen=True)
class OpTemplate:
    """An op with bound attributes, not yet a layer: `conv2d(64, 3)`."""

    op: Any
    attrs: Any
    span: Span


@dataclass(frozen=True)
class BlockTemplate:
    """A block with bound arguments, not yet a layer: `Bottleneck(64, stride=2)`."""

    block: Any
    args: dict
    span: Span


@dataclass(frozen=True)
class LayerRef:
    """A declared layer, as seen from `forward`; `callee`: its source after `self.` where that is not its
    name (`layers[0]`, `layers[1:]`, an element or a part of a layer list)."""

    module: Any
    callee: str | None = None
    owners: tuple = ()  # the layer lists it was taken from (`layers` for `layers[0]`): they count as used

    @property
    def source(self) -> str:
        return self.callee or self.module.name


@dataclass(frozen=True)
class Function:
    """A user function: `lambda v, d=8: ...` evaluated where it is called, in the scope it was written in."""

    node: Any
    scope: Any


@dataclass(frozen=True)
class LoopForm:
    """`scan`, `loop` or `decode`: loops with carried state (see loops.py)."""

    kind: str


@dataclass(frozen=True)
class Builtin:
    name: str
    fn: Callable


@dataclass(frozen=True)
class InputSizes:
    """A block's input in its `let` and `layers:`: only its sizes, `x.shape`."""

    name: str
    shape: tuple


@dataclass(frozen=True)
class Mode:
    """`training`: known only when the model runs; it chooses between tensors (`a if training else b`)."""


TRAINING = Mode()
TEMPLATES = (OpTemplate, BlockTemplate)


def describe(v: Any) -> str:
    """How a value is named in error messages."""
    from ..ir.graph import ModeChoice, Tensor

    if isinstance(v, Tensor):
        return "a tensor"
    if isinstance(v, OpFn):
        return f"the op `{v.op.name}`"
    if isinstance(v, BlockFn):
        return f"the block `{v.block.name}`"
    if isinstance(v, OpTemplate):
        return f"the layer definition `{v.op.name}(...)`"
    if isinstance(v, BlockTemplate):
        return f"the block instance `{v.block.name}(...)`"
    if isinstance(v, LayerRef):
        return f"the layer `{v.module.path}`"
    if isinstance(v, Builtin):
        return f"the function `{v.name}`"
    if isinstance(v, Function):
        return "a lambda"
    if isinstance(v, InputSizes):
        return f"the input `{v.name}` (only its `.shape` is known here)"
    if isinstance(v, Mode):
        return "`training` (the mode the model runs in)"
    if isinstance(v, ModeChoice):
        return "a model's output that differs by mode (`... if training else ...`)"
    if isinstance(v, LoopForm):
        return f"the loop form `{v.kind}`"
    if v is None:
        return "None"
    if v is Ellipsis:
        return "`...`"
    if isinstance(v, bool):
        return f"the boolean {v}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the string {v!r}"
    if isinstance(v, (list, tuple)):
        return f"a {type(v).__name__} of {len(v)}"
    if isinstance(v, dict):
        return "a dict"
    return f"a symbolic dim `{v}`"
