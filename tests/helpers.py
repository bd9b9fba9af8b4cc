"""Shared test helpers."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def spec_path(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def assert_static_equals_runtime(spec, model: str | None = None, **dims) -> None:
    """At every graph node, the static shape (symbols set from `dims`) equals the PyTorch shape."""
    from archdsl.runtime_shapes import shape_mismatches

    bad = shape_mismatches(spec, model, dims)
    assert not bad, "static and runtime shapes differ:\n" + "\n".join(bad[:20])
