"""archdsl.mkdocs: Markdown rendered with the extension, and a real `mkdocs build` (docs/docs-integration.md)."""
from __future__ import annotations

import base64
import logging
import re
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import BROKEN_SPEC as BROKEN, ROOT, needs

pytestmark = [needs(module="markdown"), needs(program="dot")]


def render(text: str, base_dir=ROOT) -> str:
    import markdown

    from archdsl.mkdocs import ArchDSLExtension

    return markdown.markdown(text, extensions=[ArchDSLExtension(base_dir=str(base_dir))])


def svgs(html: str) -> list:
    found = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    return [ET.fromstring(base64.b64decode(data)) for data in found]


def test_a_diagram_and_a_table_with_options():
    html = render("# Specs\n\n::: archdsl-diagram specs/lenet5.yaml\n    depth: 1\n    direction: LR\n\n"
                  "::: archdsl-summary specs/lenet5.yaml\n    params: num_classes=7\nText *after*.\n\n"
                  "::: archdsl-summary specs/lenet5.yaml\n    format: markdown\n")
    [svg] = svgs(html)
    assert svg.tag.endswith("svg") and "lenet5" in ET.tostring(svg, encoding="unicode")
    assert '<div class="archdsl-diagram"><img alt="diagram of lenet5.yaml"' in html
    table = html[html.index('<table class="archdsl-summary">'):html.index("</table>")]
    assert "<caption>lenet5</caption>" in table and "<th>output shape</th>" in table
    assert "<td>c1</td>\n<td>conv2d</td>\n<td>[N, 6, 28, 28]</td>\n<td>156</td>" in table
    assert "<td>[N, 7]</td>" in table   # the params override
    assert "<p>Total: 61,451 parameters" in html
    assert "<p>Text <em>after</em>.</p>" in html   # the lines after the options are Markdown again
    assert '<pre><code class="language-markdown">**lenet5**' in html
    assert "| `c1` | conv2d | [N, 6, 28, 28] | 156 |" in html   # the code block is not parsed as Markdown


def test_the_summary_of_one_model_of_a_multi_model_spec():
    html = render("::: archdsl-summary specs/gan.yaml\n    model: generator\n    depth: 0\n")
    assert re.findall(r"<tr>\n<td>([^<]*)</td>", html) == ["generator.hidden", "generator.out"]
    assert "<caption>gan (generator)</caption>" in html and "<p>Total: 1,486,352 parameters" in html


def test_an_indented_block_stays_code():
    assert render("    ::: archdsl-diagram specs/lenet5.yaml\n") == \
        "<pre><code>::: archdsl-diagram specs/lenet5.yaml\n</code></pre>"


@pytest.mark.parametrize("block, where, message", [
    ("::: archdsl-diagram broken.yaml", "broken.yaml:8", "error[E009]: `conv2d` expects a rank-4 input"),
    ("::: archdsl-summary missing.yaml", "missing.yaml:1", "error[E001]: cannot read the spec"),
    ("::: archdsl-diagram lenet5.yaml\n    format: csv", "lenet5.yaml", "error[E013]: unknown option `format`"),
    ("::: archdsl-summary lenet5.yaml\n    params: size=1", "lenet5.yaml:17", "error[E010]: `size` is not a parameter"),
])
def test_a_spec_error_is_a_box_in_the_page_and_a_located_warning(tmp_path, caplog, block, where, message):
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "lenet5.yaml").write_text((ROOT / "specs" / "lenet5.yaml").read_text())
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.archdsl"):
        html = render(f"{block}\n\nAfter.\n", base_dir=tmp_path)
    [record] = caplog.records
    assert record.getMessage().startswith(f"{tmp_path / where}: {message}")
    assert '<div class="admonition error">\n<p class="admonition-title">archdsl: spec error</p>' in html
    assert message in html and "<p>After.</p>" in html


def site(tmp_path, page: str, specs: dict[str, str]):
    """A tiny MkDocs site with the extension: its config, to build."""
    from mkdocs.config import load_config

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(page)
    for name, text in specs.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "mkdocs.yml").write_text(f"site_name: zoo\nmarkdown_extensions:\n"
                                         f"  - archdsl.mkdocs:\n      base_dir: {tmp_path}\n")
    return lambda **kw: load_config(str(tmp_path / "mkdocs.yml"), **kw)


@needs(module="mkdocs")
def test_mkdocs_build(tmp_path):
    from mkdocs.commands.build import build

    page = "# Zoo\n\n::: archdsl-diagram lenet5.yaml\n\n::: archdsl-summary lenet5.yaml\n    depth: 0\n"
    config = site(tmp_path, page, {"lenet5.yaml": (ROOT / "specs" / "lenet5.yaml").read_text()})
    build(config(strict=True))
    html = (tmp_path / "site" / "index.html").read_text()
    assert len(svgs(html)) == 1 and '<table class="archdsl-summary">' in html


@needs(module="mkdocs")
def test_mkdocs_build_strict_fails_on_a_spec_error(tmp_path):
    from mkdocs.commands.build import build
    from mkdocs.exceptions import Abort

    config = site(tmp_path, "# Broken\n\n::: archdsl-diagram broken.yaml\n", {"broken.yaml": BROKEN})
    with pytest.raises(Abort):
        build(config(strict=True))
    build(config())   # not strict: the page is written, with the error box
    assert "archdsl: spec error" in (tmp_path / "site" / "index.html").read_text()
