"""`archdsl draw`: formats by suffix, options, exit codes 0/1/2."""
from __future__ import annotations

import pytest

from archdsl.cli import main
from tests.helpers import needs, spec_path
from tests.test_draw import BAD, Dot

needs_dot = needs(program="dot")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_draw_dot_with_options(capsys, tmp_path):
    out = tmp_path / "sub" / "r.dot"
    code, _, err = run(capsys, "draw", spec_path("resnet"), "-o", out, "--depth", "1", "--direction", "LR",
                       "-D", "depth=18", "-D", "num_classes=10")
    assert code == 0 and f"wrote {out}" in err
    dot = Dot(out.read_text())
    assert dot.graph["rankdir"] == "LR" and "depth=18" in dot.graph["label"]
    assert "<b>BasicBlock</b> x 2" in dot.nodes["unit:layer1.0"]["label"]
    assert dot.labelled()["tensor:fc"] == "N x 10"


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_draw_formats_by_suffix(capsys, tmp_path, suffix, magic):
    out = tmp_path / f"lenet{suffix}"
    assert run(capsys, "draw", spec_path("lenet5"), "-o", out)[0] == 0
    assert out.read_bytes().startswith(magic)


def test_unknown_suffix_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "draw", spec_path("lenet5"), "-o", tmp_path / "x.jpg")
    assert code == 2 and "error[E013]" in err and ".svg" in err


def test_shape_error_without_allow_errors_draws_nothing(capsys, tmp_path, write_spec):
    out = tmp_path / "bad.dot"
    code, _, err = run(capsys, "draw", write_spec(BAD), "-o", out)
    assert code == 1 and "error[E009]" in err and not out.exists()


def test_shape_error_with_allow_errors_draws_it_and_still_exits_1(capsys, tmp_path, write_spec):
    out = tmp_path / "bad.dot"
    code, _, err = run(capsys, "draw", write_spec(BAD), "-o", out, "--allow-errors")
    assert code == 1 and "error[E009]" in err and "1 shape error drawn in red" in err
    assert "#dc2626" in out.read_text()


def test_model_option(capsys, tmp_path, write_spec):
    from tests.test_draw import TWO_MODELS

    path = write_spec(TWO_MODELS)
    out = tmp_path / "m.dot"
    assert run(capsys, "draw", path, "-o", out, "--model", "decoder")[0] == 0
    assert "encoder." not in out.read_text() and "decoder.z" in out.read_text()
    code, _, err = run(capsys, "draw", path, "-o", out, "--model", "critic")
    assert code == 2 and "no model `critic`" in err


def test_bad_depth_and_direction(capsys, tmp_path):
    assert run(capsys, "draw", spec_path("lenet5"), "-o", tmp_path / "l.dot", "--depth", "-1")[0] == 2
    with pytest.raises(SystemExit) as info:
        run(capsys, "draw", spec_path("lenet5"), "-o", tmp_path / "l.dot", "--direction", "up")
    assert info.value.code == 2
