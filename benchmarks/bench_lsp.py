"""Re-check latency of `archdsl lsp` after an edit, as an editor sees it: the time from sending `didChange`
to receiving the `publishDiagnostics` of that version, over stdio with a real LSP client (the tests' Editor,
tests/test_lsp.py: pygls's LanguageClient running `python -m archdsl.cli lsp`).

For densenet121 (specs/densenet.yaml, its default) and resnet152 (specs/resnet.yaml -D depth=152): the median
over 20 one-character edits of `num_classes` (each after a pause longer than the debounce, so each is checked at
once; every edit makes a new text, so none is a cache hit). Targets: <= 100 ms and <= 150 ms. The documents
are opened at the specs' own paths (their imports read from specs/blocks/); nothing is written.

In the same run, on the same texts, edit by edit in turn:
  - the server as editors run it, incremental (archdsl/incremental.py: unchanged block instances reuse their
    layer values and replay their forwards' traces; passes/carry.py: unchanged nodes keep their shapes and
    MACs), and a second server started with `initializationOptions: {"incremental": false}`, which checks
    every text in full; median and 90th percentile of each, and the ratio of the medians full / incremental;
  - in this process, without the protocol: `pipeline.read` + `pipeline.elaborate` in full and incremental
    (BlockCache and Carry), in CPU time of this thread (time.thread_time: what the machine's load adds to the
    wall time is left out), and the parts of it in `read` (YAML, expressions: their parses are cached by text
    and place in both) and in the passes (shapes, dtypes, costs);
  - in this process, `analysis.analyze` (the server's check, its cache of analyses included) with Python's
    garbage collector running as usual and with it paused during each check, as the server runs it (it
    collects in pauses of editing, archdsl/lsp/server.py): mean and 90th percentile of the CPU time.
The load average is printed before and after: the machine is shared.

    python benchmarks/bench_lsp.py
"""
from __future__ import annotations

import asyncio
import gc
import os
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
from archdsl.lsp import analysis  # noqa: E402
from archdsl.passes import cost, dtypes, shapes  # noqa: E402
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


def p90(times: list[float]) -> float:
    return sorted(times)[int(0.9 * (len(times) - 1))]


def in_process_times(path: Path, text: str) -> dict:
    """CPU time of `pipeline.read` + `pipeline.elaborate` of each edit's text, in full and incremental, and the
    part of it in the passes: name -> (totals, passes)."""
    limits, cache = resolve(None), BlockCache()
    spent = [0.0]

    def timed(module, name: str):
        run = getattr(module, name)

        def timing(*args, **kwargs):
            start = time.thread_time()
            try:
                return run(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - start
        return run, timing

    passes = [(module, name, *timed(module, name))
              for module, name in ((shapes, "infer_shapes"), (dtypes, "infer_dtypes"), (cost, "infer_costs"))]

    def check(t: str, blocks) -> tuple[float, float, float]:
        spent[0] = 0.0
        start = time.thread_time()
        doc = pipeline.read(str(path), limits, text=t)
        read = time.thread_time() - start
        pipeline.elaborate(doc, {}, limits, collect_errors=True, blocks=blocks,
                           carry=blocks.carry if blocks is not None else None)
        return time.thread_time() - start, spent[0], read

    out: dict = {"full": ([], [], []), "incremental": ([], [], [])}
    for module, name, _, timing in passes:
        setattr(module, name, timing)
    try:
        check(text, None), check(text, cache)  # warm
        for *_, new in edits(text):
            for name, blocks in (("full", None), ("incremental", cache)):
                for times, value in zip(out[name], check(new, blocks)):
                    times.append(value)
    finally:
        for module, name, run, _ in passes:
            setattr(module, name, run)
    return out


def collector_times(path: Path, text: str) -> dict:
    """CPU time of `analysis.analyze` of each edit's text with the garbage collector as usual, and paused during
    the check: name -> times; and "collection": that of the collection after the paused checks, as the server
    runs it in a pause. Each runs 3 rounds of the edits (the document's other texts cached, as in the server)."""
    out: dict = {}
    for name, paused in (("as usual", False), ("paused", True)):
        analysis._cache.clear()
        analysis._blocks.clear()
        gc.collect()
        analysis.analyze(text, str(path))
        times = []
        for round_ in range(3):
            for *_, new in edits(text):
                start = time.thread_time()
                if paused:
                    gc.disable()
                analysis.analyze(new + "\n" * round_, str(path))
                gc.enable()
                times.append(time.thread_time() - start)
        out[name] = times
    start = time.thread_time()
    gc.collect()
    out["collection"] = [time.thread_time() - start]
    return out


def main() -> int:
    failed = 0
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        editors = [Editor(Path(tmp) / "incremental.log", debounce_ms=DEBOUNCE_MS),
                   Editor(Path(tmp) / "full.log", debounce_ms=DEBOUNCE_MS, options={"incremental": False})]
        try:
            for name, stem, defines, target in CASES:
                text, path = spec_text(stem, defines), ROOT / "specs" / f"{stem}.yaml"
                inc, full = server_times(editors, path, text)
                ms = {k: statistics.median(v) * 1e3 for k, v in (("inc", inc), ("full", full))}
                ok = ms["inc"] <= target
                failed += not ok
                print(f"{name}: didChange -> publishDiagnostics, {EDITS} edits: incremental median {ms['inc']:.1f} ms "
                      f"(p90 {p90(inc) * 1e3:.1f}), in full {ms['full']:.1f} ms (p90 {p90(full) * 1e3:.1f}); "
                      f"full / incremental {ms['full'] / ms['inc']:.2f}; target <= {target} ms: "
                      f"{'met' if ok else 'NOT met'}")
                cpu = {k: [statistics.median(x) * 1e3 for x in v] for k, v in in_process_times(path, text).items()}
                print("  in process, CPU: read + elaborate " + ", ".join(
                    f"{cpu[k][0]:.1f} ms {k} (read {cpu[k][2]:.1f}, passes {cpu[k][1]:.1f}, the rest: making the "
                    f"layers and tracing the forwards {cpu[k][0] - cpu[k][1] - cpu[k][2]:.1f})"
                    for k in ("full", "incremental")) + f"; full / incremental {cpu['full'][0] / cpu['incremental'][0]:.2f}")
                gct = collector_times(path, text)
                collection = gct.pop("collection")[0]
                print("  in process, CPU of analyze(): " + "; ".join(
                    f"garbage collector {k}: mean {statistics.mean(v) * 1e3:.1f} ms, median "
                    f"{statistics.median(v) * 1e3:.1f}, p90 {p90(v) * 1e3:.1f}" for k, v in gct.items())
                    + f"; the collection after the paused checks {collection * 1e3:.1f} ms")
        finally:
            for ed in editors:
                ed.stop()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
