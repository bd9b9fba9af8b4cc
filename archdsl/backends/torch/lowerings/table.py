"""The PyTorch lowering table: for each op of the registry (keyed by its name), the source it becomes.

A lowering's callables take `a` (the bound attributes, attribute access) and `ins` (input shapes):
  init(a, ins) -> "nn.Conv2d(3, 64, 7)"            constructor source, when the op can be a layer
  call(a, ins, args) -> "torch.relu(x)"           functional source for inline use in `forward`
  layer_call(a, ins, module, args) -> source      how a layer built by `init` is called; None: module(*args)
  inplace(a, ins, args) -> "torch.relu_(x)"       the call overwriting its input, used where that input is dead
  inplace_init(a, ins) -> "nn.ReLU(inplace=True)" the layer overwriting its input, where it is dead at every call
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ....ops.registry import Attrs, Op


@dataclass(frozen=True)
class Lowering:
    init: Callable[[Attrs, list], str] | None = None
    call: Callable[[Attrs, list, list], str] | None = None
    layer_call: Callable[[Attrs, list, str, list], str] | None = None
    inplace: Callable[[Attrs, list, list], str] | None = None
    inplace_init: Callable[[Attrs, list], str] | None = None
    # Python source (torch, nn and F only) of helper classes/functions that `init` or `call` refer to; the
    # generated file holds it once, before the model classes. Its top-level names are reserved there.
    support: str = ""
    # Whether a call with these attributes uses `support` (None: every use of the op does).
    uses_support: Callable[[Attrs], bool] | None = None
    # The tuple attributes that `call` writes as the whole argument list of a method that takes them as one
    # sequence too (`x.permute(0, 2, 1)` is `x.permute([0, 2, 1])`): a generated class may pass its list.
    sequences: tuple[str, ...] = ()


LOWERINGS: dict[str, Lowering] = {}


def lower(name: str, **kwargs) -> None:
    """Register the lowering of the op `name`."""
    if name in LOWERINGS:
        raise ValueError(f"op {name!r} is lowered twice")
    LOWERINGS[name] = Lowering(**kwargs)


def lowering(op: Op) -> Lowering:
    try:
        return LOWERINGS[op.name]
    except KeyError:
        raise LookupError(f"op {op.name!r} has no PyTorch lowering (archdsl/backends/torch/lowerings/)") from None


def probed_call(op: Op) -> bool:
    """A layer whose value is not simply the module's output (several outputs, or a custom call): runtime
    shape checks probe its call expression instead of hooking the module."""
    return op.outputs is not None or lowering(op).layer_call is not None
