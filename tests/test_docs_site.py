"""The project's own docs (mkdocs.yml) build with `mkdocs build --strict`, and the gallery page's diagrams are
drawn from the specs by the Markdown extension archdsl.mkdocs at build time (inline SVG), not committed files."""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from archdsl.docgen import gallery
from tests.helpers import ROOT, needs

pytest.importorskip("mkdocs")


@needs(program="dot")
def test_the_docs_site_builds_strict_with_the_gallery_drawn_inline(tmp_path):
    site = tmp_path / "site"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    html = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    assert "archdsl: spec error" not in html and "<p>::: archdsl-diagram" not in html  # every block rendered
    diagrams = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(diagrams) == len(list(gallery.views(ROOT)))  # one per view of the page
    for data in diagrams:
        assert ET.fromstring(base64.b64decode(data)).tag.endswith("svg")
    assert not re.search(r'<img[^>]+src="[^"]*\.svg"', html)  # no committed picture linked
