"""Issue 16, "Files are destroyed" and "Hangs, memory and unlocated crashes": one regression test per finding.

Each runs the CLI (in-process through `main`, or as a real process where signals or streams matter) and
asserts the exit code, the diagnostic's shape and that no traceback is printed.
"""
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from archdsl.cli import main
from archdsl.files import write_atomic

SPEC = """\
inputs:
  x: [N, 8]
let:
  k: {let}
layers:
  fc: linear(4)
forward: |
  fc(x)
"""
LOCATED = re.compile(r"^\S+:\d+:\d+: error\[E\d{3}\]: ", re.MULTILINE)


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(SPEC.format(let=1))
    return path


def spec_with(tmp_path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def located(err: str, code: str) -> bool:
    """A `file:line:col: error[CODE]` diagnostic with its source line and caret."""
    return bool(LOCATED.search(err)) and f"error[{code}]" in err and " | " in err and "^" in err


def under_caret(err: str) -> str:
    """The source text from the caret on, in a rendered diagnostic."""
    source, marks = err.splitlines()[1:3]
    return source[marks.index("^"):]


# --- files are destroyed ---------------------------------------------------------------------------------------

def test_compile_refuses_a_device_file(capsys, spec):
    code, _, err = cli(capsys, "compile", spec, "-o", os.devnull)
    assert code == 2 and "error[E013]" in err and "not a regular file" in err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_compile_refuses_a_fifo(capsys, spec, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "compile", spec, "-o", fifo)
    assert code == 2 and "not a regular file" in err and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_compile_refuses_a_directory(capsys, spec, tmp_path):
    code, _, err = cli(capsys, "compile", spec, "-o", tmp_path)
    assert code == 2 and "is a directory" in err


def test_output_in_an_unwritable_place_is_a_usage_error(capsys, spec, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, "compile", spec, "-o", blocker / "sub" / "model.py")  # a folder under a file
    assert code == 2 and "error[E013]: cannot write" in err


@pytest.mark.parametrize("argv", [["compile"], ["draw"]])
def test_outputs_refuse_to_overwrite_the_spec(capsys, spec, tmp_path, argv):
    link = tmp_path / "link.yaml"
    link.symlink_to(spec)
    before = spec.read_text()
    code, _, err = cli(capsys, *argv, spec, "-o", link)
    assert code == 2 and "is the input spec" in err and spec.read_text() == before


def test_emit_refuses_the_spec(capsys, spec, tmp_path):
    pytest.importorskip("torch")
    target = tmp_path / "model.torchscript.pt"
    target.symlink_to(spec)
    code, _, err = cli(capsys, "compile", spec, "-o", tmp_path / "model.py", "--emit", "torchscript")
    assert code == 2 and "is the input spec" in err and "inputs:" in spec.read_text()


def test_symlinks_are_followed(capsys, tmp_path):
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    link.symlink_to(target)
    assert cli(capsys, "schema", "-o", link)[0] == 0
    assert link.is_symlink() and target.read_text().startswith("{")


def test_fmt_write_follows_a_symlink(capsys, spec, tmp_path):
    link = tmp_path / "link.yaml"
    link.symlink_to(spec)
    spec.write_text(spec.read_text().replace("  x: [N, 8]", "  x:   [N,8]"))
    assert cli(capsys, "fmt", "-w", link)[0] == 0
    assert link.is_symlink() and "x: [N, 8]" in spec.read_text()


@pytest.mark.parametrize("sig, died", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 1)])
def test_a_signal_while_writing_removes_the_temp_file(tmp_path, sig, died):
    """The signal arrives between writing the temp file and renaming it: no `.tmp` is left behind."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from archdsl import files
        os.fsync = lambda fd: os.kill(os.getpid(), {int(sig)})
        try:
            files.write_atomic(sys.argv[1], "data")
        except KeyboardInterrupt:
            sys.exit(1)
        sys.exit(3)
    """)
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out.py")], capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert res.returncode == died, res.stderr
    assert os.listdir(tmp_path) == []


def test_handlers_are_restored_after_writing(tmp_path):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    write_atomic(str(tmp_path / "out.txt"), "data")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("payload", ["tensor", "list", "junk"])
def test_weights_that_are_not_a_state_dict(tmp_path, payload):
    torch = pytest.importorskip("torch")
    from archdsl.errors import UsageError
    from archdsl.backends.torch.export import load_weights

    weights = tmp_path / "w.pt"
    if payload == "junk":
        weights.write_text("not a torch file")
    else:
        torch.save(torch.zeros(3) if payload == "tensor" else [1, 2], weights)
    with pytest.raises(UsageError, match="not a state_dict|cannot read weights"):
        load_weights(torch.nn.Linear(2, 2), str(weights))


# --- unlocated crashes and tracebacks ----------------------------------------------------------------------------

BIG = "9" * 5000  # more digits than Python converts (4,300)


@pytest.mark.parametrize("let", [BIG, f'"{BIG} + 1"', f'"[{BIG}]"'])
def test_huge_integers_in_yaml_and_expressions_are_located(capsys, tmp_path, let):
    code, _, err = cli(capsys, "check", spec_with(tmp_path, SPEC.format(let=let)))
    assert code == 1 and located(err, "E011") and "too long" in err and "bad.yaml:4:" in err


def test_huge_integer_in_a_define(capsys, spec):
    code, _, err = cli(capsys, "check", spec, "-D", f"N={BIG}")
    assert code == 1 and "error[E011]" in err and "-D N=" in err


@pytest.mark.parametrize("char", ["\\L", "\\N", "\\v", "\\x1c"])  # YAML escapes for U+2028, U+0085, \v, \x1c
def test_line_breaking_characters_in_an_expression_are_located(capsys, tmp_path, char):
    code, _, err = cli(capsys, "check", spec_with(tmp_path, SPEC.format(let=f'"1 +{char} 2"')))
    assert code == 1 and located(err, "E004") and "bad.yaml:4:10:" in err and "unexpected character" in err


def test_line_separator_in_forward_is_located(capsys, tmp_path):
    text = SPEC.format(let=1).replace("  fc(x)\n", "  y = fc(x)\u2028  z = y\n  y\n")
    code, _, err = cli(capsys, "check", spec_with(tmp_path, text))
    assert code == 1 and located(err, "E004") and "'\\u2028'" in err


def test_reading_dev_zero_is_bounded():
    res = subprocess.run([sys.executable, "-m", "archdsl.cli", "check", "/dev/zero"], capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert res.returncode == 1 and "/dev/zero:1:1: error[E011]" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("size", ["inf", "nan", "1e999", "9" * 400 + "GiB"])
def test_infinite_max_memory_is_a_usage_error(capsys, spec, size):
    with pytest.raises(SystemExit) as info:
        main(["check", str(spec), "--max-memory", size])
    assert info.value.code == 2 and "not a size" in capsys.readouterr().err


# --- hangs and memory --------------------------------------------------------------------------------------------

RNN = """\
inputs:
  x: [N, T, 8]
layers:
  r: {kind}(16, num_layers={layers})
forward: |
  ys, {state} = r(x)
  ys
"""


def rnn_spec(tmp_path, kind: str, layers: int):
    return spec_with(tmp_path, RNN.format(kind=kind, layers=layers, state="(h, c)" if kind == "lstm" else "h"))


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_num_layers_is_bounded_by_max_repeat(capsys, tmp_path, kind):
    code, _, err = cli(capsys, "check", rnn_spec(tmp_path, kind, 100_000_000))
    assert code == 1 and located(err, "E011") and "`max_repeat`" in err and "bad.yaml:4:" in err


@pytest.mark.parametrize("kind, params", [("rnn", 100_000_000 * 16 * (16 + 16 + 2) - 16 * 16 + 8 * 16),
                                          ("lstm", 4 * (100_000_000 * 16 * (16 + 16 + 2) - 16 * 16 + 8 * 16))])
def test_parameter_count_of_deep_recurrent_layers_is_closed_form(capsys, tmp_path, kind, params):
    """With the limit raised, 10^8 layers are counted at once: layer 1 reads 8 features, the others 16."""
    code, out, _ = cli(capsys, "check", rnn_spec(tmp_path, kind, 100_000_000), "--max-repeat", 10**9)
    assert code == 0 and f"{params:,} parameters" in out


@pytest.mark.parametrize("expr, caret", [
    ("[sum(range(100000)) for i in range(100000)]", "range(100000))"),  # work inside each element
    ("[[0] * 100000 for i in range(100000)]", "[0] * 100000"),  # 10^10 list slots
    ("[big[:] for i in big]", "big[:]"),
    ("[i in big for i in big]", "i in big"),
])
def test_comprehension_work_is_bounded(capsys, tmp_path, expr, caret):
    text = SPEC.format(let=f'"{expr}"').replace("let:\n", 'let:\n  big: "list(range(100000))"\n')
    start = time.perf_counter()
    code, _, err = cli(capsys, "check", spec_with(tmp_path, text))
    assert time.perf_counter() - start < 20  # before the fix: minutes, or 8 GB of memory
    assert code == 1 and located(err, "E011") and "`max_work`" in err
    assert under_caret(err).startswith(caret)


LOOP = """\
blocks:
  Step:
    inputs: [h]
    layers:
      fc: linear(8)
    forward: |
      tanh(fc(h))
inputs:
  x: [N, 8]
layers:
  step: Step
forward: |
  loop(step, 1000000000, state=[x])
"""


def test_loop_count_is_bounded_in_archdsl_test(capsys, tmp_path):
    pytest.importorskip("hypothesis")
    start = time.perf_counter()
    code, _, err = cli(capsys, "test", spec_with(tmp_path, LOOP), "--examples", 2)
    assert time.perf_counter() - start < 60  # before the fix: 10^9 steps, even on the meta device
    assert code == 1 and located(err, "E011") and "bad.yaml:13:3:" in err and under_caret(err).startswith("loop(")


def test_failures_in_the_generated_forward_have_a_stable_origin(tmp_path, monkeypatch):
    """hypothesis compares a failure's origin, its context's included, between replays. An exception raised in
    the generated forward has its last frame in the generated file, which is named anew on every build: the
    property reported `FlakyFailure` instead of the counterexample."""
    pytest.importorskip("hypothesis")
    import itertools

    import archdsl
    import archdsl.backends.torch.probes
    from hypothesis.internal.escalation import InterestingOrigin

    from archdsl.testing import ShapeMismatch, check_example, run_property

    builds = itertools.count()

    def run(spec, model, values, device=None):  # a forward that fails for S < 3, in a file named per build
        if values["S"] < 3:
            exec(compile("raise RuntimeError('k out of range')", f"<archdsl spec #{next(builds)}>", "exec"))
        return {}

    monkeypatch.setattr(archdsl.backends.torch.probes, "runtime_shapes", run)
    spec = archdsl.load(str(spec_with(tmp_path, "inputs:\n  x: [N, S]\nforward: |\n  topk_mask(x, k=2)\n")))
    origins = set()
    for _ in range(2):
        with pytest.raises(ShapeMismatch) as info:
            check_example(spec, None, "cpu", {"N": 1, "S": 1})
        origins.add(InterestingOrigin.from_exception(info.value))
    assert len(origins) == 1
    failure = run_property(spec, 30, device="cpu").failure
    assert failure is not None and "PyTorch raised RuntimeError with N=1, S=1" in str(failure)
