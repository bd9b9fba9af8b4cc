"""tests/data/reference/ holds copies of ../shared/reference (see its README.md): they must stay identical."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference import DIR

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent; the committed copies are used")
@pytest.mark.parametrize("name", ["fingerprint.py", "torchvision_zoo.json"])
def test_copies_equal_the_shared_reference(name):
    assert (DIR / name).read_bytes() == (SHARED / name).read_bytes(), f"copy {SHARED / name} to {DIR / name}"
