"""One test per error code: the message, the code and the location (line, column) in the spec."""
import textwrap

import pytest

import archdsl
from archdsl.docgen.errors import BASE, EXAMPLES
from archdsl.errors import ERROR_KINDS

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


# code -> (line, col) and words of the message that archdsl/docgen/errors.py's example for it must give
EXPECTED = {
    "E001": ((2, 1), "not valid UTF-8"),
    "E002": ((3, 3), "appears twice"),
    "E003": ((8, 1), "unknown key `forwrd`"),
    "E004": ((10, 7), "unexpected"),
    "E005": ((10, 3), "`yy` is not defined"),
    "E006": ((6, 17), "cannot compute"),
    "E007": ((6, 35), "must be at least 0"),
    "E008": ((10, 3), "takes 1 input"),
    "E009": ((10, 3), "cannot broadcast"),
    "E010": ((2, 3), "must be an integer"),
    "E011": ((6, 11), "repeat count"),
    "E012": ((10, 28), "disabled"),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_error_code(write_spec, tmp_path, code):
    text, params = EXAMPLES[code]
    (line, col), words = EXPECTED[code]
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


def test_every_code_has_an_example():
    """E013 (usage) has a transcript in the docs instead; docs/errors.md itself: tests/test_docgen.py."""
    assert {k.code for k in ERROR_KINDS} - {"E013"} == set(EXAMPLES) == set(EXPECTED)


def test_model_named_like_a_module_method_is_rejected(write_spec):
    err = error_of(write_spec, "models:\n  train:\n    inputs: {x: [N, 2]}\n    forward: |\n      x\n")
    assert err.code == "E003" and "cannot be a model name" in err.message and err.span.line == 2


@pytest.mark.parametrize("old, new, col, words", [
    ("  x: [N,", "  self: [N,", 3, "`self` cannot be an input name"),
    ("  conv1:", "  \u00e9:", 3, "not an ASCII identifier"),
    ("  width: 8", "  lambda: 8", 3, "a Python keyword"),
])
def test_name_that_cannot_be_a_python_identifier_is_a_structure_error(write_spec, old, new, col, words):
    """archdsl/names.py: names are checked where they are read, before anything uses them."""
    text = BASE.replace(old, new)
    err = error_of(write_spec, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith(new))
    assert err.code == "E003" and (err.span.line, err.span.col) == (line, col) and words in err.message, err.render()


LANGUAGE = """\
params: {width: 8, depth: 2}
let:
  half: "lambda v, k=2: v // k"
inputs: {x: [N, 4, 6]}
blocks:
  Pair(w):
    inputs: [x, m]
    layers: {fc: linear(w)}
    forward: |
      fc(x) + m
layers:
  stack: "[Pair(6) for _ in range(depth)]"
  table: embedding(10, 6)
  head: tied_linear('table')
  named: "{'a' + str(i): linear(6) for i in range(2)}"
forward: |
  assert width % 4 == 0, 'width must be a multiple of 4'
  y = stack(x, x)
  OUT
"""


@pytest.mark.parametrize("old, new, code, at, words", [
    ("width: 8", "width: 6", "E010", (17, 10), "assertion failed: width must be a multiple of 4"),
    ("  OUT", "  stack[2](y, x)", "E006", (19, 9), "index 2 is out of range for the layer `stack`"),
    ("  OUT", "  stack[0](y)", "E008", (19, 3), "takes 2 input(s) (x, m), got 1"),
    ("  OUT", "  named['b'](y)", "E006", (19, 9), "has no layer named 'b'"),
    ("  OUT", "  head(y[:, 4])", "E009", (19, 8), "index 4 is out of range for dim 1 of size 4"),
    ("  OUT", "  concat(chunk(y, 4, dim=2), dim=2)", "E009", (19, 10), "gives 3 tensors"),
    ("  OUT", "  head(y[:, :, half(1, 2, 3)])", "E007", (19, 16), "the lambda takes 2 arguments, got 3"),
    ("tied_linear('table')", "tied_linear('tabel')", "E007", (14, 9), "`tabel` of `head` is not a layer"),
    ("'a' + str(i)", "'a ' + str(i)", "E003", (15, 11), "a map's keys are ASCII letters"),
    ("  OUT", "  table(y[:, 0])", "E006", (19, 3), "`embedding` takes integer ids, got float32"),
])
def test_language_construct_errors_are_located(write_spec, old, new, code, at, words):
    """Layer lists and maps, subscripts, chunk, lambdas, asserts and tying: located errors with their code."""
    err = error_of(write_spec, LANGUAGE.replace(old, new))
    assert err.code == code and (err.span.line, err.span.col) == at and words in err.message, err.render()
