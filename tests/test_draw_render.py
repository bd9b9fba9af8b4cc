"""Rendering with the real Graphviz `dot` program, and what happens without it."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import archdsl
from archdsl.errors import UsageError
from tests.helpers import ROOT, needs, spec_path

needs_dot = needs(program="dot")  # apt-get install graphviz


@needs_dot
def test_svg_is_xml_with_the_shapes_on_the_arrows(tmp_path):
    path = tmp_path / "resnet.svg"
    assert archdsl.load(spec_path("resnet")).draw(path, depth=1) == []
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert "N x 64 x 56 x 56" in texts and "Bottleneck" in texts and "x 5" in " ".join(filter(None, texts))


@needs_dot
def test_png_and_pdf(tmp_path):
    spec = archdsl.load(spec_path("googlenet"))
    spec.draw(tmp_path / "g.png", depth=1, direction="LR")
    data = (tmp_path / "g.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    spec.draw(tmp_path / "g.pdf", depth=1)
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"


@needs_dot
def test_svg_bytes_are_the_same_each_run(tmp_path):
    spec = archdsl.load(spec_path("googlenet"))
    spec.draw(tmp_path / "a.svg")
    archdsl.load(spec_path("googlenet")).draw(tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


@needs_dot
def test_jupyter_shows_a_spec_as_its_svg_diagram(write_spec):
    svg = archdsl.load(spec_path("lenet5"))._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "conv2d" in svg


def test_without_dot_the_dot_format_still_works_and_others_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    spec = archdsl.load(spec_path("lenet5"))
    spec.draw(tmp_path / "l.dot")
    assert (tmp_path / "l.dot").read_text().startswith("digraph")
    with pytest.raises(UsageError) as info:
        spec.draw(tmp_path / "l.svg")
    message = str(info.value)
    assert "apt-get install graphviz" in message and "\n" not in info.value.render()
    assert not (tmp_path / "l.svg").exists()
    assert spec._repr_svg_() is None            # Jupyter falls back to the text repr


def test_without_dot_the_cli_prints_one_line_and_no_traceback(tmp_path):
    env = {"PATH": str(tmp_path / "nothing-here"), "PYTHONPATH": str(ROOT)}
    out = tmp_path / "l.png"
    done = subprocess.run([sys.executable, "-m", "archdsl.cli", "draw", spec_path("lenet5"), "-o", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "apt-get install graphviz" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    done = subprocess.run([sys.executable, "-m", "archdsl.cli", "draw", spec_path("lenet5"), "-o",
                           str(tmp_path / "l.dot")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "l.dot").exists()


# --- legibility: no text of the diagram covers another -----------------------------------------------------------

def _text_boxes(dot_text: str, layout_args=("dot",)) -> list:
    """Every text Graphviz lays out (box lines, arrow labels, frame titles): (owner, text, x0, y0, x1, y1)."""
    import json

    out = subprocess.run([*layout_args, "-Tjson"], input=dot_text.encode(), capture_output=True, check=True).stdout
    layout = json.loads(out)
    boxes = []
    for kind in ("objects", "edges"):
        for i, obj in enumerate(layout.get(kind, [])):
            for key in ("_ldraw_", "_hldraw_", "_tldraw_"):
                size = 14.0
                for op in obj.get(key, []):
                    if op["op"] == "F":
                        size = op["size"]
                    elif op["op"] == "T":
                        (x, y), w = op["pt"], op["width"]
                        x0 = {"c": x - w / 2, "l": x, "r": x - w}[op["align"]]
                        boxes.append(((kind, i), op["text"], x0, y - 0.25 * size, x0 + w, y + 0.75 * size))
    return boxes


def _overlapping(boxes: list, pad: float = 0.5) -> list:
    out = []
    boxes = sorted(boxes, key=lambda b: b[2])
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            if b[2] >= a[4] - pad:
                break
            if a[0] != b[0] and min(a[5], b[5]) - max(a[3], b[3]) > pad and min(a[4], b[4]) - max(a[2], b[2]) > pad:
                out.append((a[1], b[1]))
    return out


@needs_dot
def test_the_overlap_check_sees_an_overlap():
    pinned = 'digraph { a [label="aaaaaaaaaaaa" pos="0,0!"]; b [label="bbbbbbbbbbbb" pos="10,0!"]; }'
    assert _overlapping(_text_boxes(pinned, ("neato", "-n2"))) == [("aaaaaaaaaaaa", "bbbbbbbbbbbb")]
    assert not _overlapping(_text_boxes(pinned.replace("pos=", "xpos=")))   # laid out by dot: apart


@needs_dot
@pytest.mark.parametrize("name, depth", [("googlenet", 1), ("googlenet", None), ("resnet", 1), ("resnet", 2)])
def test_large_diagrams_have_no_overlapping_text(name, depth):
    boxes = _text_boxes(archdsl.load(spec_path(name)).to_dot(depth=depth))
    assert len(boxes) > 50 and not _overlapping(boxes)


@needs_dot
def test_every_gallery_diagram_has_no_overlapping_text():
    """Every view of docs/gallery.md, laid out afresh as the docs build draws it (its spec, params and depth)."""
    from archdsl.docgen import gallery

    for _, spec, depth, stem, _, _ in gallery.views(ROOT):
        assert not _overlapping(_text_boxes(spec.to_dot(depth=depth))), stem
