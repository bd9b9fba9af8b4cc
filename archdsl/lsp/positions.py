"""Spans (1-based line and column in code points) to LSP positions (0-based, in the negotiated code units)."""
from __future__ import annotations

import re

from ..errors import Span

_BREAK = re.compile(r"\r\n|\r|\n")  # the line ends of the LSP; other breaks YAML knows stay inside a line


class Lines:
    def __init__(self, text: str, encoding: str = "utf-16"):
        self.lines = _BREAK.split(text)
        self.encoding = encoding

    def _units(self, s: str) -> int:
        if self.encoding == "utf-32":
            return len(s)
        if self.encoding == "utf-8":
            return len(s.encode("utf-8", "surrogatepass"))
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)

    def position(self, line: int, col: int) -> tuple[int, int]:
        """The LSP position of a 1-based (line, col), clamped into the text."""
        row = min(max(line, 1), len(self.lines)) - 1
        text = self.lines[row]
        return row, self._units(text[:min(max(col, 1) - 1, len(text))])

    def range(self, span: Span | None) -> tuple[tuple[int, int], tuple[int, int]]:
        """The range a span covers on its line (its caret width); the document's start for no span."""
        if span is None:
            return (0, 0), (0, 0)
        start = self.position(span.line, span.col)
        end = self.position(span.line, span.col + max(1, span.length))
        return start, end

    def span_point(self, row: int, units: int) -> tuple[int, int]:
        """The 1-based (line, col) of an LSP position."""
        row = min(max(row, 0), len(self.lines) - 1)
        text, col, seen = self.lines[row], 0, 0
        while col < len(text) and seen + self._units(text[col]) <= units:
            seen += self._units(text[col])
            col += 1
        return row + 1, col + 1

    def end(self) -> tuple[int, int]:
        return len(self.lines) - 1, self._units(self.lines[-1])
