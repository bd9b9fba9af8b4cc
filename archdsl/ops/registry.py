"""The op registry: every primitive op declared once, with what it means: schema, shape rule, cost, doc, flags.

How an op becomes code is each backend's business: the PyTorch lowering is in archdsl/backends/torch/lowerings/,
the diagram's captions and colours in archdsl/backends/graphviz/. An entry's callables take `a` (the bound
attributes, attribute access) and `ins` (input shapes):
  shape(a, ins) -> output Shape               pure; raises ShapeRuleError with both numbers on misuse
  weights(a, ins) -> int                      learnable parameter count of the op as a layer
  macs(a, ins, out) -> Dim                    multiply-adds (conv, linear, matmul; 0 for the rest)
  sizes(a, ins) -> {name: size}               the sizes a layer takes from its inputs (in_channels, ...)
  dtypes(a, in_dtypes) -> dtype               the output dtype; raises DtypeRuleError on misuse (ops/dtypes.py)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..dims import Shape
from ..errors import ArgumentError, LimitError, Span, did_you_mean
from ..limits import current as current_limit, exceeded
from .dtypes import rule_of

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()
MAX_INT = 2**40


class Attrs(dict):
    """Bound op attributes with attribute access: `a.stride`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _zero(*_args) -> int:
    return 0


def _no_sizes(*_args) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Param:
    """One op parameter. `type` is a key of TYPE_CHECKS; `min` bounds ints (each element of a tuple); `limit`
    names the limit of archdsl/limits.py bounding an int that drives work (num_layers: `max_repeat`)."""

    name: str
    type: str
    default: Any = REQUIRED
    min: int | float | None = None
    limit: str | None = None
    choices: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class Op:
    name: str
    doc: str
    shape: Callable[[Attrs, list], Shape]
    params: tuple[Param, ...] = ()
    inputs: int | tuple | None = 1  # number of tensor inputs, a tuple of accepted counts (optional state
    #                                 inputs: (1, 3)), or None: one list of tensors (concat)
    weights: Callable[[Attrs, list], int] = _zero
    macs: Callable[[Attrs, list, Shape], Any] = _zero
    # The sizes a layer takes from its input shapes ({"in_features": 64}): a layer called twice must get the
    # same ones. Empty when the layer's sizes come from its attributes only.
    sizes: Callable[[Attrs, list], dict[str, Any]] = _no_sizes
    family: str = "other"
    shape_doc: str = ""
    macs_doc: str = ""
    # Several outputs: their structure as nested tuples of output indices, e.g. (0, (1, 2)) for nn.LSTM's
    # `output, (h_n, c_n)`; the shape rule then returns one shape per index, in index order. None: one output.
    outputs: Any = None
    # The output structure when the attributes decide it (chunk's parts; multi_head_attention's weights with
    # need_weights): a function of them giving a structure as `outputs`, or None for one output.
    outputs_of: Callable[[Attrs], Any] | None = None
    layer_only: bool = False    # it has weights or running statistics: it must be declared under `layers:`
    inline_only: bool = False   # it cannot be a layer: it is used inline in `forward` only
    # It computes differently in training and eval mode (dropout, batch norm, sampling); a rule on the
    # attributes where that depends on them (reparameterize samples in training mode with sample='train').
    training_dependent: bool | Callable[[Attrs], bool] = False
    unit_interval: bool = False  # its inputs are probabilities in [0, 1] (tests draw them so)
    ids_below: str | None = None  # its input holds integer ids below the value of this parameter (embedding)
    dtypes: Callable[[Attrs, list], str] | None = None  # None: the default of ops/dtypes.py (layer or family)
    # Tensor inputs a layer call may give by keyword (`lstm1(x, lengths=lengths)`): they follow the positional
    # inputs, in this order, and the call's node has each given one as an attribute set to true (`a.lengths`).
    call_keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layer_only and self.inline_only:
            raise ValueError(f"op {self.name!r} cannot be both layer_only and inline_only")

    def called(self, attrs: Attrs) -> "Op":
        """The op as called with these attributes: its `outputs` those that `outputs_of` gives for them."""
        return self if self.outputs_of is None else replace(self, outputs=self.outputs_of(attrs))

    def depends_on_training(self, attrs: Attrs) -> bool:
        flag = self.training_dependent
        return flag(attrs) if callable(flag) else flag

    @property
    def dtype_rule(self) -> Callable[[Attrs, list], str]:
        return rule_of(self)

    @property
    def arities(self) -> tuple:
        """The accepted numbers of tensor inputs (empty for list-input ops)."""
        return () if self.inputs is None else self.inputs if isinstance(self.inputs, tuple) else (self.inputs,)

    @property
    def chainable(self) -> bool:
        """As a layer, it can be a step of a layer list (an nn.Sequential): one tensor in, one tensor out."""
        return self.outputs is None and 1 in self.arities

    @property
    def n_outputs(self) -> int:
        return len(list(flat_indices(self.outputs))) if self.outputs is not None else 1


def flat_indices(structure):
    """The output indices of an output structure, in order: (0, (1, 2)) -> 0, 1, 2."""
    if isinstance(structure, int):
        yield structure
    else:
        for s in structure:
            yield from flat_indices(s)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_size(v) -> bool:
    """A symbolic integer (a sympy expression of symbolic dims)."""
    return getattr(v, "is_integer", None) is True and bool(getattr(v, "free_symbols", None))


def _ints(v, allow_neg=False) -> bool:
    return (_is_int(v) or (isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_int(x) for x in v)))


TYPE_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "int": ("an integer", _is_int),
    "float": ("a number", _is_number),
    "number": ("a number", _is_number),  # as "float", but an int stays an int (`t * 2` on integer tensors)
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "ints": ("an integer or a tuple of integers", _ints),
    "padding": ("an integer, a tuple of integers, 'same' or 'valid'", lambda v: _ints(v) or v in ("same", "valid")),
    "int_list": ("a list of integers", lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v)),
    "size_list": ("a list of integers or sizes of the input (`x.shape[2] % 2`, read in a `let`)",
                  lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) or _is_size(x) for x in v)),
    "any": ("any value", lambda v: True),
}


class Registry:
    def __init__(self) -> None:
        self._ops: dict[str, Op] = {}

    def register(self, op: Op) -> Op:
        if op.name in self._ops:
            raise ValueError(f"op {op.name!r} is registered twice")
        for p in op.params:
            if p.type not in TYPE_CHECKS:
                raise ValueError(f"op {op.name!r}: parameter {p.name!r} has unknown type {p.type!r}")
        self._ops[op.name] = op
        return op

    def get(self, name: str) -> Op | None:
        return self._ops.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._ops

    def names(self) -> list[str]:
        return sorted(self._ops)

    def all(self) -> list[Op]:
        return [self._ops[n] for n in self.names()]


REGISTRY = Registry()


def register(**kwargs) -> Op:
    return REGISTRY.register(Op(**kwargs))


def bind(op: Op, args: list[tuple[Any, Span]], kwargs: dict[str, tuple[Any, Span]], span: Span) -> Attrs:
    """Match call arguments to the op's schema, check types, fill defaults. Errors point at the argument."""
    names = [p.name for p in op.params]
    if len(args) > len(op.params):
        value, where = args[len(op.params)]
        raise ArgumentError(f"`{op.name}` takes at most {len(op.params)} positional arguments, got {len(args)}",
                            where, hint=f"signature: {signature(op)}")
    given: dict[str, tuple[Any, Span]] = dict(zip(names, args))
    for key, (value, where) in kwargs.items():
        if key not in names:
            raise ArgumentError(f"`{op.name}` has no parameter `{key}`", where,
                                hint=did_you_mean(key, names) or f"signature: {signature(op)}")
        if key in given:
            raise ArgumentError(f"`{op.name}` got `{key}` twice", where, hint=f"signature: {signature(op)}")
        given[key] = (value, where)
    out = Attrs()
    for p in op.params:
        if p.name not in given:
            if p.default is REQUIRED:
                raise ArgumentError(f"`{op.name}` is missing its argument `{p.name}`", span,
                                    hint=f"signature: {signature(op)}")
            out[p.name] = p.default
            continue
        value, where = given[p.name]
        if isinstance(value, list):
            value = tuple(value)
        out[p.name] = check_param(op, p, value, where)
    return out


def check_param(op: Op, p: Param, value: Any, where: Span) -> Any:
    what, ok = TYPE_CHECKS[p.type]
    if value is None and p.default is None:
        return None
    if not ok(value):
        raise ArgumentError(f"`{op.name}({p.name}=...)` must be {what}, got {value!r}", where,
                            hint=f"signature: {signature(op)}")
    if p.type == "float" and isinstance(value, int):
        value = float(value)
    if p.choices and value not in p.choices:
        raise ArgumentError(f"`{op.name}({p.name}=...)` must be one of {', '.join(map(repr, p.choices))}, got {value!r}",
                            where)
    elems = value if isinstance(value, tuple) else (value,)
    for v in elems:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v:
                raise ArgumentError(f"`{op.name}({p.name}=...)` must be a number, got NaN", where,
                                    hint="NaN is no size, rate or slope")
            if p.min is not None and v < p.min:
                raise ArgumentError(f"`{op.name}({p.name}=...)` must be at least {p.min}, got {v}", where)
            if abs(v) > MAX_INT:
                raise ArgumentError(f"`{op.name}({p.name}=...)` is too large: {v}", where)
            if p.limit and v > current_limit(p.limit):
                raise LimitError(f"`{op.name}({p.name}=...)` is {v:,}, more than the limit `{p.limit}`", where,
                                 hint=exceeded(p.limit))
    return value


def signature(op: Op) -> str:
    parts = [p.name if p.default is REQUIRED else f"{p.name}={p.default!r}" for p in op.params]
    return f"{op.name}({', '.join(parts)})"
