"""`archdsl summary`: per-layer rows or per-block rows (--depth), totals, parameter memory, four formats."""
from __future__ import annotations

import csv
import io
import json

import pytest

import archdsl
from archdsl.cli import main
from tests.helpers import spec_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_depth_aggregates_per_block_and_keeps_the_totals():
    spec = archdsl.load(spec_path("resnet"), N=1)
    full, folded = spec.summary(), spec.summary(depth=1)
    assert (folded.params, folded.macs) == (full.params, full.macs) == (25_557_032, folded.macs)
    assert sum(r.params for r in folded) == full.params and sum(r.macs for r in folded) == full.macs
    rows = {r.name: r for r in folded}
    assert rows["layer1.0"].op == "Bottleneck" and rows["layer1.0"].shape == (1, 256, 56, 56)
    assert rows["layer4.2"].shape == (1, 2048, 7, 7)
    assert [r.name for r in folded][:5] == ["conv1", "bn1", "relu", "maxpool2d", "layer1.0"]


def test_depth_zero_gives_one_row_per_top_level_layer():
    rows = archdsl.load(spec_path("googlenet")).summary(depth=0)
    names = [r.name for r in rows]
    assert names[:3] == ["conv1", "maxpool1", "norm1"] and "inception3a" in names
    assert {r.op for r in rows if r.name.startswith("inception")} == {"Inception"}
    assert len(rows.rows) == 22


def test_sequences_fold_as_sequential():
    rows = {r.name: r for r in archdsl.load(spec_path("vgg")).summary(depth=0)}
    assert rows["features"].op == "Sequential" and rows["features"].shape[1] == 512


def test_text_has_totals_and_megabytes(capsys):
    code, out, _ = run(capsys, "summary", spec_path("lenet5"))
    assert code == 0 and "total: 61,706 parameters (0.24 MB as float32)" in out


def test_markdown(capsys):
    code, out, _ = run(capsys, "summary", spec_path("resnet"), "--format", "markdown", "--depth", "1")
    lines = out.splitlines()
    assert code == 0 and lines[2] == "| layer | op | output shape | params | MACs |"
    assert "| `layer1.0` | Bottleneck | [N, 256, 56, 56] | 75,008 |" in out
    assert "25,557,032 parameters (97.49 MB as float32)" in out


def test_csv(capsys):
    code, out, _ = run(capsys, "summary", spec_path("lenet5"), "--format", "csv", "-D", "N=1")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["layer", "op", "output_shape", "params", "macs"]
    assert rows[1] == ["c1", "conv2d", "[1, 6, 28, 28]", "156", "117600"]
    assert rows[-1][0] == "total" and rows[-1][3] == "61706"


def test_json_with_depth(capsys):
    code, out, _ = run(capsys, "summary", spec_path("resnet"), "--format", "json", "--depth", "0", "-D", "N=1")
    data = json.loads(out)
    assert code == 0 and data["params"] == 25_557_032 and data["param_mb"] == pytest.approx(97.49, abs=0.01)
    assert [r["name"] for r in data["rows"]][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    assert data["rows"][4]["op"] == "Sequential" and data["rows"][4]["shape"] == [1, 256, 56, 56]


def test_negative_depth_is_a_usage_error(capsys):
    assert run(capsys, "summary", spec_path("lenet5"), "--depth", "-2")[0] == 2
