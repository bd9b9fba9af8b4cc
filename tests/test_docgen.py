"""The generated documents (archdsl/docgen): each committed page equals what its generator writes now."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from archdsl.docgen import errors, gallery, ops
from archdsl.docgen.__main__ import PAGES
from tests.helpers import ROOT, needs

DOCS = ROOT / "docs"


@pytest.mark.parametrize("name", list(PAGES))
def test_the_committed_page_is_current(name):
    committed = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    assert committed == PAGES[name].page(ROOT), (
        f"docs/{name}.md is out of date: run `python -m archdsl.docgen {name}` and commit the result")


def test_every_gallery_view_is_a_diagram_block_the_extension_draws():
    """The page asks archdsl.mkdocs for each view (rendered by tests/test_docs_site.py); it links no picture."""
    from archdsl.embed import DIAGRAM_OPTIONS, request
    from archdsl.mkdocs import HEAD, OPTION

    page = (DOCS / "gallery.md").read_text(encoding="utf-8")
    blocks = page.split("\n::: ")[1:]
    assert len(blocks) == len(list(gallery.views(ROOT)))
    for (file, _, depth, _, params, _), text in zip(gallery.views(ROOT), blocks):
        head, *lines = text.split("\n\n")[0].rstrip("\n").split("\n")
        kind, path = HEAD.match("::: " + head).groups()
        options = dict(OPTION.match(line).groups() for line in lines)
        req = request(str(ROOT / path), options, DIAGRAM_OPTIONS)
        assert (kind, req.path, req.depth) == ("diagram", str(file), depth)
        assert {k: str(v) for k, v in req.params.items()} == {k: str(v) for k, v in params.items()}
    assert "](gallery/" not in page


def test_the_only_committed_gallery_diagram_is_the_readmes():
    committed = sorted(p.stem for p in (DOCS / "gallery").glob("*.svg"))
    assert committed == sorted(gallery.COMMITTED)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"docs/gallery/{stem}.svg" in readme for stem in committed)


@needs(program="dot")
def test_the_gallery_draws_its_committed_diagrams(tmp_path):
    gallery.draw_all(ROOT, tmp_path)
    drawn = sorted(p.stem for p in (tmp_path / "gallery").glob("*.svg"))
    assert drawn == sorted(gallery.COMMITTED)
    for svg in (tmp_path / "gallery").glob("*.svg"):
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg.name


def test_the_op_reference_documents_parameters_shape_and_cost():
    conv = ops.page().split("\n## conv2d\n")[1].split("\n## ")[0]
    assert "`conv2d(out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=true)`" in conv
    assert "| `groups` | int, at least 1 | 1 |" in conv
    assert "- shape: [N, C, *S] -> [N, out_channels, *S']" in conv and "- cost: out elements x C/groups" in conv


def test_the_error_page_shows_real_diagnostics():
    page = errors.page()
    assert "spec.yaml:3:3: error[E002]: the key `a` appears twice in this mapping" in page  # EXAMPLES["E002"]
    assert "/tmp" not in page  # the temporary file is shown as spec.yaml
