"""Shared test helpers."""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


# CI (.ci/run exports CI=1) installs every optional dependency: there a missing one fails instead of skipping
CI = os.environ.get("CI") == "1"


def optional(module: str):
    """Import an optional dependency at a test file's top; without it the file is skipped, or fails in CI."""
    return importlib.import_module(module) if CI else pytest.importorskip(module)


def skip_missing(what: str) -> None:
    """Skip the running test because `what` is not installed; in CI fail instead."""
    (pytest.fail if CI else pytest.skip)(f"{what} is not installed (CI installs it)")


def needs(module: str | None = None, program: str | None = None):
    """Mark: skip without a Python module or program on PATH, except in CI, where the test runs and fails."""
    absent = (module is not None and importlib.util.find_spec(module) is None) or \
        (program is not None and shutil.which(program) is None)
    return pytest.mark.skipif(absent and not CI, reason=f"{module or program} is not installed (CI installs it)")


def copy_libraries(folder: Path) -> None:
    """Write the block libraries the zoo specs import (specs/blocks/) into `folder`, beside a copied spec."""
    shutil.copytree(SPECS / "blocks", Path(folder) / "blocks")


def spec_path(name: str) -> str:
    return str(SPECS / f"{name}.yaml")


def assert_static_equals_runtime(spec, model: str | None = None, **dims) -> None:
    """At every graph node, the static shape (symbols set from `dims`) equals the PyTorch shape."""
    from archdsl.backends.torch.probes import shape_mismatches

    bad = shape_mismatches(spec, model, dims)
    assert not bad, "static and runtime shapes differ:\n" + "\n".join(bad[:20])

# a spec whose error is on line 8 (conv2d applied to a rank-2 tensor): the docs extensions' error tests
BROKEN_SPEC = """\
name: broken
inputs:
  x: [N, 3, 32, 32]
layers:
  fc: linear(10)
  c: conv2d(8, 3)
forward: |
  x >> flatten >> fc >> c
"""  # line 8: conv2d on a rank-2 tensor
