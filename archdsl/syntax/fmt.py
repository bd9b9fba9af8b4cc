"""`archdsl fmt`: a spec in canonical form, comments kept.

Canonical form:
- sections in a fixed order (name, doc, params, let, inputs, blocks, layers, forward, models, ...; the
  same order inside blocks and models); entries inside a section keep their order (it is meaningful);
- two-space indentation; a block sequence's items two spaces under their key;
- expressions re-rendered from their AST (archdsl/syntax/unparse.py): `conv2d(64, 3, stride=2)`,
  single spaces around operators, minimal parentheses; YAML quotes only where a value needs them;
  a quoted expression longer than the line width folds before `for`/`if` clauses and after commas;
- `forward:` always a `|` block, one statement per line;
- comments kept: a comment line stays before the entry (or statement) it preceded, a trailing comment
  stays on its line (at its column when there is room); runs of blank lines become one.

The formatter is line-based: it walks the YAML nodes with their positions and takes comments from the
text. Whatever it cannot re-render safely (a multi-line value with comments inside, a section it does not
know) is copied as written. It checks its own output: the formatted text must parse to the same spec.
"""
from __future__ import annotations

import json
from functools import lru_cache

import yaml

from ..errors import Span, UsageError
from . import ast as A
from . import spec as S
from .expr import parse, parse_expr
from .unparse import unparse, unparse_stmt

WIDTH = 100
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
ORDER = {"top": S.TOP_KEYS, "model": S.MODEL_KEYS, "block": S.BLOCK_KEYS,
         "objective": getattr(S, "OBJECTIVE_KEYS", S.BLOCK_KEYS)}
STRUCTURAL = ("top", "model", "block", "objective", "params", "exprs", "inputs", "blocks", "models", "objectives")
SECTION = {"name": "data", "doc": "data", "imports": "params", "params": "params", "let": "exprs", "inputs": "inputs", "blocks": "blocks",
           "layers": "exprs", "forward": "program", "models": "models", "objectives": "objectives", "uses": "data"}


def format_file(path: str) -> tuple[str, str]:
    """(original text, canonical text) of a spec file; a spec that does not parse raises its ArchDSLError."""
    text = S.read_text(path)  # its imports are not read: fmt formats the `imports:` key, never the files
    return text, format_text(text, path)


def format_text(text: str, file: str = "<spec>") -> str:
    """The canonical form of spec text. Raises the spec's ArchDSLError when it does not parse."""
    before = S.parse_spec(text, file)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    root = yaml.compose(text, Loader=_LOADER)
    out = _Formatter(text, root).run()
    after = S.parse_spec(out, file)
    if signature(after) != signature(before):  # a bug in the formatter, never the user's: nothing is written
        raise UsageError(f"archdsl fmt cannot format {file} without changing its meaning; the file is left as it is",
                         hint="this is a bug in archdsl fmt: please report it with the spec")
    return out


# --- the formatter -----------------------------------------------------------------------------------------

class _Formatter:
    def __init__(self, text: str, root):
        self.text = text
        self.lines = text.splitlines()
        self.root = root
        self.out: list[str] = []
        self.scalars: dict[int, list] = {}
        self.taken: set[int] = set()
        if root is not None:
            self._index_scalars(root)

    # --- source positions and comments
    def _index_scalars(self, node) -> None:
        if isinstance(node, yaml.ScalarNode):
            a, b = node.start_mark, node.end_mark
            block = node.style in ("|", ">")  # the indicator line may end with a comment
            for line in range(a.line + block, b.line + 1):
                lo = a.column if line == a.line and not block else 0
                hi = b.column if line == b.line else 10**9
                self.scalars.setdefault(line, []).append((lo, hi))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._index_scalars(item)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self._index_scalars(k)
                self._index_scalars(v)

    def take_comment(self, line: int) -> tuple[int, str] | None:
        """The trailing comment of a line, once: a flow mapping split into lines keeps it on its first."""
        if line in self.taken:
            return None
        self.taken.add(line)
        return self.comment(line)

    def comment(self, line: int) -> tuple[int, str] | None:
        """(column, text) of the YAML comment on a line (0-based), if any."""
        if not 0 <= line < len(self.lines):
            return None
        src = self.lines[line]
        col = src.find("#")
        while col >= 0:
            if (col == 0 or src[col - 1] in " \t") and not any(lo <= col < hi for lo, hi in self.scalars.get(line, ())):
                return col, src[col:].rstrip()
            col = src.find("#", col + 1)
        return None

    def last_line(self, node) -> int:
        """The last line holding part of `node` (0-based)."""
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
            return self.last_line(node.value[-1][1])
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            return self.last_line(node.value[-1])
        end = node.end_mark
        line = end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
        while line > node.start_mark.line and not self.lines[line].strip():
            line -= 1
        return line

    def gap(self, first: int, last: int) -> list[str]:
        """Comment lines and single blank lines between two entries (lines first..last, 0-based)."""
        out: list[str] = []
        for line in range(first, last + 1):
            src = self.lines[line] if line < len(self.lines) else ""
            if not src.strip():
                if not out or out[-1] != "":
                    out.append("")
            elif (c := self.comment(line)) is not None and not src[:c[0]].strip():
                out.append(c[1])
        return out

    def emit(self, indent: int, text: str, trailing: tuple[int, str] | None = None) -> None:
        line = " " * indent + text
        if trailing is not None:
            col, comment = trailing
            line = line.ljust(col) if len(line) < col else line + "  "
            line += comment
        self.out.append(line.rstrip())

    def emit_gap(self, indent: int, lines: list[str], keep_blank: bool = True) -> None:
        for g in lines:
            if g == "":
                if keep_blank and self.out and self.out[-1] != "":
                    self.out.append("")
            else:
                self.out.append(" " * indent + g)

    def verbatim(self, first: int, last: int, indent: int) -> None:
        """Copy lines first..last, shifted so that the first starts at `indent`."""
        old = len(self.lines[first]) - len(self.lines[first].lstrip(" "))
        for line in range(first, last + 1):
            src = self.lines[line]
            if src.strip():
                strip = min(old, len(src) - len(src.lstrip(" ")))
                self.out.append(" " * indent + src[strip:].rstrip())
            else:
                self.out.append("")

    # --- the document
    def run(self) -> str:
        if self.root is None or not isinstance(self.root, yaml.MappingNode):
            return self.text
        entries = self.root.value
        first_key = entries[0][0].start_mark.line if entries else len(self.lines)
        header = self.gap(0, first_key - 1)
        if "" in header:  # a file header: the comments up to the last blank line stay on top
            cut = len(header) - header[::-1].index("")
            self.emit_gap(0, header[:cut])
            if self.out and self.out[-1] != "":
                self.out.append("")
        self.mapping(self.root, 0, "top", -1, skip_header=("" in header))
        tail = self.gap(self.last_line(self.root) + 1, len(self.lines) - 1)
        self.emit_gap(0, tail)
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out) + "\n"

    def mapping(self, node, indent: int, kind: str, parent_line: int, skip_header: bool = False) -> None:
        entries = list(node.value)
        gaps = []
        prev = parent_line
        for i, (k, v) in enumerate(entries):
            g = self.gap(prev + 1, k.start_mark.line - 1)
            if i == 0 and skip_header and "" in g:
                g = g[len(g) - g[::-1].index(""):]
            gaps.append(g)
            prev = self.last_line(v)
        order = ORDER.get(kind)
        ranked = list(range(len(entries)))
        if order:
            ranked.sort(key=lambda i: order.index(entries[i][0].value) if entries[i][0].value in order else len(order))
        off = False  # between `# fmt: off` and `# fmt: on` entries are copied as written
        for n, i in enumerate(ranked):
            k, v = entries[i]
            off = _switch(off, gaps[i])
            self.emit_gap(indent, gaps[i], keep_blank=n > 0)
            skip = (self.comment(k.start_mark.line) or (0, ""))[1].replace(" ", "") == "#fmt:skip"
            if off or skip:
                self.verbatim(k.start_mark.line, self.last_line(v), indent)
            else:
                self.entry(k, v, indent, self.child_kind(kind, k.value))

    def child_kind(self, kind: str, key: str) -> str:
        if kind in ORDER:
            if key == "inputs" and kind == "block":
                return "data"
            return SECTION.get(key, "verbatim")
        return {"params": "data", "exprs": "expr", "inputs": "expr", "blocks": "block", "models": "model",
                "objectives": "objective"}.get(kind, "verbatim")

    # --- one `key: value`
    def entry(self, k, v, indent: int, kind: str) -> None:
        key = self.key_text(k, kind)
        first, last = k.start_mark.line, self.last_line(v)
        if kind == "verbatim" or key is None:
            return self.verbatim(first, last, indent)
        if kind == "program":
            return self.program(key, k, v, indent)
        if kind in STRUCTURAL:  # a section: a mapping of entries, written as a block
            if isinstance(v, yaml.ScalarNode) and v.tag != _STR and v.value in ("", "~", "null", "Null", "NULL"):
                return self.emit(indent, f"{key}:", self.take_comment(first))
            if not isinstance(v, yaml.MappingNode) or v.flow_style and self.has_inner_comments(v):
                return self.verbatim(first, last, indent)
            if not v.value:
                return self.emit(indent, f"{key}: {{}}", self.take_comment(first))
            self.emit(indent, f"{key}:", self.take_comment(first))
            return self.mapping(v, indent + 2, kind, first)
        expr = kind == "expr"
        if isinstance(v, yaml.SequenceNode) and not v.flow_style:
            return self.block_sequence(key, k, v, indent, expr)
        if isinstance(v, yaml.MappingNode) and not v.flow_style:
            self.emit(indent, f"{key}:", self.take_comment(first))
            return self.mapping(v, indent + 2, "exprs" if expr else "params", first)
        if last > first and self.has_inner_comments(v, first):
            return self.verbatim(first, last, indent)
        value = self.value(v, expr, flow=False)
        if value is None:
            return self.verbatim(first, last, indent)
        self.scalar_line(indent, key, value, self.take_comment(last), fold=expr)

    def has_inner_comments(self, node, after: int | None = None) -> bool:
        start = node.start_mark.line if after is None else after
        return any(self.comment(line) is not None for line in range(start, self.last_line(node)))

    def key_text(self, k, kind: str) -> str | None:
        if not isinstance(k, yaml.ScalarNode):
            return None
        if kind == "block":  # a block header: `Name(param, other=default)`
            try:
                head = parse_expr(k.value, lambda l, c, n: Span("", l, c, n), "block header")
                return _yaml_scalar(unparse(head), flow=False, key=True)
            except Exception:  # noqa: BLE001 - parse_spec accepted it; keep it as written
                return _yaml_scalar(k.value, flow=False, key=True) if k.tag == _STR else k.value
        if k.tag != _STR:
            return k.value
        return _yaml_scalar(k.value, flow=False, key=True)

    def scalar_line(self, indent: int, key: str, value: str, trailing, fold: bool) -> None:
        """`key: value`; a long quoted expression (not prose) folds into lines."""
        line = " " * indent + f"{key}: {value}"
        if len(line) <= WIDTH or not fold or not value.startswith('"'):
            return self.emit(indent, f"{key}: {value}", trailing)
        pad = indent + len(key) + 3
        parts = _fold(value[1:-1], WIDTH - pad)
        if len(parts) == 1:
            return self.emit(indent, f"{key}: {value}", trailing)
        rows = [" " * indent + f'{key}: "' + parts[0]] + [" " * pad + p for p in parts[1:]]
        rows[-1] += '"'
        for row in rows[:-1]:
            self.out.append(row)
        self.emit(0, rows[-1], trailing)

    def block_sequence(self, key: str, k, v, indent: int, expr: bool) -> None:
        first = k.start_mark.line
        self.emit(indent, f"{key}:", self.take_comment(first))
        prev = first
        for item in v.value:
            line = item.start_mark.line
            self.emit_gap(indent + 2, self.gap(prev + 1, line - 1))
            last = self.last_line(item)
            text = None
            if not (last > line and self.has_inner_comments(item, line)):
                text = self.value(item, expr, flow=False)
            if text is None or isinstance(item, yaml.MappingNode) and not item.flow_style or \
                    isinstance(item, yaml.SequenceNode) and not item.flow_style:
                self.verbatim(line, last, indent + 2)
            else:
                self.emit(indent + 2, f"- {text}", self.take_comment(last))
            prev = last

    # --- values
    def value(self, node, expr: bool, flow: bool) -> str | None:
        """One value on one line, or None when it must be copied as written."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR and expr:
                if _has_comment(node.value):
                    return None
                try:
                    tree = parse_expr(node.value, lambda l, c, n: Span("", l, c, n))
                except Exception:  # noqa: BLE001 - not an expression here (e.g. a dtype name): keep the string
                    return _yaml_scalar(node.value, flow)
                return _yaml_scalar(unparse(tree), flow)
            return _data_scalar(node, flow)
        if isinstance(node, yaml.SequenceNode):
            items = [self.value(i, expr, flow=True) for i in node.value]
            return None if None in items else "[" + ", ".join(items) + "]"
        if isinstance(node, yaml.MappingNode):
            parts = []
            for k, v in node.value:
                kt, vt = _data_scalar(k, True) if isinstance(k, yaml.ScalarNode) else None, self.value(v, expr, True)
                if kt is None or vt is None:
                    return None
                parts.append(f"{kt}: {vt}")
            return "{" + ", ".join(parts) + "}"
        return None

    # --- forward programs
    def program(self, key: str, k, v, indent: int) -> None:
        first, last = k.start_mark.line, self.last_line(v)
        if not (isinstance(v, yaml.ScalarNode) and v.tag == _STR):
            return self.verbatim(first, last, indent)
        body = _program_lines(v.value)
        if body is None:
            return self.verbatim(first, last, indent)
        trailing = self.take_comment(first)
        if v.style != "|" and v.style != ">" and last > first:
            return self.verbatim(first, last, indent)
        self.emit(indent, f"{key}: |", trailing)
        for line in body:
            self.out.append(" " * (indent + 2) + line if line else "")


def _switch(off: bool, gap: list[str]) -> bool:
    """`# fmt: off` and `# fmt: on` comment lines, in order, switch formatting off and on."""
    for line in gap:
        mark = line.replace(" ", "")
        off = True if mark == "#fmt:off" else False if mark == "#fmt:on" else off
    return off


# --- programs --------------------------------------------------------------------------------------------

def _program_lines(value: str) -> list[str] | None:
    """The canonical lines of a forward program, its comments kept; None if it cannot be re-rendered."""
    from lark import Tree

    from .expr import _parser

    lines = value.split("\n")
    try:
        tree = _parser().parse(value)
        prog = parse(value, lambda l, c, n: Span("", l, c, n), "forward program")
    except Exception:  # noqa: BLE001 - parse_spec accepted it, so this does not happen; copy it then
        return None
    metas = [c.meta for c in tree.children if isinstance(c, Tree)]
    if len(metas) != len(prog.stmts):
        return None
    comments = [_comment_col(line) for line in lines]
    starts: dict[int, list] = {}
    for meta, stmt in zip(metas, prog.stmts):
        starts.setdefault(meta.line - 1, []).append((meta, stmt))
    out: list[str] = []
    covered: set[int] = set()
    for i, src in enumerate(lines):
        if i in covered:
            continue
        if i in starts:
            group = starts[i]
            end = max(m.end_line - 1 for m, _ in group)
            span = range(i, end + 1)
            inner = any(comments[j] is not None for j in span if j != end)
            if inner:
                out += [lines[j].rstrip() for j in span]
            else:
                rendered = [line for _, s in group for line in unparse_stmt(s).split("\n")]  # `for`: several
                out += rendered[:-1]
                last, col = rendered[-1], comments[end]
                if col is not None:  # the comment stays at its column when there is room
                    last = (last.ljust(col) if len(last) < col else last + "  ") + lines[end][col:].rstrip()
                out.append(last)
            covered.update(span)
        elif not src.strip():
            if out and out[-1] != "":
                out.append("")
        elif comments[i] is not None and not src[:comments[i]].strip():
            out.append(src.strip())
        else:
            return None  # text outside every statement: cannot happen for a program that parsed
    while out and out[-1] == "":
        out.pop()
    while out and out[0] == "":
        out.pop(0)
    return out


def _comment_col(line: str) -> int | None:
    """Where a `#` comment starts in a line of expression text, outside string literals."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return i
    return None


def _has_comment(text: str) -> bool:
    return any(_comment_col(line) is not None for line in text.split("\n"))


# --- YAML scalars ------------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _plain_ok(s: str, flow: bool, key: bool = False) -> bool:
    """Whether YAML reads `s` written plain (unquoted) back as the same string, in block or flow context."""
    if not s or s != s.strip() or "\n" in s:
        return False
    probe = f"{s}: 1" if key else (f"[{s}]" if flow else f"k: {s}")
    try:
        got = yaml.load(probe, Loader=_LOADER)
    except yaml.YAMLError:
        return False
    if key:
        return got == {s: 1}
    return got == ([s] if flow else {"k": s})


def _yaml_scalar(s: str, flow: bool, key: bool = False) -> str:
    return s if _plain_ok(s, flow, key) else json.dumps(s, ensure_ascii=False)


def _data_scalar(node, flow: bool) -> str | None:
    """A YAML scalar as canonical YAML: strings quoted only when needed, floats that read back as floats."""
    if node.tag == _STR:
        return _yaml_scalar(node.value, flow)
    value = yaml.load(yaml.serialize(node), Loader=_LOADER) if node.value else None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exp = text.split("e")
            text = f"{mantissa}.0e{exp if exp[0] in '+-' else '+' + exp}"
        return text
    return None


def _fold(s: str, width: int) -> list[str]:
    """A long expression cut into lines at spaces before `for`/`if` clauses or after commas, at the
    outermost bracket level; a YAML double-quoted scalar folds them back into single spaces."""
    cuts, depth, quote = [], 0, None
    for i, ch in enumerate(s):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == " " and depth == 1 and (s.startswith(("for ", "if "), i + 1) or s[i - 1] == ","):
            cuts.append(i)
    if not cuts:
        return [s]
    parts, start = [], 0
    for c in cuts:
        parts.append(s[start:c])
        start = c + 1
    parts.append(s[start:])
    lines = [parts[0]]
    for p in parts[1:]:
        if len(lines[-1]) + 1 + len(p) <= width:
            lines[-1] += " " + p
        else:
            lines.append(p)
    return lines


# --- meaning ------------------------------------------------------------------------------------------------

def signature(obj):
    """A spec (SpecDoc) as nested tuples without positions or source text: equal iff the specs mean the same."""
    from dataclasses import fields, is_dataclass

    if isinstance(obj, Span):
        return None
    if is_dataclass(obj):
        return (type(obj).__name__,) + tuple((f.name, signature(getattr(obj, f.name))) for f in fields(obj)
                                             if f.name not in ("span", "file", "text", "locate"))
    if isinstance(obj, dict):
        return tuple((k, signature(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return tuple(signature(x) for x in obj)
    if isinstance(obj, A.Node):
        return repr(obj)
    if obj is S.REQUIRED:
        return "<required>"
    return obj
