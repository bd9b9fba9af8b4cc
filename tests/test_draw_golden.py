"""Golden DOT files: a diagram changes only when someone means it to.

The files in tests/golden/ are archdsl's own output, reviewed by eye and pinned as regression values: this
test catches unintended changes, it is not evidence that the diagrams are right. Their structure (clusters,
shapes on arrows, folding) is checked against the specs in tests/test_draw.py.

After an intended change to the diagrams, rewrite the files with
    ARCHDSL_UPDATE_GOLDEN=1 python -m pytest tests/test_draw_golden.py
and review the diff like any other change.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import archdsl
from tests.helpers import spec_path

GOLDEN = Path(__file__).resolve().parent / "golden"

CASES = {
    "lenet5.dot": ("lenet5", {}, {}),
    "resnet18_depth1.dot": ("resnet", {"depth": 18}, {"depth": 1}),
}


@pytest.mark.parametrize("file", sorted(CASES))
def test_golden_dot(file):
    name, params, options = CASES[file]
    text = archdsl.load(spec_path(name), **params).to_dot(**options)
    path = GOLDEN / file
    if os.environ.get("ARCHDSL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"the diagram of {name} changed; see this file's docstring"
