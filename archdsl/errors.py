"""Error types and compiler-style rendering: `file:line:col: error[CODE]: message`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A location in a spec file; line and col are 1-based, `length` is the caret width."""

    file: str
    line: int
    col: int
    length: int = 1

    def shifted(self, dline: int, dcol: int, length: int | None = None) -> "Span":
        return Span(self.file, self.line + dline, (self.col if dline == 0 else 1) + dcol,
                    self.length if length is None else length)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ArchDSLError(Exception):
    """Any error a user can cause with a spec, its parameters or the command line."""

    code = "E000"
    title = "spec error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.notes = tuple(notes)

    def with_note(self, note: str) -> "ArchDSLError":
        self.notes = self.notes + (note,)
        return self

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The full diagnostic: location, message, source line with a caret, hint, notes."""
        head = f"error[{self.code}]: {self.message}"
        if self.span is None:
            lines = [head]
        else:
            lines = [f"{self.span}: {head}"]
            text = (sources or {}).get(self.span.file)
            if text is None:
                text = _read_quietly(self.span.file)
            src = _line_of(text, self.span.line)
            if src is not None:
                gutter = f"{self.span.line:>4} | "
                src, col = _window(src.rstrip("\n"), self.span.col)
                lines.append(gutter + src)
                width = max(1, min(self.span.length, max(1, len(src) - col + 1), _WIDE))
                lines.append(" " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^" * width)
        lines += [f"  = note: {n}" for n in self.notes]
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}error[{self.code}]: {self.message}"


def read_limit() -> int:
    """How much of a file rendering may read; limits.py replaces this with its `max_file_bytes`."""
    return 64 * 2**20


def _read_quietly(path: str) -> str | None:
    """The file's text for showing a line; None if it cannot be read or exceeds `max_file_bytes` (/dev/zero)."""
    limit = read_limit()
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError:
        return None
    return raw.decode("utf-8", errors="replace") if len(raw) <= limit else None


_WIDE = 120  # longer source lines are shown as a window around the caret


def _window(src: str, col: int) -> tuple[str, int]:
    """`src` cut to about _WIDE characters around column `col`, and the caret's column in the cut."""
    if len(src) <= _WIDE:
        return src, col
    start = max(0, min(col - 1 - _WIDE // 2, len(src) - _WIDE))
    cut = src[start:start + _WIDE]
    head, tail = ("..." if start else ""), ("..." if start + _WIDE < len(src) else "")
    return head + cut + tail, col - start + len(head)


def _line_of(text: str | None, line: int) -> str | None:
    if text is None:
        return None
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


def _kind(code: str, title: str, doc: str) -> type[ArchDSLError]:
    cls = type(title.title().replace(" ", "") + "Error", (ArchDSLError,), {"code": code, "title": title, "__doc__": doc})
    return cls


# The catalogue: docs/errors.md lists each with an example; tests/test_errors.py triggers each.
FileError = _kind("E001", "file", "The spec file cannot be read, is too large, or is not UTF-8.")
YamlError = _kind("E002", "yaml", "The YAML is malformed, uses an unsafe tag, or repeats a key.")
StructureError = _kind("E003", "structure", "A section or key of the spec is missing, unknown or of the wrong type.")
SyntaxError_ = _kind("E004", "syntax", "An expression does not parse.")
NameError_ = _kind("E005", "name", "A name is not defined.")
TypeError_ = _kind("E006", "type", "A value has the wrong kind (a tensor where a number is needed, ...) or a tensor "
                                   "the wrong dtype (float ids into `embedding`, ...).")
ArgumentError = _kind("E007", "argument", "An op or block gets a missing, unknown, duplicated or invalid argument.")
ArityError = _kind("E008", "arity", "A layer, op or block is called with the wrong number of tensors.")
ShapeError = _kind("E009", "shape", "Tensor shapes do not fit an op's rule.")
ParamError = _kind("E010", "param", "A parameter override (-D or keyword) is unknown or malformed.")
LimitError = _kind("E011", "limit", "A size, repeat count or nesting depth exceeds archdsl's limits.")
GraphError = _kind("E012", "graph", "The dataflow graph is malformed: a cycle, a disabled layer, or no output.")
UsageError = _kind("E013", "usage", "The command line or API is used incorrectly.")

ERROR_KINDS = (FileError, YamlError, StructureError, SyntaxError_, NameError_, TypeError_, ArgumentError,
               ArityError, ShapeError, ParamError, LimitError, GraphError, UsageError)


class ShapeRuleError(Exception):
    """Raised by an op's shape rule; the shape pass turns it into a located ShapeError."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def did_you_mean(name: str, candidates) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
