"""One test per error code: the message, the code and the location (line, column) in the spec."""
import textwrap

import pytest

import archdsl
from archdsl.errors import ERROR_KINDS

BASE = """\
params:
  width: 8
inputs:
  x: [N, 3, 16, 16]
layers:
  conv1: conv2d(width, 3, padding=1)
  fc: linear(10)
forward: |
  y = x >> conv1 >> relu
  y >> global_avgpool2d >> fc
"""


def error_of(write_spec, text: str, **params) -> archdsl.ArchDSLError:
    path = write_spec(textwrap.dedent(text))
    with pytest.raises(archdsl.ArchDSLError) as info:
        spec = archdsl.load(path, **params)
        spec.check()
    err = info.value
    assert err.span is not None and err.span.file == path
    rendered = err.render()
    assert rendered.startswith(f"{path}:{err.span.line}:{err.span.col}: error[{err.code}]: ")
    assert "^" in rendered
    return err


CASES = {
    "E001": (b"inputs: {x: [1]}\n\xff\xfe", None, (2, 1), "not valid UTF-8"),
    "E002": ("params:\n  a: 1\n  a: 2\n", None, (3, 3), "appears twice"),
    "E003": (BASE.replace("forward:", "forwrd:"), None, (8, 1), "unknown key `forwrd`"),
    "E004": (BASE.replace("y >> global_avgpool2d", "y >>> global_avgpool2d"), None, (10, 7), "unexpected"),
    "E005": (BASE.replace("y >> global_avgpool2d", "yy >> global_avgpool2d"), None, (10, 3), "`yy` is not defined"),
    "E006": (BASE.replace("conv2d(width, 3", "conv2d(width + 'a', 3"), None, (6, 17), "cannot compute"),
    "E007": (BASE.replace("padding=1)", "padding=-1)"), None, (6, 35), "must be at least 0"),
    "E008": (BASE.replace("y >> global_avgpool2d >> fc", "fc(y, x)"), None, (10, 3), "takes 1 input"),
    "E009": (BASE.replace("y >> global_avgpool2d >> fc", "y + x"), None, (10, 3), "cannot broadcast"),
    "E010": (BASE, {"width": "wide"}, (2, 3), "must be an integer"),
    "E011": (BASE.replace("conv2d(width, 3, padding=1)", "'[relu] * 10000000'"), None, (6, 11), "repeat count"),
    "E012": (BASE.replace("fc: linear(10)", "fc: linear(10) if width > 100"), None, (10, 28), "disabled"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_error_code(write_spec, tmp_path, code):
    text, params, (line, col), words = CASES[code]
    if isinstance(text, bytes):
        path = tmp_path / "spec.yaml"
        path.write_bytes(text)
        with pytest.raises(archdsl.ArchDSLError) as info:
            archdsl.load(str(path)).check()
        err = info.value
    else:
        err = error_of(write_spec, text, **(params or {}))
    assert err.code == code, err.render()
    assert (err.span.line, err.span.col) == (line, col), err.render()
    assert words in err.message, err.render()


def test_usage_error_for_unknown_model(write_spec):
    spec = archdsl.load(write_spec(BASE))
    with pytest.raises(archdsl.ArchDSLError) as info:
        spec.build("nope")
    assert info.value.code == "E013" and "no model `nope`" in info.value.message


def test_every_code_is_tested_and_documented():
    from pathlib import Path

    codes = {k.code for k in ERROR_KINDS}
    assert codes - {"E013"} == set(CASES)
    doc = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    for code in codes | {"E014"}:  # E014: export failures (archdsl/export.py, tested in tests/test_deploy.py)
        assert f"## {code}" in doc


def test_model_named_like_a_module_method_is_rejected(write_spec):
    err = error_of(write_spec, "models:\n  train:\n    inputs: {x: [N, 2]}\n    forward: |\n      x\n")
    assert err.code == "E003" and "cannot be a model name" in err.message and err.span.line == 2
