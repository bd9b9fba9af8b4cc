"""Name scopes and the builtin functions of the expression language."""
from __future__ import annotations

import math
from typing import Any

from ..errors import LimitError, NameError_, Span
from ..limits import DEFAULTS, current as current_limit, exceeded
from .values import Builtin

MAX_REPEAT = DEFAULTS["max_repeat"]
# Ops that have a new name: {old name: new name}. A spec using the old name gets an error whose hint names the new.
RENAMED_OPS = {"multihead_attention": "multi_head_attention"}


# Other names for ops, as PyTorch and papers call them: {name, lower case without `_`: the ops it may mean}.
# A spec using one is told the op by meaning before any op spelled alike (`swish`: `silu`, not `sigmoid`).
OP_ALIASES = {
    "swish": ["silu"], "hswish": ["hardswish"], "hsigmoid": ["hardsigmoid"], "gelutanh": ["gelu"],
    "mha": ["multi_head_attention"], "selfattention": ["multi_head_attention", "scaled_dot_product_attention"],
    "attention": ["multi_head_attention", "scaled_dot_product_attention"], "sdpa": ["scaled_dot_product_attention"],
    "flashattention": ["scaled_dot_product_attention"], "dense": ["linear"], "fullyconnected": ["linear"],
    "cat": ["concat"], "concatenate": ["concat"], "conv": ["conv2d", "conv1d"], "convolution": ["conv2d"],
    "deconv": ["conv_transpose2d"], "convtranspose": ["conv_transpose2d"], "droppath": ["stochastic_depth"],
    "embed": ["embedding"], "mean": ["reduce_mean"], "view": ["reshape"], "transpose": ["permute"],
    "tensorsplit": ["split", "chunk"], "unbind": ["chunk"], "slice": ["narrow"], "norm": ["layernorm", "vector_norm"],
    "bn": ["batchnorm2d"], "ln": ["layernorm"], "gap": ["global_avgpool2d"], "upsample": ["interpolate"],
    "onehot": ["one_hot"], "causalmask": ["causal_mask"], "astype": ["cast"],
    "sdp": ["scaled_dot_product_attention"], "layerscale": ["parameter"], "clstoken": ["parameter"],
}


def suggest(name: str, names) -> str | None:
    """`did you mean ...?`: the ops `name` means (OP_ALIASES, or the same letters without `_`) first, then
    the names spelled alike."""
    import difflib

    names = sorted(set(names))
    key = name.lower().replace("_", "")
    meant = [n for n in OP_ALIASES.get(key, []) if n in names] + \
        [n for n in names if n.lower().replace("_", "") == key and n != name]
    close = [n for n in difflib.get_close_matches(name, names, n=3, cutoff=0.6) if n not in meant]
    picks = (meant + close)[:3]
    return "did you mean " + " or ".join(f"`{c}`" for c in picks) + "?" if picks else None


class Scope:
    def __init__(self, names: dict | None = None, parent: "Scope | None" = None, what: str = ""):
        self.vars = dict(names or {})
        self.parent = parent
        self.what = what

    def child(self, names: dict | None = None, what: str = "") -> "Scope":
        return Scope(names, self, what)

    def lookup(self, name: str, span: Span) -> Any:
        scope = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return self.missing(name, span)

    def missing(self, name: str, span: Span) -> Any:
        hint = f"`{name}` was renamed to `{RENAMED_OPS[name]}`" if name in RENAMED_OPS else \
            suggest(name, self.all_names())
        raise NameError_(f"`{name}` is not defined", span, hint=hint)

    def all_names(self) -> set:
        out, scope = set(), self
        while scope is not None:
            out |= set(scope.vars)
            scope = scope.parent
        return out


class SymbolScope(Scope):
    """Scope for input dims: unknown names become symbolic dims (or their -D value)."""

    def __init__(self, parent: Scope, values: dict):
        super().__init__({}, parent, "dims")
        self.values = values
        self.created: dict = {}

    def missing(self, name: str, span: Span) -> Any:
        if name in self.values:
            return self.values[name]
        if name not in self.created:
            from ..dims import symbol

            self.created[name] = symbol(name)
        return self.created[name]


def _range(*args):
    r = range(*args)
    if len(r) > current_limit("max_repeat"):
        raise LimitError(f"range of {len(r):,} elements exceeds the limit `max_repeat`", hint=exceeded("max_repeat"))
    return list(r)


def _sum(items, start=0):
    """sum() of numbers, or of lists with a list start (`sum(lists, [])`), within the limit `max_repeat`."""
    if isinstance(start, (list, tuple)):
        total = len(start) + sum(len(x) if isinstance(x, (list, tuple)) else 0 for x in items)
        if total > current_limit("max_repeat"):
            raise LimitError(f"the sum has {total:,} elements, more than the limit `max_repeat`",
                             hint=exceeded("max_repeat"))
    elif isinstance(start, str) or any(isinstance(x, (str, list, tuple)) for x in items):
        raise TypeError("sum() adds numbers, or lists when given a list start: sum(lists, [])")
    return sum(items, start)


BUILTINS = {
    "range": _range, "len": len, "min": min, "max": max, "abs": abs, "int": int, "float": float,
    "str": str, "bool": bool, "sum": _sum, "list": list, "tuple": tuple, "round": round,
    "enumerate": lambda xs, start=0: list(enumerate(xs, start)), "zip": lambda *xs: list(zip(*xs)),
    "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt, "log": math.log,
}
CONSTANTS = {"true": True, "false": False, "True": True, "False": False, "null": None, "None": None}


def builtin_scope() -> Scope:
    names: dict[str, Any] = {k: Builtin(k, f) for k, f in BUILTINS.items()}
    names.update(CONSTANTS)
    return Scope(names, None, "builtins")
