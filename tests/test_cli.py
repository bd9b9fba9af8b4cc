"""The command line: exit codes 0/1/2, diagnostics on stderr, never a traceback."""
import subprocess
import sys

import pytest

from archdsl.cli import main
from archdsl.cli.commands import COMMANDS
from tests.counts import LENET5, linear
from tests.helpers import spec_path
from tests.reference import zoo

GOOD = spec_path("lenet5")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_ok(capsys):
    code, out, err = run(capsys, "check", GOOD)
    # 10 classes: the spec's num_classes; 61,706: LeNet-5's layers written out in tests/counts.py
    assert code == 0 and "ok: output [N, 10]" in out and f"{LENET5:,} parameters" in out


def test_compile_to_file(capsys, tmp_path):
    target = tmp_path / "sub" / "model.py"
    code, _, err = run(capsys, "compile", GOOD, "-o", str(target))
    assert code == 0 and "wrote" in err
    assert target.read_text().startswith('"""PyTorch model')


def test_defines_override_params(capsys):
    code, out, _ = run(capsys, "check", spec_path("resnet"), "-D", "depth=18", "-D", "num_classes=10", "-D", "N=4")
    # torchvision's resnet18 count (tests/data/reference/torchvision_zoo.json) with its 512 -> 1000 fc
    # replaced by a 512 -> 10 one
    want = zoo()["resnet18"]["num_params"] - linear(512, 1000) + linear(512, 10)
    assert want == 11_181_642
    assert code == 0 and "output [4, 10]" in out and f"{want:,} parameters" in out


def test_summary_json(capsys):
    import json

    code, out, _ = run(capsys, "summary", GOOD, "--format", "json", "-D", "N=1")
    data = json.loads(out)
    # C1: 6 maps of 32 - 5 + 1 = 28 (LeCun et al. 1998, Section II.B)
    assert code == 0 and data["params"] == LENET5 and data["rows"][0]["shape"] == [1, 6, 28, 28]


@pytest.mark.parametrize("argv, words", [
    (["check", "missing.yaml"], "error[E001]"),
    (["check", GOOD, "-D", "nonsense"], "error[E010]"),
    (["check", GOOD, "-D", "width=3"], "is not a parameter"),
])
def test_spec_errors_exit_1(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 1 and words in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2


def test_real_process_reports_located_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: {x: [N, 4]}\nlayers:\n  fc: linear(0)\nforward: |\n  fc(x)\n")
    res = subprocess.run([sys.executable, "-m", "archdsl.cli", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    # line 3, column 14: the `0` of `linear(0)` in the spec above
    assert f"{bad}:3:14: error[E007]" in res.stderr and "^" in res.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_prints_its_help(capsys, command):
    """`--help` exits 0 with the usage (a help text with a bare `%` made argparse raise)."""
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0 and f"usage: archdsl {command}" in capsys.readouterr().out
