"""The CLI under fuzzing: any spec and any arguments give exit code 0, 1 or 2 and never a traceback.

In-process through archdsl.cli.main for speed, plus a few real subprocesses."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from archdsl.cli import main
from archdsl.cli.commands import COMMANDS as TABLE
from tests.fuzzing import CASE_SECONDS, ROOT, TALLY, ZOO, fuzz_settings, mutated_spec, time_limit, write_report

# every command of the CLI's table that reads a spec file; draw writes a .dot (no Graphviz run per case)
COMMANDS = sorted(name for name, c in TABLE.items() if c.takes_file)
EXTRA = [[], ["-D", "N=2"], ["-D", "depth=18"], ["-D", "nope=1"], ["-D", "=1"], ["-D", "N=0"], ["--max-repeat", "3"],
         ["--max-depth", "2"], ["--max-memory", "1MB"], ["--max-nodes", "10"], ["--format", "json"], ["--check"],
         ["--examples", "2"], ["--max-memory", "lots"], ["--bogus"], ["-o"]]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert code in (0, 1, 2), f"exit code {code}"
    assert "Traceback" not in err and "internal error" not in err, err


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report()


@fuzz_settings(ci=80)
@given(mutated_spec(), st.sampled_from(COMMANDS), st.sampled_from(EXTRA))
def test_cli_on_mutated_specs(tmp_path_factory, case, command, extra):
    _, data = case
    path = tmp_path_factory.mktemp("cli") / "spec.yaml"
    path.write_bytes(data)
    if command == "test":  # keep the runtime short: the model runs on the meta device, and where an op has no
        # meta kernel the CPU run may take 256 MiB, not the default limit of 8 GiB (two such cases filled 16 GB)
        extra = extra + ["--examples", "2", "--device", "meta", "--max-memory", "256MiB"]
    if command == "draw":
        extra = extra + ["-o", str(path.with_suffix(".dot"))]
    with time_limit(CASE_SECONDS):  # a slow case is named, not left to stop the run
        code, _, err = run_cli([command, str(path), *extra])
    TALLY[("cli", f"exit {code}")] += 1
    assert_clean(code, err)


@pytest.mark.parametrize("argv", [[], ["check"], ["nope", "x"], ["check", "/no/such/file.yaml"], ["schema", "-o"],
                                  ["fmt"], ["test", str(ROOT / "specs" / "mlp.yaml"), "--examples", "0"],
                                  ["check", str(ROOT / "specs")], ["--help"]])
def test_cli_usage_errors(argv):
    code, _, err = run_cli(argv)
    assert_clean(code, err)
    assert code in (0, 2) if argv == ["--help"] else code in (1, 2)


def test_cli_in_subprocesses(tmp_path):
    """A few real processes: the exit codes and stderr a shell sees."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"inputs: {x: [N, 4]}\nlayers:\n  fc: linear(\xff)\nforward: |\n  x >> fc\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("let:\n  a: \"" + "-" * 5000 + "1\"\ninputs: {x: [N, 4]}\nforward: |\n  x\n")
    cases = [(["check", str(ZOO[0])], 0), (["check", str(bad)], 1), (["check", str(deep)], 1),
             (["check", str(ZOO[0]), "--max-repeat", "x"], 2), (["schema"], 0)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv, want in cases:
        proc = subprocess.run([sys.executable, "-m", "archdsl.cli", *argv], capture_output=True, text=True, env=env,
                              timeout=120)
        assert proc.returncode == want, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        TALLY[("cli subprocess", f"exit {proc.returncode}")] += 1
