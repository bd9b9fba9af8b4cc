"""Helpers that write argument and operand source for the lowerings."""
from __future__ import annotations


def src_args(a, pos=(), kw=None, first=()) -> str:
    """Argument source: `first` (sources, e.g. the input or in_channels), then attributes in `pos` positionally,
    then those in `kw` ({name: PyTorch default}) by keyword when they differ from the default."""
    out = [str(f) for f in first] + [repr(a[k]) for k in pos]
    out += [f"{k}={a[k]!r}" for k, default in (kw or {}).items() if not _is_default(a[k], default)]
    return ", ".join(out)


def _is_default(v, default) -> bool:
    """`(1, 1)` counts as the default `1`: PyTorch expands an int to every spatial dim."""
    return v == default or (isinstance(v, tuple) and all(e == default for e in v))


def atom(src: str) -> str:
    """`src` safe to put before `.method()` or next to an operator: dotted names pass, the rest is parenthesized."""
    return src if all(part.isidentifier() for part in src.split(".")) else f"({src})"
