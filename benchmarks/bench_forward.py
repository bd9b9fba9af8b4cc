"""(b) Forward latency of the compiled resnet50 against a hand-written eager module, CPU, batch 1 and 8.

Runs alternate between the two models so drift hits both alike; the ratio of medians is printed.
Target: ratio <= 1.02.
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


def median_ms(fn, x, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(rounds: int = 7, reps: int = 5) -> list[tuple]:
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
            for _ in range(rounds):
                g_all.append(median_ms(generated, x, reps))
                h_all.append(median_ms(hand, x, reps))
        g, h = statistics.median(g_all), statistics.median(h_all)
        rows.append((batch, g, h, g / h))
        print(f"resnet50 batch {batch}: generated {g:.1f} ms, hand-written {h:.1f} ms, ratio {g / h:.3f} (target <= 1.02)")
    return rows


if __name__ == "__main__":
    main()
