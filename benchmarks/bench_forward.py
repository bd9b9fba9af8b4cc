"""(b) Forward latency of the compiled resnet50 against a hand-written eager module, CPU, batch 1 and 8.

Calls alternate between the two models so drift hits both alike, on one intra-op thread (with two threads
on this 2-core machine the ratio swings by +-10% from run to run). Printed: the ratio of medians and the
ratio of best times (the least disturbed runs; on a shared machine the steadier of the two). Target <= 1.02.
"""
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from benchmarks.handwritten_resnet import resnet  # noqa: E402
from benchmarks.timing import compare  # noqa: E402


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
        c = compare(generated, hand, (x,), reps)
        rows.append((batch, c))
        print(c.line(f"resnet50 batch {batch}, generated vs hand-written") + " (target <= 1.02)")
    return rows


if __name__ == "__main__":
    main()
