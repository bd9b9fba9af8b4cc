"""The generated docs: the gallery (every zoo spec drawn, with totals) and the op reference."""
from __future__ import annotations

import importlib.util
import shutil
import xml.etree.ElementTree as ET

import pytest

import archdsl.ops  # noqa: F401  (registers the ops)
from archdsl.ops.registry import REGISTRY
from tests.helpers import ROOT, SPECS

DOCS = ROOT / "docs"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed; CI installs it")
def test_the_gallery_command_draws_every_spec(tmp_path):
    _tool("gen_gallery").main(["--out", str(tmp_path)])
    page = (tmp_path / "gallery.md").read_text()
    for spec in sorted(SPECS.glob("*.yaml")):
        svg = tmp_path / "gallery" / f"{spec.stem}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg")
        assert f"![{spec.stem}](gallery/{spec.stem}.svg)" in page and f"| [{spec.stem}](#{spec.stem}) |" in page
    assert (tmp_path / "gallery" / "googlenet_full.svg").exists()
    assert (tmp_path / "gallery" / "resnet_depth2.svg").exists()


def test_the_committed_gallery_has_every_spec():
    page = (DOCS / "gallery.md").read_text()
    missing = [s.stem for s in sorted(SPECS.glob("*.yaml"))
               if f"(gallery/{s.stem}.svg)" not in page or not (DOCS / "gallery" / f"{s.stem}.svg").exists()]
    assert not missing, f"docs/gallery.md lacks {missing}: run `python tools/gen_gallery.py`"


def test_the_op_reference_has_an_entry_per_op_with_parameters_shape_and_cost(tmp_path):
    out = tmp_path / "ops.md"
    _tool("gen_ops_docs").main(["--out", str(out)])
    text = out.read_text()
    for op in REGISTRY.all():
        assert f"\n## {op.name}\n" in text
    conv = text.split("\n## conv2d\n")[1].split("\n## ")[0]
    assert "`conv2d(out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=true)`" in conv
    assert "| `groups` | int, at least 1 | 1 |" in conv
    assert "- shape: [N, C, *S] -> [N, out_channels, *S']" in conv and "- cost: out elements x C/groups" in conv
    committed = (DOCS / "ops.md").read_text()
    missing = [op.name for op in REGISTRY.all() if f"\n## {op.name}\n" not in committed]
    assert not missing, f"docs/ops.md lacks {missing}: run `python tools/gen_ops_docs.py`"
