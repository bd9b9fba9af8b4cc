"""Every zoo spec on CUDA: forward + backward in bf16 (autocast), eager and under torch.compile; a markdown table.

    python benchmarks/gpu_check.py                  # all specs/*.yaml, batch 8; ~2-4 min on one H100
    python benchmarks/gpu_check.py --specs resnet lenet5 --batch 32 --no-compile
    python benchmarks/gpu_check.py --device cpu --specs lenet5 mlp      # a dry run of the script without CUDA

Without CUDA it prints a message and exits 0. Each spec (each model of a multi-model spec that no other model
uses: a GAN's `gan`, which runs its generator and discriminator) is built on the device (channels_last when it has 2d
convolutions), gets random inputs (symbolic dims: N = --batch, others = --length), and runs a training step's
forward and backward under torch.autocast(bfloat16); a loss of the mean of every output. Times are medians of
--iters steps after warm-up (CUDA-synchronised). `diff` is the largest |compiled - eager| of the outputs,
relative to the largest |eager| output (bf16 rounding differs between kernels: a few 1e-3 is expected).
No spec after the first is compiled once --budget seconds have passed, so the script ends in time.
Record the table in docs/gpu.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from archdsl.backends.torch import export  # noqa: E402

# Smaller variants where the default would make the table slow without saying more; "spec" -> params.
PARAMS: dict[str, dict] = {}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_fn(net, args, device):
    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = net(*args)
            outs = export._flat_outputs(out)
            loss = sum(o.float().mean() for o in outs if o.is_floating_point())
        if torch.is_tensor(loss) and loss.requires_grad:   # a greedy decoder's token ids have no gradient
            loss.backward()
        return outs
    return step


def timed(step, device, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def check(path: Path, device, batch: int, length: int, iters: int, compile_too: bool) -> list[dict]:
    params = PARAMS.get(path.stem, {})
    spec = archdsl.load(path, **params)
    rows = []
    for model in export.top_models(spec):   # a model used by another (a GAN's generator) runs inside it
        row = {"spec": path.stem + ("" if not spec.doc.multi_model else f".{model}"), "params": 0}
        try:
            skeleton = spec.build(model if spec.doc.multi_model else None, device="meta")
            channels_last = export.prefers_channels_last(skeleton, device)
            torch.manual_seed(0)
            net = spec.build(model if spec.doc.multi_model else None, device=device,
                             channels_last=channels_last).train()
            row["params"] = sum(p.numel() for p in net.parameters())
            dims = {s: (batch if s == "N" else length) for s in export.symbols(spec, model)}
            args = export.example_inputs(spec, model, dims, device=device)
            if channels_last:
                args = tuple(a.contiguous(memory_format=torch.channels_last) if a.dim() == 4 else a for a in args)
            row["layout"] = "NHWC" if channels_last else "-"
            step = step_fn(net, args, device)
            row["eager_ms"] = timed(step, device, iters)
            if compile_too:
                torch._dynamo.reset()
                compiled = torch.compile(net)
                cstep = step_fn(compiled, args, device)
                t = time.perf_counter()
                cstep()
                sync(device)
                row["compile_s"] = time.perf_counter() - t
                row["compiled_ms"] = timed(cstep, device, iters)
                net.eval()   # compare outputs without dropout
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
                    want = export._flat_outputs(net(*args))
                    got = export._flat_outputs(compiled(*args))
                scale = max(w.float().abs().max().item() for w in want) or 1.0
                row["diff"] = max((g.float() - w.float()).abs().max().item() for g, w in zip(got, want)) / scale
            row["status"] = "ok"
        except Exception as exc:   # noqa: BLE001  (one failing spec must not hide the others)
            row["status"] = f"FAIL: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            traceback.print_exc(file=sys.stderr)
        finally:
            torch._dynamo.reset()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def fmt(row: dict, key: str, spec: str) -> str:
    return format(row[key], spec) if key in row else "-"


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", nargs="*", help="spec names (default: every specs/*.yaml)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=16, help="value of symbolic dims other than N")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--budget", type=float, default=240.0, help="seconds after which no more specs are compiled")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available on this machine; skipped (run it on a CUDA machine, "
              "or try the script with --device cpu)")
        return []
    paths = [ROOT / "specs" / f"{s}.yaml" for s in args.specs] if args.specs else \
        sorted((ROOT / "specs").glob("*.yaml"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, batch {args.batch}, bf16 autocast, forward + backward\n", flush=True)
    start = time.perf_counter()
    rows = []
    header = ("| spec | params | layout | eager ms | compiled ms | speedup | compile s | diff | status |\n"
              "|---|---:|---|---:|---:|---:|---:|---:|---|")
    print(header, flush=True)
    for path in paths:
        compile_too = not args.no_compile and (not rows or time.perf_counter() - start < args.budget)
        for r in check(path, device, args.batch, args.length, args.iters, compile_too):
            if not compile_too and not args.no_compile and r["status"] == "ok":
                r["status"] = "ok (not compiled: over --budget)"
            speed = f"{r['eager_ms'] / r['compiled_ms']:.2f}x" if "compiled_ms" in r else "-"
            print(f"| {r['spec']} | {r['params']:,} | {r.get('layout', '-')} | {fmt(r, 'eager_ms', '.2f')} | "
                  f"{fmt(r, 'compiled_ms', '.2f')} | {speed} | {fmt(r, 'compile_s', '.1f')} | "
                  f"{fmt(r, 'diff', '.1e')} | {r['status']} |", flush=True)
            rows.append(r)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
