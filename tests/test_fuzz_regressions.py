"""Regressions: inputs that crashed, hung or mislocated errors before fuzzing found them, and the limits,
each named in its message and raisable by a flag or `archdsl.load(..., limits=...)`."""
from __future__ import annotations

import time

import pytest

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchDSLError, LimitError, UsageError
from tests.fuzzing import assert_located, check_file

BASE = "inputs:\n  x: [N, 4]\nlayers:\n  fc: linear(3)\nforward: |\n  x >> fc\n"


def _let(value: str) -> str:
    return f"let:\n  a: \"{value}\"\n" + BASE


CASES = {  # name: (spec text, error code, words in the message)
    "nested comprehension that filters everything": (
        _let("[1 for a in range(100000) for b in range(100000) if false]"), "E011", "max_repeat"),
    "integer doubling through lets": (
        "let:\n  a0: 9**64\n" + "".join(f"  a{i + 1}: a{i} * a{i}\n" for i in range(40)) + BASE, "E011", "bits"),
    "string doubling through lets": (
        "let:\n  a0: \"'xx'\"\n" + "".join(f"  a{i + 1}: a{i} + a{i}\n" for i in range(40)) + BASE, "E011",
        "max_repeat"),
    "nested powers": (_let("((((9**64)**64)**64)**64)**64"), "E011", "bits"),
    "float overflow": ("let:\n  a: 10.0 ** 400\n" + BASE, "E011", "too large"),
    "repeat of a long list": (_let("[1] * 100000 * 100000"), "E011", "max_repeat"),
    "sum of long lists": (_let("sum([[1] * 100000] * 100000, [])"), "E011", "max_repeat"),
    "layer lists nested by repeats": (
        "inputs:\n  x: [N, 4]\nlayers:\n  fc: \"[[relu] * 100000] * 100000\"\nforward: |\n  x >> fc\n", "E011",
        "max_nodes"),
    "deep unary minus": (_let("-" * 5000 + "1"), "E011", "max_expr_depth"),
    "long sum": (_let("1+" * 5000 + "1"), "E011", "max_expr_depth"),
    "deep lists": (_let("[" * 3000 + "]" * 3000), "E011", "max_expr_depth"),
    "deep YAML": ("a: " + "[" * 600 + "]" * 600 + "\n", "E011", "nests too deeply"),
    "symbolic exponent": ("inputs:\n  x: [N ** N, 4]\nlayers:\n  fc: linear(3)\nforward: |\n  x >> fc\n", "E006",
                          "exponent"),
    "symbolic division by zero": ("inputs:\n  x: [N // 0, 4]\nlayers:\n  fc: linear(3)\nforward: |\n  x >> fc\n",
                                  "E006", "division by zero"),
    "a block that uses itself": (
        "blocks:\n  B():\n    layers:\n      b: B()\n    forward: |\n      b(x)\n" + BASE.replace("linear(3)", "B()"),
        "E011", "max_depth"),
    "empty document": ("---\n", "E003", "empty"),
    "python tag": ("a: !!python/object/apply:os.system ['echo hi']\n" + BASE, "E002", "tag"),
    "alias bomb": ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                   "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "E011", "max_yaml_nodes"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz_findings_are_located_errors(write_spec, name):
    text, code, words = CASES[name]
    path = write_spec(text)
    start = time.perf_counter()
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path).check()
    assert time.perf_counter() - start < 60  # a hang, not a slow machine
    err = info.value
    assert err.code == code and words in str(err) + (err.hint or ""), err.render()
    assert_located(err, path, text.encode())


def test_error_at_the_end_of_the_file_points_inside_it(write_spec):
    path = write_spec("inputs:\n  x: [N, 4\n")
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path)
    assert_located(info.value, path, b"inputs:\n  x: [N, 4\n")


def test_errors_in_folded_multiline_expressions_point_at_the_right_line(write_spec):
    text = ('inputs:\n  x: [N, 3, 8, 8]\nlayers:\n  features: "[m for w in [4]\n'
            '                for m in [conv2d(w, 3, padding=1), relux]]"\nforward: |\n  x >> features\n')
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    assert (info.value.span.line, info.value.span.col) == (5, 52)


def test_non_utf8_column_counts_characters(write_spec):
    path = write_spec("")
    with open(path, "wb") as f:
        f.write("inputs: {é: 1}\n".encode() + b"  x: \xff\n")
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path)
    assert (info.value.span.line, info.value.span.col) == (2, 6)


def test_long_chains_stay_linear(write_spec):
    path = write_spec("inputs:\n  x: [N, 4]\nforward: |\n  x" + " >> relu" * 10000 + "\n")
    start = time.perf_counter()
    archdsl.load(path).check()
    assert time.perf_counter() - start < 60  # a hang, not a slow machine


def test_long_source_lines_are_shown_around_the_caret(write_spec):
    path = write_spec(_let("1+" * 3000 + "1"))
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path)
    assert max(len(line) for line in info.value.render().splitlines()[:3]) < 200


# --- limits: named in the message, raisable ---------------------------------------------------------------

def test_limits_are_raisable_from_the_api(write_spec):
    path = write_spec(_let("[1] * 200000"))
    with pytest.raises(LimitError, match="max_repeat"):
        archdsl.load(path).check()
    archdsl.load(path, limits={"max_repeat": 300_000}).check()


def test_limits_are_raisable_from_the_cli(write_spec, capsys):
    path = write_spec(_let("[1] * 200000"))
    assert main(["check", path]) == 1
    assert "--max-repeat" in capsys.readouterr().err
    assert main(["check", path, "--max-repeat", "300000"]) == 0


def test_unknown_limit_is_a_usage_error(write_spec):
    with pytest.raises(ArchDSLError, match="not a limit") as info:
        archdsl.load(write_spec(BASE), limits={"max_repeats": 1})
    assert "max_repeat" in info.value.hint


def test_file_size_limit(write_spec, capsys):
    path = write_spec(BASE + "# " + "x" * 2000 + "\n")
    assert main(["check", path, "--max-file-bytes", "1000"]) == 1
    assert "max_file_bytes" in capsys.readouterr().err
    assert main(["check", path, "--max-file-bytes", "100000"]) == 0


def test_memory_limit_before_weights_are_allocated(write_spec):
    spec = archdsl.load(write_spec(BASE.replace("linear(3)", "linear(2**40)")))
    spec.check()  # statically fine: nothing is allocated
    with pytest.raises(LimitError, match="max_memory") as info:
        spec.build()
    assert info.value.span.line == 4
    spec = archdsl.load(write_spec(BASE.replace("linear(3)", "linear(2**40)")), limits={"max_memory": 2 ** 46})
    assert spec.memory().weights == 4 * (4 * 2 ** 40 + 2 ** 40)


def test_memory_limit_before_activations_are_allocated(write_spec):
    from archdsl.testing import assert_shapes_match

    spec = archdsl.load(write_spec("inputs:\n  x: [N, 1000, 1000, 1000]\nforward: |\n  relu(x)\n"))
    assert spec.memory(N=4).activations == 2 * 4 * 4 * 10 ** 9
    with pytest.raises(LimitError, match="max_memory"):
        assert_shapes_match(spec, device="cpu", N=4)
    assert_shapes_match(spec, device="meta", N=4)  # the meta device allocates nothing


def test_compile_output_is_written_atomically(write_spec, tmp_path, monkeypatch):
    out = tmp_path / "model.py"
    out.write_text("old")
    import archdsl.files as files

    def fail(*args):
        raise OSError("disk full")
    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(UsageError, match="disk full"):  # every OSError is a usage error
        files.write_atomic(str(out), "new source")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.py"]
    monkeypatch.undo()
    assert main(["compile", write_spec(BASE), "-o", str(out)]) == 0
    assert "class" in out.read_text()


def test_none_applied_to_a_layer_sequence(write_spec):
    """Found by the long fuzz run: `hidden(null)` reached the graph as a None input."""
    path = write_spec("inputs:\n  x: [N, 4]\nlayers:\n  hidden: \"[linear(4), relu]\"\nforward: |\n  hidden(null)\n")
    with pytest.raises(ArchDSLError, match="must be applied to tensors, got None") as info:
        archdsl.load(path).check()
    assert (info.value.span.line, info.value.span.col) == (6, 3)


def test_pytorch_failing_on_the_meta_device_is_a_counterexample(write_spec, monkeypatch, capsys):
    """Found by the long fuzz run: `archdsl test --device meta` let PyTorch's error escape (an internal error)."""
    import archdsl.backends.torch.probes as rs

    def fail(*args, **kwargs):
        raise RuntimeError("k not in range for dimension")
    monkeypatch.setattr(rs, "runtime_shapes", fail)
    assert main(["test", write_spec(BASE), "--device", "meta", "--examples", "2"]) == 1
    err = capsys.readouterr().err
    assert "PyTorch raised RuntimeError with N=1 on the meta device" in err and "internal error" not in err


def test_dims_with_a_huge_stride_are_decided_without_listing_residues(tmp_path):
    """The long fuzz profile: a stride of 999999999999 made the prover list 10**12 residue classes (16 GB)."""
    text = b"""\
name: s
inputs:
  x: [N, 3, H, W]
layers:
  c: conv2d(4, 1, stride=999999999999)
  d: conv2d(4, 1, stride=2)
forward: |
  concat([c(x), d(x)], dim=1)
"""
    path = tmp_path / "s.yaml"
    path.write_bytes(text)
    assert check_file(str(path), text) == "E009"  # a located condition, within check_file's time limit


def test_weights_beyond_torchs_sizes_are_a_located_error_on_the_meta_device(tmp_path):
    """The long fuzz profile: a 4e12 x 1e12 linear layer built on the meta device overflowed torch's sizes."""
    text = b"""\
name: s
inputs:
  x: [N, 999999999999]
layers:
  fc: linear(999999999999)
forward: |
  fc(x)
"""
    path = tmp_path / "s.yaml"
    path.write_bytes(text)
    with pytest.raises(LimitError) as info:
        archdsl.load(str(path)).build(device="meta")
    assert_located(info.value, str(path), text)
