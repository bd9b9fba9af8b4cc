"""archdsl.testing: the dims strategy, the shape checker, random specs, and `archdsl test` on every zoo spec."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import archdsl
from archdsl import testing
from archdsl.cli import main
from archdsl.testing import ShapeMismatch, assert_shapes_match, dims, from_text, run_property, specs, symbols, valid
from tests.helpers import SPECS

ZOO = sorted(p.stem for p in SPECS.glob("*.yaml"))

STRIDED = """\
inputs:
  x: [N, 3, H, W]
layers:
  conv1: conv2d(8, 7, stride=2)
  conv2: conv2d(8, 3, stride=2, padding=1)
  pool: maxpool2d(3, stride=2, ceil_mode=true)
forward: |
  x >> conv1 >> relu >> conv2 >> pool >> global_avgpool2d
"""


@pytest.fixture(scope="module")
def strided():
    return from_text(STRIDED, "strided.yaml")


def test_symbols_and_batch_dims(strided):
    assert symbols(strided) == ["H", "N", "W"]


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_dims_respect_the_spec_constraints(strided, data):
    values = data.draw(dims(strided))
    assert valid(strided, values)
    # 11: the smallest valid size (test_dims_find_the_smallest_valid_size); a batch dim is drawn from 1 to
    # 1 + archdsl.testing.BATCH_SPAN
    assert values["H"] >= 11 and values["W"] >= 11 and 1 <= values["N"] <= 1 + testing.BATCH_SPAN == 3


def test_dims_find_the_smallest_valid_size(strided):
    # 7x7/2 conv, 3x3/2 conv with padding 1, 3x3/2 ceil-mode pool: H = 11 gives (11 - 7) // 2 + 1 = 3, then
    # (3 + 2 - 3) // 2 + 1 = 2, and the pool one output; H = 10 leaves the pool a 1x1 input, too small
    assert not valid(strided, {"N": 1, "H": 10, "W": 11})
    assert valid(strided, {"N": 1, "H": 11, "W": 11})


@settings(max_examples=5, deadline=None)
@given(st.data())
def test_fixed_dims(strided, data):
    assert data.draw(dims(strided, N=5))["N"] == 5


def test_unknown_dims_are_usage_errors(strided):
    with pytest.raises(archdsl.ArchDSLError, match="not a symbolic dim"):
        dims(strided, K=1)


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_the_documented_property(strided, data):
    assert_shapes_match(strided, **data.draw(dims(strided)))


def test_a_wrong_static_shape_is_reported_with_node_and_location(strided, monkeypatch):
    node = strided.graph.node("conv2")
    monkeypatch.setattr(node.meta, "shape", node.meta.shape[:3] + (node.meta.shape[3] + 1,))
    with pytest.raises(ShapeMismatch) as info:
        assert_shapes_match(strided, N=1, H=16, W=16)
    assert "`conv2` (conv2d)" in str(info.value) and "strided.yaml:8:" in str(info.value)
    result = run_property(strided, examples=10)
    assert not result.ok and result.failure.dims == {"N": 1, "H": 11, "W": 11}  # shrunk to the smallest


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs(), st.data())
def test_random_specs_check_and_match_pytorch(text, data):
    spec = from_text(text, "random.yaml")
    spec.check()
    assert_shapes_match(spec, **data.draw(dims(spec)))


@pytest.mark.parametrize("name", ZOO)
def test_archdsl_test_on_every_zoo_spec(name, capsys):
    code = main(["test", str(SPECS / f"{name}.yaml"), "--examples", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ok: static shapes equal PyTorch's" in out


def test_archdsl_test_reports_the_shrunk_counterexample(tmp_path, monkeypatch, capsys):
    path = tmp_path / "strided.yaml"
    path.write_text(STRIDED)

    real = testing._compare

    def skewed(spec, nid, runtime, values):  # pretend PyTorch disagrees from H = 13 on
        row = real(spec, nid, runtime, values)
        if nid == "pool" and values["H"] >= 13:
            row.ok = False
        return row
    monkeypatch.setattr(testing, "_compare", skewed)
    assert main(["test", str(path), "--examples", "30"]) == 1
    err = capsys.readouterr().err
    # shrunk to the smallest failing dims: H = 13 (where the skew starts), the smallest N and W (11, above)
    assert "smallest counterexample" in err and "H=13, N=1, W=11" in err and "`pool` (maxpool2d)" in err
