"""Dtype rules: what each op accepts and gives, as PyTorch computes it.

A rule takes `a` (the bound attributes) and `ins` (the input dtypes: 'float32', 'float64', 'int64', 'int32',
'bool'; flat for list-input ops) and returns the output dtype (every output's, for ops with several). On misuse it
raises DtypeRuleError; the dtype pass (passes/dtypes.py) locates it. An op without its own rule (`dtypes=` in
its registry entry) gets LAYER if it is a layer with weights (layer_only), else its family's (FAMILY_RULES).
"""
from __future__ import annotations

FLOATS = ("float32", "float64")
INTS = ("int64", "int32")
ORDER = ("bool", "int32", "int64", "float32", "float64")  # torch's promotion: bool < integers < floats
WEIGHTS = "float32"  # the dtype of every layer's parameters


class DtypeRuleError(Exception):
    """Raised by a dtype rule; the dtype pass turns it into a located error."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _cast_hint(dtype: str) -> str:
    return f"convert it with `cast(x, '{dtype}')`"


def _need(ins, allowed: tuple, what: str, hint_dtype: str, hint: str | None = None) -> None:
    for i, d in enumerate(ins):
        if d not in allowed:
            raise DtypeRuleError(f"takes {what}, got {d} (input {i})", hint=hint or _cast_hint(hint_dtype))


def promote(ins) -> str:
    """The dtype of an elementwise result (torch.result_type of tensors with dims)."""
    return max(ins, key=ORDER.index)


def SAME(a, ins) -> str:
    """The first input's dtype (layout, selection, integer-safe elementwise ops)."""
    return ins[0]


def PROMOTE(a, ins) -> str:
    """Arithmetic and concatenation: torch's promotion; bool tensors do not subtract."""
    return promote(ins)


def FLOAT(a, ins) -> str:
    """Floating-point inputs only; the promoted float dtype."""
    _need(ins, FLOATS, "floating-point tensors", WEIGHTS)
    return promote(ins)


def MATCHING(a, ins) -> str:
    """Products (matmul, bmm, einsum): every operand of one dtype, which the result has."""
    if len(set(ins)) > 1:
        raise DtypeRuleError(f"takes operands of one dtype, got {', '.join(ins)}", hint=_cast_hint(promote(ins)))
    return ins[0]


def LAYER(a, ins) -> str:
    """A layer with float32 weights: float32 inputs, float32 output."""
    _need(ins, (WEIGHTS,), f"{WEIGHTS} tensors (its weights are {WEIGHTS})", WEIGHTS)
    return WEIGHTS


def GIVES_FLOAT32(a, ins) -> str:
    """A learned tensor: float32, whatever its input (which gives only the batch size)."""
    return WEIGHTS


def INDICES(a, ins) -> str:
    """Positions (argmax, argmin): int64."""
    return "int64"


def ATTR_DTYPE(a, ins) -> str:
    """The dtype named by the `dtype` attribute (cast, batch_full)."""
    return a.dtype


def IDS(gives: str):
    """Integer token ids in (embedding, token_mask); `gives` out."""
    def rule(a, ins) -> str:
        _need(ins, INTS, "integer ids", "int64", hint="declare token inputs as `{shape: [N, T], dtype: int64, "
                                                     "high: vocab}`, or " + _cast_hint("int64"))
        return gives
    return rule


def ONE_HOT(a, ins) -> str:
    _need(ins, ("int64",), "int64 ids", "int64")
    return "int64"


def GATHER(a, ins) -> str:
    """The input's dtype, at int64 positions."""
    _need(ins[1:], ("int64",), "int64 positions (the index, input 1)", "int64")
    return ins[0]


def SUM(a, ins) -> str:
    """torch.sum: integers and booleans add up as int64."""
    return ins[0] if ins[0] in FLOATS else "int64"


def with_masks(rule, k: int):
    """`rule` on the first `k` inputs; the rest are masks, bool or floating (added to the scores)."""
    def masked(a, ins) -> str:
        _need(ins[k:], ("bool", *FLOATS), "bool or floating-point masks", "bool")
        return rule(a, ins[:k])
    return masked


def SCALAR_ARITH(a, ins) -> str:
    """`x op number`: an integer tensor stays integer with an int number, except under true division."""
    x = ins[0]
    if x == "bool" and a.op == "-":
        raise DtypeRuleError("cannot subtract with a bool tensor (as in torch)", hint=_cast_hint("float32"))
    if x in FLOATS:
        return x
    if a.op == "/" or isinstance(a.value, float):
        return WEIGHTS  # torch's default float dtype
    return "int64" if x == "bool" else x


def SUB(a, ins) -> str:
    if "bool" in ins:
        raise DtypeRuleError("cannot subtract with a bool tensor (as in torch)", hint=_cast_hint("float32"))
    return promote(ins)


FAMILY_RULES = {
    "activation": FLOAT, "attention": FLOAT, "conv": FLOAT, "dropout": FLOAT, "linear": MATCHING, "loss": FLOAT,
    "merge": PROMOTE, "norm": FLOAT, "pool": FLOAT, "recurrent": SAME, "stochastic": FLOAT, "tensor": SAME,
}


def rule_of(op):
    """The op's dtype rule: its own, LAYER for a layer with weights, else its family's (KeyError: none)."""
    if op.dtypes is not None:
        return op.dtypes
    return LAYER if op.layer_only else FAMILY_RULES[op.family]
