"""(a) check() of resnet152 against building an equivalent module on the meta device plus a meta forward
(target ratio <= 0.1); (c) check() time of synthetic chains of 1,000 and 10,000 layers (near-linear growth,
10,000 layers in under 2 s)."""
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402


def best_of(fn, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def check_vs_meta() -> float:
    import torch

    from benchmarks.handwritten_resnet import resnet

    def static():
        archdsl.load(ROOT / "specs" / "resnet.yaml", depth=152).check()

    def meta():
        with torch.device("meta"):
            model = resnet(152)
            model(torch.empty(1, 3, 224, 224))

    static(), meta()  # warm caches and lazy imports for both
    s, m = best_of(static), best_of(meta)
    print(f"(a) resnet152: check() {s * 1e3:.1f} ms, meta build + meta forward {m * 1e3:.1f} ms, "
          f"ratio {s / m:.3f} (target <= 0.1)")
    return s / m


def chain_spec(n: int) -> str:
    layers = "\n".join(f"  l{i}: linear({16 + i % 7})" for i in range(n))
    chain = " >> ".join(f"l{i}" for i in range(n))
    return f"inputs:\n  x: [N, 16]\nlayers:\n{layers}\nforward: |\n  x >> {chain}\n"


def chain_times() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000, 10000):
            path = Path(tmp) / f"chain{n}.yaml"
            path.write_text(chain_spec(n))
            out[n] = best_of(lambda: archdsl.load(str(path)).check(), reps=3)
    growth = out[10000] / out[1000]
    print(f"(c) chain of 1,000 layers: {out[1000]:.3f} s; 10,000 layers: {out[10000]:.3f} s "
          f"(growth x{growth:.1f} for x10 layers; target: near 10, 10,000 layers under 2 s)")
    return out


if __name__ == "__main__":
    check_vs_meta()
    chain_times()
