"""(d) torch.compile against eager on CPU: inference latency of the generated models, and the speedup.

    python benchmarks/bench_compile.py                         # resnet50 at batch 1 and 8, + seq2seq_attention
    python benchmarks/bench_compile.py --spec specs/vgg.yaml -D depth=11 --batch 4

Eager and compiled calls alternate, so drift and the load of other processes hit both alike; each figure is
the best over --rounds of the median of --reps calls (the round least disturbed by other processes). The
compile time is that of the first call. A spec with several models gets a row per model.
specs/seq2seq_attention.yaml is benchmarked too once it is in the zoo (with its symbolic dims at --batch,
and every other symbol at --length); until then the script says it is missing. By default torch.compile
breaks the graph at nn.LSTM/GRU/RNN modules (those run eagerly between two compiled graphs); --allow-rnn
sets torch._dynamo.config.allow_rnn so that they are compiled too.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from archdsl.backends.torch import export  # noqa: E402
from archdsl.cli.options import define  # noqa: E402

DEFAULT = [("resnet50", ROOT / "specs" / "resnet.yaml", {"depth": 50}),
           ("seq2seq_attention", ROOT / "specs" / "seq2seq_attention.yaml", {})]


def median_ms(fn, args, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def bench(label: str, path: Path, params: dict, batch: int, length: int, rounds: int, reps: int) -> list[dict]:
    spec = archdsl.load(path, **params)
    rows = []
    for model in spec.models:
        net = spec.build(model if spec.doc.multi_model else None).eval()
        values = {s: (batch if s == "N" else length) for s in export.symbols(spec, model)}
        args = export.example_inputs(spec, model, values)
        torch._dynamo.reset()
        compiled = torch.compile(net)
        with torch.inference_mode():
            t = time.perf_counter()
            out = compiled(*args)
            compile_s = time.perf_counter() - t
            ref = net(*args)
            diff = max(((a.float() - b.float()).abs().max().item() if b.is_floating_point() else
                        float((a != b).any()))
                       for a, b in zip(export._flat_outputs(out), export._flat_outputs(ref)))
            for _ in range(2):
                net(*args)
                compiled(*args)
            e_all, c_all = [], []
            for _ in range(rounds):
                e_all.append(median_ms(net, args, reps))
                c_all.append(median_ms(compiled, args, reps))
        # the best round of each: the least disturbed by other processes on a shared machine
        eager, comp = min(e_all), min(c_all)
        name = label if not spec.doc.multi_model else f"{label}.{model}"
        rows.append({"model": name, "batch": batch, "eager_ms": eager, "compiled_ms": comp,
                     "speedup": eager / comp, "compile_s": compile_s, "max_abs_diff": diff,
                     "eager_median_ms": statistics.median(e_all), "compiled_median_ms": statistics.median(c_all)})
    return rows


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", help="benchmark this spec instead of the default set")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--batch", type=int, action="append", help="batch sizes (default 1 and 8)")
    p.add_argument("--length", type=int, default=16, help="value of symbolic dims other than N (sequence length)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--allow-rnn", action="store_true",
                   help="torch._dynamo.config.allow_rnn = True: trace through nn.LSTM/GRU/RNN instead of a graph break")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch._dynamo.config.allow_rnn = args.allow_rnn
    targets = [(Path(args.spec).stem, Path(args.spec), dict(define(d) for d in args.defines))] if args.spec \
        else DEFAULT
    rows = []
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, "
          f"allow_rnn={torch._dynamo.config.allow_rnn}\n")
    print("| model | batch | eager ms | compiled ms | speedup | compile s | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for label, path, params in targets:
        if not path.exists():
            print(f"| {label} | - | - | - | - | - | not in the zoo yet ({path.relative_to(ROOT)}) |", flush=True)
            continue
        for batch in args.batch or [1, 8]:
            for r in bench(label, path, params, batch, args.length, args.rounds, args.reps):
                rows.append(r)
                print(f"| {r['model']} | {batch} | {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | {r['speedup']:.2f}x | "
                      f"{r['compile_s']:.1f} | {r['max_abs_diff']:.1e} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
