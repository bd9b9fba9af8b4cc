"""Sphinx extension: a spec's diagram and summary table, rendered at build time.

    extensions = ["archdsl.sphinx"]

    .. archdsl-diagram:: ../specs/resnet.yaml
       :depth: 1
       :params: depth=50, num_classes=10

    .. archdsl-summary:: /specs/lenet5.yaml
       :format: table

A path is relative to the document, or to the source directory when it starts with `/`. A page is read
again when its spec changes. A spec error is a warning located in the spec (`file:line`, type `archdsl`,
subtype `spec`) and an error box in the page; the build goes on. See docs/docs-integration.md.
"""
from __future__ import annotations

import hashlib
import html
import posixpath
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import __version__
from .embed import DIAGRAM_OPTIONS, SUMMARY_OPTIONS, TABLE, diagram_svg, request, summary_table, summary_text
from .errors import ArchDSLError

logger = logging.getLogger(__name__)
LEXERS = {"json": "json", "markdown": "markdown"}   # the other formats are shown as plain text


class archdsl_diagram(nodes.General, nodes.Element):
    """A rendered diagram: `svg` (its text) and `alt`; HTML builders write it to _images/."""


class _SpecDirective(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(path)
        try:
            return self.render(request(str(path), self.options, tuple(self.option_spec)))
        except ArchDSLError as err:
            return [self.report(err)]

    def report(self, err: ArchDSLError) -> nodes.Node:
        where = f"{err.span.file}:{err.span.line}" if err.span else self.get_location()
        logger.warning("error[%s]: %s (%s at %s)", err.code, err.message, self.name, self.get_location(),
                       location=where, type="archdsl", subtype="spec")
        text = err.render()
        return nodes.error("", nodes.literal_block(text, text, language="text"))


class DiagramDirective(_SpecDirective):
    option_spec = dict.fromkeys(DIAGRAM_OPTIONS, directives.unchanged)

    def render(self, req) -> list[nodes.Node]:
        return [archdsl_diagram(svg=diagram_svg(req), alt=f"diagram of {self.arguments[0]}")]


class SummaryDirective(_SpecDirective):
    option_spec = dict.fromkeys(SUMMARY_OPTIONS, directives.unchanged)

    def render(self, req) -> list[nodes.Node]:
        if req.format != TABLE:
            text = summary_text(req)
            return [nodes.literal_block(text, text, language=LEXERS.get(req.format, "text"))]
        t = summary_table(req)
        group = nodes.tgroup(cols=len(t.header))
        widths = [max(len(c) for c in column) for column in zip(t.header, *t.rows)]   # for text and LaTeX
        group += [nodes.colspec(colwidth=w) for w in widths]
        group += nodes.thead("", _row(t.header))
        group += nodes.tbody("", *[_row(r) for r in t.rows])
        table = nodes.table("", nodes.title(text=t.title), group, classes=["archdsl-summary"])
        return [table, *(nodes.paragraph(text=line) for line in t.totals)]


def _row(cells) -> nodes.row:
    return nodes.row("", *[nodes.entry("", nodes.paragraph(text=c)) for c in cells])


def visit_diagram_html(self, node: archdsl_diagram) -> None:
    data = node["svg"].encode("utf-8")
    name = f"archdsl-{hashlib.sha1(data).hexdigest()[:16]}.svg"
    target = Path(self.builder.outdir, self.builder.imagedir, name)
    if not target.exists():
        from .files import write_atomic

        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(target), data)
    src = posixpath.join(self.builder.imgpath, name)
    self.body.append(f'<div class="archdsl-diagram"><img src="{html.escape(src)}" alt="{html.escape(node["alt"])}" '
                     f'style="max-width: 100%"/></div>\n')
    raise nodes.SkipNode


def skip(self, node: nodes.Node) -> None:
    raise nodes.SkipNode


def setup(app) -> dict:
    others = {b: (skip, None) for b in ("latex", "text", "man", "texinfo")}
    app.add_node(archdsl_diagram, html=(visit_diagram_html, None), **others)
    app.add_directive("archdsl-diagram", DiagramDirective)
    app.add_directive("archdsl-summary", SummaryDirective)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
