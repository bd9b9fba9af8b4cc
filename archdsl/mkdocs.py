"""Python-Markdown extension (for MkDocs: `markdown_extensions: [archdsl.mkdocs]`): a spec's diagram and
summary table in a page, rendered when the page is.

    ::: archdsl-diagram specs/resnet.yaml
        depth: 1
        params: depth=50, num_classes=10

    ::: archdsl-summary specs/lenet5.yaml

The header line names the spec; the indented `name: value` lines under it are the options of the Sphinx
directives (archdsl/embed.py). A path is relative to the extension's `base_dir` (default: the current
directory, where `mkdocs build` runs). The diagram is an <img> with the SVG inline (a data: URI); the summary
is an HTML table. A spec error is an error box in the page and a warning `file:line: error[...]` in the log
(the logger `mkdocs.plugins.archdsl`, so `mkdocs build --strict` fails on it). See docs/docs-integration.md.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import xml.etree.ElementTree as etree

from markdown import Extension
from markdown.blockprocessors import BlockProcessor
from markdown.util import AtomicString

from .embed import DIAGRAM_OPTIONS, SUMMARY_OPTIONS, TABLE, diagram_svg, request, summary_table, summary_text
from .errors import ArchDSLError

log = logging.getLogger("mkdocs.plugins.archdsl")
HEAD = re.compile(r"::: *archdsl-(diagram|summary) +(\S.*?) *$")
OPTION = re.compile(r"\s+(\w+)\s*:(.*)$")


class SpecBlock(BlockProcessor):
    def __init__(self, parser, base_dir: str):
        super().__init__(parser)
        self.base_dir = base_dir

    def test(self, parent, block) -> bool:
        return HEAD.match(block.split("\n", 1)[0]) is not None

    def run(self, parent, blocks) -> None:
        head, *lines = blocks.pop(0).split("\n")
        kind, path = HEAD.match(head).groups()
        options = {}
        while lines and OPTION.match(lines[0]):
            name, value = OPTION.match(lines.pop(0)).groups()
            options[name] = value
        if lines:   # the rest of the block is ordinary Markdown
            blocks.insert(0, "\n".join(lines))
        path = os.path.join(self.base_dir, path)
        try:
            req = request(path, options, DIAGRAM_OPTIONS if kind == "diagram" else SUMMARY_OPTIONS)
            (diagram if kind == "diagram" else summary)(parent, req)
        except ArchDSLError as err:
            report(parent, err, path)


def diagram(parent, req) -> None:
    data = base64.b64encode(diagram_svg(req).encode("utf-8")).decode("ascii")
    box = etree.SubElement(parent, "div", {"class": "archdsl-diagram"})
    etree.SubElement(box, "img", {"src": f"data:image/svg+xml;base64,{data}", "style": "max-width: 100%",
                                  "alt": f"diagram of {os.path.basename(req.path)}"})


def summary(parent, req) -> None:
    if req.format != TABLE:
        code = etree.SubElement(etree.SubElement(parent, "pre"), "code", {"class": f"language-{req.format}"})
        code.text = AtomicString(summary_text(req))
        return
    t = summary_table(req)
    table = etree.SubElement(parent, "table", {"class": "archdsl-summary"})
    _text(table, "caption", t.title)
    _cells(etree.SubElement(etree.SubElement(table, "thead"), "tr"), "th", t.header)
    body = etree.SubElement(table, "tbody")
    for row in t.rows:
        _cells(etree.SubElement(body, "tr"), "td", row)
    for line in t.totals:
        _text(parent, "p", line)


def report(parent, err: ArchDSLError, path: str) -> None:
    where = f"{err.span.file}:{err.span.line}" if err.span else path
    log.warning("%s: error[%s]: %s", where, err.code, err.message)
    box = etree.SubElement(parent, "div", {"class": "admonition error"})
    _text(box, "p", "archdsl: spec error").set("class", "admonition-title")
    _text(box, "pre", err.render())


def _cells(row, tag: str, cells) -> None:
    for c in cells:
        _text(row, tag, c)


def _text(parent, tag: str, text: str):
    el = etree.SubElement(parent, tag)
    el.text = AtomicString(text)   # shown as written: no Markdown inside
    return el


class ArchDSLExtension(Extension):
    def __init__(self, **kwargs):
        self.config = {"base_dir": ["", "the directory that spec paths are relative to (default: the current one)"]}
        super().__init__(**kwargs)

    def extendMarkdown(self, md) -> None:
        md.parser.blockprocessors.register(SpecBlock(md.parser, self.getConfig("base_dir")), "archdsl", 85)


def makeExtension(**kwargs) -> ArchDSLExtension:
    return ArchDSLExtension(**kwargs)
