"""Safe YAML with source positions: every value keeps the Span it came from.

Only YAML's standard tags are accepted (no `!!python/...`), keys must be unique, and the number of
nodes is bounded so aliases cannot blow up.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import yaml

from ..errors import LimitError, Span, YamlError
from ..limits import DEFAULTS, check_int_literal, current as current_limit, exceeded
from .expr import Locate

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same nodes, faster
_STR = "tag:yaml.org,2002:str"
MAX_YAML_DEPTH = 100  # independent of Python's recursion limit, which other libraries may raise
_SAFE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
MAX_NODES = DEFAULTS["max_yaml_nodes"]


class BoundedLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing integers longer than MAX_INT_DIGITS (Python reads at most 4,300 digits)."""

    def construct_yaml_int(self, node):
        check_int_literal(node.value)
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def load_value(text: str):
    """A plain YAML value from the command line (`-D name=value`), integers bounded."""
    return yaml.load(text, Loader=BoundedLoader)


@dataclass
class YScalar:
    value: Any
    span: Span
    locate: Locate  # maps (line, col) inside the value's text to the file


@dataclass
class YSeq:
    items: list
    span: Span


@dataclass
class YMap:
    items: dict  # key str -> value node, in file order
    keys: dict   # key str -> Span of the key
    span: Span

    def get(self, key: str, default=None):
        return self.items.get(key, default)


def _span(file: str, mark, length: int = 1) -> Span:
    return Span(file, mark.line + 1, mark.column + 1, max(1, length))


def _scalar_locator(file: str, node: yaml.ScalarNode, text: str, starts: list[int]) -> Locate:
    """Map positions in a scalar's value back to the file (exact for plain, quoted and `|` scalars). `starts`:
    the offset of each line of `text` (and its end). The function's `place` decides every span it gives (for
    expr.parse's cache of parses at their places)."""
    start = node.start_mark
    if node.style == ">" or (node.style != "|" and node.end_mark.line > start.line):
        return _folded_locator(file, node, text, starts)
    if node.style == "|":
        body = start.line + 1
        first = next((text[a:b] for a, b in zip(starts[body:], starts[body + 1:]) if text[a:b].strip()), "")
        indent = len(first) - len(first.lstrip(" "))

        def locate(line: int, col: int, length: int) -> Span:
            return Span(file, start.line + 1 + line, indent + col, length)
        locate.place = "|", file, start.line, indent
    else:
        first_col = start.column + 1 + (1 if node.style in ("'", '"') else 0)

        def locate(line: int, col: int, length: int) -> Span:
            if line == 1:
                return Span(file, start.line + 1, first_col + col - 1, length)
            return Span(file, start.line + line, col, length)
        locate.place = "line", file, start.line, first_col
    return locate


def _folded_locator(file: str, node: yaml.ScalarNode, text: str, starts: list[int]) -> Locate:
    """Positions in a scalar whose lines YAML folds (a multi-line plain or quoted scalar, or `>`).

    The value is aligned with its source text once, on first use: equal characters map to each other, a
    folded line break maps to the break it replaced, and quotes, escapes and indentation are skipped. What the
    spans depend on is the source lines of the scalar (whole) and where they are: its `place`.
    """
    first = starts[min(node.start_mark.line, len(starts) - 1)] + node.start_mark.column
    last = starts[min(node.end_mark.line, len(starts) - 1)] + node.end_mark.column
    value = node.value
    where: list[int] = []  # text offset of each character of the value
    line_starts: list[int] = []  # offset in the value of each of its lines

    def align() -> None:
        j = first
        for ch in value:
            while j < last and text[j] != ch and not (ch in " \n" and text[j] in "\r\n"):
                j += 1
            where.append(min(j, max(first, last - 1)))
            if j < last and text[j] in "\r\n" and ch in " \n":
                while j < last and text[j] in " \t\r\n":
                    j += 1
            else:
                j += 1
        line_starts.extend(accumulate((len(l) + 1 for l in value.split("\n")), initial=0))

    def locate(line: int, col: int, length: int) -> Span:
        if not line_starts:
            align()
        offset = line_starts[min(line, len(line_starts)) - 1] + col - 1
        at = where[min(max(0, offset), len(where) - 1)] if where else first
        row = bisect_right(starts, at, 1) - 1  # the line holding `at` (the last line past the end)
        rest = len(text[starts[row]:starts[row + 1] if row + 1 < len(starts) else None].rstrip("\r\n"))
        c = at - starts[row] + 1
        return Span(file, row + 1, c, max(1, min(length, rest - c + 1)))
    top = starts[min(node.start_mark.line, len(starts) - 1)]
    end = starts[min(node.end_mark.line + 1, len(starts) - 1)]
    locate.place = "folded", file, node.start_mark.line, text[top:end], first - top, last - top
    return locate


def line_starts(text: str) -> list[int]:
    """The offset of each line of `text` (lines as str.splitlines ends them), then the end of the text."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


class _Converter:
    def __init__(self, file: str, text: str):
        self.file, self.text, self.count = file, text, 0
        self.lines = len(text.splitlines())
        self.max_nodes = current_limit("max_yaml_nodes")
        self.constructor = BoundedLoader("")
        self.starts = line_starts(text)

    def construct(self, node, span: Span):
        """The Python value of a scalar node; a too long integer is located at the node."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except LimitError as exc:
            exc.span = span
            raise

    def convert(self, node, depth: int = 0):
        if depth > MAX_YAML_DEPTH:
            raise LimitError(f"the spec nests too deeply: YAML values more than {MAX_YAML_DEPTH} levels deep",
                             _inside(_span(self.file, node.start_mark), self.text),
                             hint="a spec's sections are a few levels deep; this looks like a damaged file")
        self.count += 1
        if self.count > self.max_nodes:
            raise LimitError(f"the spec has more than {self.max_nodes:,} YAML values (the limit `max_yaml_nodes`)",
                             _inside(_span(self.file, node.start_mark), self.text),
                             hint="each copy an alias expands to counts; " + exceeded("max_yaml_nodes"))
        if node.tag not in _SAFE_TAGS:
            raise YamlError(f"the YAML tag `{node.tag}` is not allowed in a spec", _span(self.file, node.start_mark),
                            hint="specs are data: only plain YAML values (numbers, strings, lists, mappings)")
        span = _span(self.file, node.start_mark,
                     node.end_mark.column - node.start_mark.column if node.end_mark.line == node.start_mark.line else 1)
        if span.line > self.lines:  # an empty value at the very end of the file
            span = _inside(span, self.text)
        if isinstance(node, yaml.ScalarNode):
            value = node.value if node.tag == _STR else self.construct(node, span)
            return YScalar(value, span, _scalar_locator(self.file, node, self.text, self.starts))
        if isinstance(node, yaml.SequenceNode):
            return YSeq([self.convert(n, depth + 1) for n in node.value], span)
        items, keys = {}, {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag not in _SAFE_TAGS:
                raise YamlError("mapping keys must be plain names", _span(self.file, knode.start_mark))
            key = str(self.construct(knode, _span(self.file, knode.start_mark)))
            kspan = _span(self.file, knode.start_mark, len(key))
            if key in items:
                first = keys[key]
                raise YamlError(f"the key `{key}` appears twice in this mapping", kspan,
                                hint=f"the first `{key}` is at line {first.line}; YAML would silently keep only one")
            keys[key] = kspan
            items[key] = self.convert(vnode, depth + 1)
        return YMap(items, keys, span)


def _inside(span: Span, text: str) -> Span:
    """A mark at the very end of the text (after the last newline) moves to the end of the last line."""
    lines = text.splitlines() or [""]
    if span.line <= len(lines):
        return span
    return Span(span.file, len(lines), len(lines[-1]) + 1, 1)


def load_yaml(text: str, file: str):
    """Parse YAML text into YMap/YSeq/YScalar nodes; None for an empty document."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = _inside(_span(file, mark), text) if mark else Span(file, 1, 1)
        raise YamlError(f"invalid YAML: {exc.problem or exc.context}", span,
                        hint="check the indentation and quoting near this line; expressions containing `: ` or "
                             "`#` must be quoted") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", Span(file, 1, 1)) from None
    if node is None:
        return None
    return _Converter(file, text).convert(node)
