"""What the docs integrations (archdsl.sphinx, archdsl.mkdocs) share: the options of a diagram or a summary
embedded in a page, checked the same way in both, and the SVG or the table they produce.

Options are text, as a page writes them: depth `1`, params `depth=50, num_classes=10` (each parsed like the
CLI's `-D`), model `generator`, direction `LR`, format `table` (the default) or one of the summary formats
(text, markdown, csv, json). Every problem is an ArchDSLError, located in the spec where it can be.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .api import Spec, load
from .dims import fmt_shape
from .errors import UsageError
from .reporting.summary import FORMATS, Summary, human, loop_lines, params_cell, summarize, totals

DIAGRAM_OPTIONS = ("depth", "params", "model", "direction")
SUMMARY_OPTIONS = DIAGRAM_OPTIONS + ("format",)
TABLE = "table"   # a real table in the page; the FORMATS are shown as a code block
SUMMARY_FORMATS = (TABLE, *FORMATS)
HEADER = ("layer", "op", "output shape", "params", "MACs")


@dataclass(frozen=True)
class Request:
    """One embedded diagram or summary: the spec file and the options given."""

    path: str
    depth: int | None = None
    params: dict = field(default_factory=dict)
    model: str | None = None
    direction: str = "TB"
    format: str = TABLE

    def load(self) -> Spec:
        return load(self.path, **self.params)


def request(path: str, options: dict[str, str | None], allowed=SUMMARY_OPTIONS) -> Request:
    """A Request from the options as written in the page (a UsageError names a bad one)."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UsageError(f"unknown option `{unknown[0]}`; options: {', '.join(allowed)}")
    text = {k: (v or "").strip() for k, v in options.items()}
    depth = text.get("depth") or None
    if depth is not None and not depth.isdigit():
        raise UsageError(f"depth must be 0 or more, got {depth!r}")
    fmt = text.get("format") or TABLE
    if fmt not in SUMMARY_FORMATS:
        raise UsageError(f"unknown format `{fmt}`; formats: {', '.join(SUMMARY_FORMATS)}")
    return Request(path, int(depth) if depth is not None else None, parse_params(text.get("params", "")),
                   text.get("model") or None, (text.get("direction") or "TB").upper(), fmt)


def parse_params(text: str) -> dict:
    """`depth=50, num_classes=10` (commas or new lines between, none inside brackets) -> {name: value}."""
    from .cli.options import define

    items, level, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        level += (ch in "[{(") - (ch in "]})")
        if level == 0 and ch in ",\n":
            items.append(text[start:i].strip())
            start = i + 1
    return dict(define(item) for item in items if item)


def diagram_svg(req: Request) -> str:
    """The spec's diagram as SVG text (needs Graphviz's `dot`)."""
    from .backends.graphviz import render

    return render(req.load().to_dot(req.depth, req.direction, req.model), "svg").decode("utf-8")


def summary_of(req: Request) -> tuple[str, Summary]:
    """The title and the per-layer summary; with a model, only that model's rows (its forward's and methods'),
    each layer's parameters at its first row there, and its entry points' costs."""
    spec = req.load()
    title = spec.name + (f" ({req.model})" if req.model else "")
    if req.model is None:
        return title, spec.summary(req.depth)
    if req.model not in spec.models:
        raise UsageError(f"there is no model `{req.model}`; models: {', '.join(spec.models)}")
    return title, summarize(spec.graph, req.depth, req.model)


def summary_text(req: Request) -> str:
    """The summary in one of the CLI's formats (`summary --format`)."""
    title, summary = summary_of(req)
    return FORMATS[req.format](summary, title)


@dataclass
class Table:
    title: str
    header: tuple
    rows: list        # tuples of cell text, one per SummaryRow
    totals: list      # lines under the table: the totals, then one per loop


def summary_table(req: Request) -> Table:
    title, s = summary_of(req)
    rows = [(r.name, r.op, fmt_shape(r.shape), params_cell(r), human(r.macs) if r.macs else "")
            for r in s.rows]
    head, entries = totals(s)
    return Table(title, HEADER, rows, [f"Total: {head}.", *entries, *loop_lines(s)])
