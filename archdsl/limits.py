"""archdsl's resource limits: each has a name, a default, a command-line flag and a message.

A spec is untrusted data: these bounds keep a hostile or mistaken spec from exhausting time or memory.
Every limit can be raised: `archdsl check SPEC --max-repeat 1000000`, or
`archdsl.load(path, limits={"max_repeat": 1_000_000})`. Code deep inside the compiler reads the limits in
force with `current(name)`; `load` and `Spec` put the ones they were given in force while they work.
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from . import errors
from .errors import LimitError, UsageError, did_you_mean

GiB = 1 << 30


@dataclass(frozen=True)
class Limit:
    name: str
    default: int
    what: str  # what it bounds, for --help and docs

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


LIMITS = {limit.name: limit for limit in (
    Limit("max_file_bytes", 1_000_000, "size of a spec file in bytes"),
    Limit("max_yaml_nodes", 200_000, "YAML values in a spec, after expanding aliases"),
    Limit("max_imports", 64, "spec files a spec imports blocks from, directly or through the files it imports"),
    Limit("max_import_depth", 8, "nesting of imports: a file importing a file importing ..."),
    Limit("max_expr_depth", 200, "nesting depth of one expression (brackets, operators)"),
    Limit("max_repeat", 100_000, "repeat counts, list lengths and loop iterations in expressions"),
    Limit("max_work", 10_000_000, "elements one comprehension builds or reads, its elements' work included"),
    Limit("max_depth", 64, "nesting of block instances (a block that uses itself never ends)"),
    Limit("max_nodes", 200_000, "ops in the graph and layer instances in the module tree"),
    Limit("max_memory", 8 * GiB, "bytes for the weights plus the activations of one forward pass (float32)"),
)}
DEFAULTS = {name: limit.default for name, limit in LIMITS.items()}

# A rule of the language rather than a resource limit: an integer written in a spec (YAML, expressions, -D)
# has at most this many characters, so Python's own limit (4,300 digits) is never reached.
MAX_INT_DIGITS = 1000

_active: ContextVar[dict | None] = ContextVar("archdsl_limits", default=None)


def resolve(overrides: dict | None) -> dict:
    """All limits, with `overrides` checked (known names, positive integers) and applied."""
    out = dict(DEFAULTS)
    for name, value in (overrides or {}).items():
        if name not in LIMITS:
            raise UsageError(f"`{name}` is not a limit", hint=did_you_mean(name, LIMITS)
                             or f"limits: {', '.join(LIMITS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"the limit `{name}` must be a positive integer, got {value!r}")
        out[name] = value
    return out


def current(name: str) -> int:
    limits = _active.get()
    return (limits or DEFAULTS)[name]


@contextmanager
def active(limits: dict | None):
    """Put `limits` (a full dict from `resolve`, or None for the defaults) in force for the block."""
    token = _active.set(limits)
    try:
        yield
    finally:
        _active.reset(token)


def check_int_literal(text: str, span=None) -> None:
    """A LimitError, before Python reads it, for an integer written with more than MAX_INT_DIGITS characters."""
    if len(text) <= MAX_INT_DIGITS:
        return
    raise LimitError(f"an integer of {len(text):,} characters is too long (at most {MAX_INT_DIGITS:,})", span,
                      hint="numbers in a spec are sizes, counts and rates")


def exceeded(name: str) -> str:
    """The standard hint of a LimitError: which limit, its value, and how to raise it."""
    return f"`{name}` is {fmt(name, current(name))}; raise it with {LIMITS[name].flag}"


def fmt(name: str, value: int) -> str:
    return human_bytes(value) if name == "max_memory" else f"{value:,}"


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`8GiB`, `512MB`, `1e9` or `1000000` -> bytes (KiB/MiB/GiB are powers of 1024, kB/MB/GB of 1000)."""
    m = _SIZE.match(text)
    if m:
        number, prefix, binary = m.groups()
        power = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
        value = float(number) * (1024 if binary or not prefix else 1000) ** power
    else:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if not math.isfinite(value):  # `inf`, `nan`, `1e999`: int() would raise OverflowError
        raise ValueError(f"not a size: {text!r} (write e.g. 16GiB or 2000000000)")
    return int(value)


errors.read_limit = lambda: current("max_file_bytes")  # error rendering reads at most what loading may
