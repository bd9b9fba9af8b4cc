"""(d) `archdsl check specs/googlenet.yaml` as a whole process against `python -c "import torch"`:
wall time and peak memory, each as a ratio (target <= 0.5). The static path must not import torch."""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss


def measure(cmd: list[str], reps: int) -> tuple[float, int]:
    runs = [run(cmd) for _ in range(reps)]
    return statistics.median(w for w, _ in runs), max(m for _, m in runs)


def main(reps: int = 5) -> tuple[float, float]:
    check = [sys.executable, "-m", "archdsl.cli", "check", "specs/googlenet.yaml"]
    baseline = [sys.executable, "-c", "import torch"]
    probe = [sys.executable, "-c", "import sys, archdsl.cli as c; c.main(['check', 'specs/googlenet.yaml']); "
                                   "assert 'torch' not in sys.modules, 'the static path imported torch'"]
    run(probe)
    run(baseline), run(check)  # warm the file cache
    b_wall, b_mem = measure(baseline, reps)
    c_wall, c_mem = measure(check, reps)
    print(f"(d) archdsl check specs/googlenet.yaml: {c_wall * 1e3:.0f} ms, {c_mem / 1024:.0f} MiB peak; "
          f"import torch: {b_wall * 1e3:.0f} ms, {b_mem / 1024:.0f} MiB peak; "
          f"ratios: time {c_wall / b_wall:.2f}, memory {c_mem / b_mem:.2f} (targets <= 0.5); torch not imported")
    return c_wall / b_wall, c_mem / b_mem


if __name__ == "__main__":
    main()
