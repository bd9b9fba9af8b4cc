"""(b) Forward latency of the compiled resnet50 against a hand-written eager module, CPU, batch 1 and 8.

Calls alternate between the two models so drift hits both alike, on one intra-op thread (with two threads
on this 2-core machine the ratio swings by +-10% from run to run). Printed: the ratio of medians and the
ratio of best times (the least disturbed runs; on a shared machine the steadier of the two). Target <= 1.02.
"""
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from benchmarks.handwritten_resnet import resnet  # noqa: E402


def timed_ms(fn, x) -> float:
    t = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t) * 1e3


def main(reps: int = 25) -> list[tuple]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    generated = archdsl.load(ROOT / "specs" / "resnet.yaml", depth=50).build().eval()
    hand = resnet(50).eval()
    hand.load_state_dict(generated.state_dict())  # same weights, same layout
    rows = []
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            assert torch.allclose(generated(x), hand(x), atol=1e-4)
            for m in (generated, hand):
                for _ in range(3):
                    m(x)
            g_all, h_all = [], []
            for _ in range(reps):
                g_all.append(timed_ms(generated, x))
                h_all.append(timed_ms(hand, x))
        g, h = statistics.median(g_all), statistics.median(h_all)
        best = min(g_all) / min(h_all)
        rows.append((batch, g, h, g / h, best))
        print(f"resnet50 batch {batch}: generated {g:.1f} ms, hand-written {h:.1f} ms (medians), "
              f"ratio {g / h:.3f}; best times {min(g_all):.1f} / {min(h_all):.1f} ms, ratio {best:.3f} (target <= 1.02)")
    return rows


if __name__ == "__main__":
    main()
