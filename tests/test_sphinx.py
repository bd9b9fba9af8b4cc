"""archdsl.sphinx: real Sphinx builds of a tiny project with both directives (docs/docs-integration.md)."""
from __future__ import annotations

import io
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import BROKEN_SPEC as BROKEN, needs, spec_path

pytestmark = [needs(module="sphinx"), needs(program="dot")]


def project(tmp_path, index: str, pages: dict[str, str] | None = None):
    src = tmp_path / "src"
    (src / "specs").mkdir(parents=True)
    shutil.copy(spec_path("lenet5"), src / "specs" / "lenet5.yaml")
    (src / "conf.py").write_text('extensions = ["archdsl.sphinx"]\n')
    (src / "index.rst").write_text(index)
    for name, text in (pages or {}).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def build(src):
    """Build HTML; return (status code, warnings text, the output directory)."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    out, warnings = src.parent / "out", io.StringIO()
    with docutils_namespace():   # each app registers its nodes afresh, as sphinx.testing does
        app = Sphinx(str(src), str(src), str(out), str(src.parent / "doctrees"), "html",
                     status=io.StringIO(), warning=warnings)
        app.build()
    return app.statuscode, warnings.getvalue(), out


def directive(name: str, path: str, **options) -> str:
    return f".. archdsl-{name}:: {path}\n" + "".join(f"   :{k}: {v}\n" for k, v in options.items()) + "\n"


INDEX = "Specs\n=====\n\n" + directive("diagram", "specs/lenet5.yaml", depth=1, params="num_classes=7",
                                       direction="LR") \
    + directive("summary", "specs/lenet5.yaml", params="num_classes=7") \
    + directive("summary", "/specs/lenet5.yaml", format="markdown") \
    + ".. toctree::\n\n   sub/page\n"
PAGE = "Sub\n===\n\n" + directive("diagram", "../specs/lenet5.yaml")


def test_both_directives_render_the_svg_and_the_table(tmp_path):
    status, warnings, out = build(project(tmp_path, INDEX, {"sub/page.rst": PAGE}))
    assert status == 0 and warnings == ""
    svgs = sorted((out / "_images").glob("archdsl-*.svg"))
    assert len(svgs) == 2   # num_classes=7 and LR on the index, the defaults on the sub page
    for svg in svgs:
        assert ET.parse(svg).getroot().tag.endswith("svg")
    index, page = (out / "index.html").read_text(), (out / "sub" / "page.html").read_text()
    assert sum(f'src="_images/{svg.name}"' in index for svg in svgs) == 1
    assert sum(f'src="../_images/{svg.name}"' in page for svg in svgs) == 1
    table = index[index.index('<table class="archdsl-summary'):index.index("</table>")]
    assert "<caption>" in table and "lenet5" in table
    assert "<th" in table and "output shape" in table
    assert "<p>c1</p></td>\n<td><p>conv2d</p></td>\n<td><p>[N, 6, 28, 28]</p></td>\n<td><p>156</p>" in table
    assert "[N, 7]" in table   # the :params: override
    assert "Total: 61,706 parameters" in index   # the markdown format, num_classes=10
    assert "| layer | op | output shape | params | MACs |" in index


def test_a_spec_error_is_a_warning_at_its_file_and_line_and_the_build_goes_on(tmp_path):
    src = project(tmp_path, "Broken\n======\n\n" + directive("diagram", "broken.yaml")
                  + directive("summary", "specs/lenet5.yaml", depth="x") + directive("summary", "missing.yaml")
                  + directive("diagram", "specs/lenet5.yaml"))
    (src / "broken.yaml").write_text(BROKEN)
    status, warnings, out = build(src)
    assert status == 0
    assert f"{src / 'broken.yaml'}:8: WARNING: error[E009]: `conv2d` expects a rank-4 input" in warnings
    assert f"(archdsl-diagram at {src / 'index.rst'}:4) [archdsl.spec]" in warnings
    assert f"{src / 'index.rst'}:6: WARNING: error[E013]: depth must be 0 or more, got 'x'" in warnings
    assert f"{src / 'missing.yaml'}:1: WARNING: error[E001]: cannot read the spec" in warnings
    html = (out / "index.html").read_text()
    assert html.count('class="admonition error"') == 3
    assert len(list((out / "_images").glob("archdsl-*.svg"))) == 1   # the good diagram is still drawn


def test_a_changed_spec_rebuilds_the_page(tmp_path):
    src = project(tmp_path, INDEX, {"sub/page.rst": PAGE, "other.rst": ":orphan:\n\nOther\n=====\n"})
    assert build(src)[0] == 0
    other = (tmp_path / "out" / "other.html").stat().st_mtime_ns
    spec = src / "specs" / "lenet5.yaml"
    spec.write_text(spec.read_text().replace("  num_classes: 10", "  num_classes: 5"))
    later = spec.stat().st_mtime + 10   # newer than the first build, whatever the file system's clock resolution
    os.utime(spec, (later, later))
    status, warnings, out = build(src)
    assert status == 0 and warnings == ""
    index = (out / "index.html").read_text()
    assert "Total: 61,281 parameters" in index and "[N, 5]" in index   # the markdown summary uses the default
    assert (out / "other.html").stat().st_mtime_ns == other   # a page without the spec is not written again


@pytest.mark.parametrize("params, expected", [
    ("a=1, b=[1, 2]\nc=x", {"a": 1, "b": [1, 2], "c": "x"}),
    ("", {}),
    ("num_classes=10,", {"num_classes": 10}),
])
def test_params_are_parsed_like_the_cli_define(params, expected):
    from archdsl.embed import parse_params

    assert parse_params(params) == expected
