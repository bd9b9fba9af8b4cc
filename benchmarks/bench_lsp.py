"""Re-check latency of `archdsl lsp` after an edit, as an editor sees it: the time from sending `didChange`
to receiving the `publishDiagnostics` of that version, over stdio with a real LSP client (the tests' Editor,
tests/test_lsp.py: pygls's LanguageClient running `python -m archdsl.cli lsp`).

For densenet121 (specs/densenet.yaml, its default) and resnet152 (specs/resnet.yaml -D depth=152): the median
over 20 one-character edits of `num_classes` (each after a pause longer than the debounce, so each is checked at
once; every edit makes a new text, so none is a cache hit). Targets: <= 100 ms and <= 150 ms.

In the same run, on the same texts, edit by edit in turn:
  - the server as editors run it, incremental (archdsl/incremental.py: unchanged block instances reuse their
    layer values), and a second server started with `initializationOptions: {"incremental": false}`, which
    checks every text in full; the ratio full / incremental is what the block cache saves an editor;
  - in this process, without the protocol, the diagnostics and the index: `pipeline.read` +
    `pipeline.elaborate` in full, and with a BlockCache; their ratio is the cache's gain on elaboration alone.

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
from archdsl.incremental import BlockCache  # noqa: E402
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


def server_times(editors: list, path: Path, text: str) -> list[list[float]]:
    """For each editor, the didChange -> publishDiagnostics time of each edit; the editors take turns."""
    uris = [ed.open(path, text) for ed in editors]
    assert all(ed.diagnostics(uri) == [] for ed, uri in zip(editors, uris)), "the spec should check clean"
    times: list[list[float]] = [[] for _ in editors]
    for line, col, char, _ in edits(text):
        for ed, uri, out in zip(editors, uris, times):
            ed.run(asyncio.sleep(PAUSE_S))  # a pause in typing, longer than the debounce
            start = time.perf_counter()
            version = ed.edit(uri, line, col, 1, char)
            assert ed.diagnostics(uri, version) == []
            out.append(time.perf_counter() - start)
    return times


def in_process_times(path: Path, text: str) -> tuple[list[float], list[float]]:
    """`pipeline.read` + `pipeline.elaborate` of each edit's text: in full, and with a BlockCache."""
    limits, cache = resolve(None), BlockCache()

    def check(t: str, blocks) -> float:
        start = time.perf_counter()
        pipeline.elaborate(pipeline.read(str(path), limits, text=t), {}, limits, collect_errors=True, blocks=blocks)
        return time.perf_counter() - start

    check(text, None), check(text, cache)  # warm
    full, incremental = [], []
    for *_, new in edits(text):
        full.append(check(new, None))
        incremental.append(check(new, cache))
    return full, incremental


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        editors = [Editor(Path(tmp) / "incremental.log", debounce_ms=DEBOUNCE_MS),
                   Editor(Path(tmp) / "full.log", debounce_ms=DEBOUNCE_MS, options={"incremental": False})]
        try:
            for name, stem, defines, target in CASES:
                text = spec_text(stem, defines)
                inc, full = (statistics.median(t) * 1e3 for t in server_times(editors, Path(tmp) / f"{name}.yaml",
                                                                              text))
                base, cached = (statistics.median(t) * 1e3 for t in in_process_times(Path(tmp) / f"{name}.yaml",
                                                                                     text))
                ok = inc <= target
                failed += not ok
                print(f"{name}: didChange -> publishDiagnostics median {inc:.1f} ms incremental, {full:.1f} ms in full "
                      f"(full / incremental {full / inc:.2f}; {EDITS} edits; target <= {target} ms: "
                      f"{'met' if ok else 'NOT met'}); in process, read + elaborate {base:.1f} ms in full, "
                      f"{cached:.1f} ms with the block cache (ratio {base / cached:.2f})")
        finally:
            for ed in editors:
                ed.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
