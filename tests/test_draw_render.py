"""Rendering with the real Graphviz `dot` program, and what happens without it."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import archdsl
from archdsl.errors import UsageError
from tests.helpers import ROOT, spec_path

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed "
                               "(apt-get install graphviz); CI installs it")


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
