"""Run the long fuzz profile and print its tallies as the Markdown table of docs/robustness.md.

    python tools/fuzz_report.py              # runs ARCHDSL_FUZZ=long (20,000 drawn cases)
    python tools/fuzz_report.py fuzz.json    # only formats the tallies of an earlier run
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_fuzz_expr.py", "tests/test_fuzz_mutations.py", "tests/test_fuzz_cli.py", "tests/test_lsp_fuzz.py",
         "tests/test_security.py::test_fuzzed_names_and_strings", "tests/test_soundness.py"]


def run() -> tuple[dict, float, str]:
    report = Path(tempfile.mkdtemp()) / "fuzz.json"
    env = {**os.environ, "ARCHDSL_FUZZ": "long", "ARCHDSL_FUZZ_REPORT": str(report)}
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    return json.loads(report.read_text()), time.time() - start, tail


def table(tallies: dict) -> str:
    codes = sorted({c for outcomes in tallies.values() for c in outcomes})
    rows = ["| fuzzer | cases | " + " | ".join(codes) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in codes) + " |"]
    total = {c: 0 for c in codes}
    for name in sorted(tallies):
        outcomes = tallies[name]
        rows.append(f"| {name} | {sum(outcomes.values()):,} | "
                    + " | ".join(f"{outcomes.get(c, 0):,}" for c in codes) + " |")
        for c in codes:
            total[c] += outcomes.get(c, 0)
    rows.append(f"| **all** | **{sum(total.values()):,}** | " + " | ".join(f"{total[c]:,}" for c in codes) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(table(json.loads(Path(sys.argv[1]).read_text())))
    else:
        tallies, seconds, tail = run()
        print(table(tallies))
        print(f"\npytest: {tail} ({seconds / 60:.1f} min)")
