"""Re-check latency of `archdsl lsp` after an edit, as an editor sees it: the time from sending `didChange`
to receiving the `publishDiagnostics` of that version, over stdio with a real LSP client (the tests' Editor,
tests/test_lsp.py: pygls's LanguageClient running `python -m archdsl.cli lsp`).

For densenet121 (specs/densenet.yaml, its default) and resnet152 (specs/resnet.yaml -D depth=152): the median
over 20 one-character edits of `num_classes` (each after a pause longer than the debounce, so each is checked at
once; every edit makes a new text, so none is a cache hit). Targets: <= 100 ms and <= 150 ms. The baseline,
measured in the same run on the same texts: `pipeline.read` + `pipeline.elaborate` in this process (what the
server does per check, without the protocol, the diagnostics and the index); the ratio is the server's
overhead over a plain elaboration.

    python benchmarks/bench_lsp.py
"""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from archdsl import pipeline  # noqa: E402
from archdsl.limits import resolve  # noqa: E402
from tests.test_lsp import Editor  # noqa: E402

EDITS = 20
DEBOUNCE_MS = 200  # the server's default (archdsl/lsp/server.py DEBOUNCE_S)
PAUSE_S = 0.25
CASES = [("densenet121", "densenet", {}, 100), ("resnet152", "resnet", {"depth: 50 ": "depth: 152 "}, 150)]


def spec_text(stem: str, defines: dict) -> str:
    text = (ROOT / "specs" / f"{stem}.yaml").read_text()
    for old, new in defines.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def edits(text: str):
    """(line, col, char, new text) for EDITS one-character edits of `num_classes: 1000`, each text new."""
    lines = text.split("\n")
    line = next(k for k, l in enumerate(lines) if l.strip().startswith("num_classes: 1000"))
    last = lines[line].index("1000") + 3
    for k in range(EDITS):
        col, char = last - k // 9, str(k % 9 + 1)
        lines[line] = lines[line][:col] + char + lines[line][col + 1:]
        yield line, col, char, "\n".join(lines)


def server_times(editor: Editor, path: Path, text: str) -> list[float]:
    uri = editor.open(path, text)
    assert editor.diagnostics(uri) == [], "the spec should check clean"
    times = []
    for line, col, char, _ in edits(text):
        editor.run(asyncio.sleep(PAUSE_S))  # a pause in typing, longer than the debounce
        start = time.perf_counter()
        version = editor.edit(uri, line, col, 1, char)
        assert editor.diagnostics(uri, version) == []
        times.append(time.perf_counter() - start)
    return times


def baseline_times(path: Path, text: str) -> list[float]:
    limits = resolve(None)
    pipeline.elaborate(pipeline.read(str(path), limits, text=text), {}, limits, collect_errors=True)  # warm
    times = []
    for *_, new in edits(text):
        start = time.perf_counter()
        pipeline.elaborate(pipeline.read(str(path), limits, text=new), {}, limits, collect_errors=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        editor = Editor(Path(tmp) / "server.log", debounce_ms=DEBOUNCE_MS)
        try:
            for name, stem, defines, target in CASES:
                text = spec_text(stem, defines)
                path = Path(tmp) / f"{name}.yaml"
                lsp = server_times(editor, path, text)
                base = baseline_times(path, text)
                m, b = statistics.median(lsp) * 1e3, statistics.median(base) * 1e3
                ok = m <= target
                failed += not ok
                print(f"{name}: didChange -> publishDiagnostics median {m:.1f} ms (max {max(lsp) * 1e3:.1f} ms, "
                      f"{EDITS} edits; target <= {target} ms: {'met' if ok else 'NOT met'}); baseline "
                      f"pipeline.read + elaborate of the same texts {b:.1f} ms; ratio {m / b:.2f}")
        finally:
            editor.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
