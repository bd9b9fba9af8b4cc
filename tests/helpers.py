"""Shared test helpers."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
REFERENCE = ROOT / "tests" / "data" / "torchvision_state_dicts.json"  # copied from shared/reference


def spec_path(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def reference(model: str) -> dict:
    """torchvision facts: num_params, input, output, state_dict [(key, shape)]."""
    return json.loads(REFERENCE.read_text())[model]


def assert_static_equals_runtime(spec, model: str | None = None, **dims) -> None:
    """At every graph node, the static shape (symbols set from `dims`) equals the PyTorch shape."""
    from archdsl.runtime_shapes import shape_mismatches

    bad = shape_mismatches(spec, model, dims)
    assert not bad, "static and runtime shapes differ:\n" + "\n".join(bad[:20])
