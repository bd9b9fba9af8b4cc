"""(g) Forward latency of the generated gpt2 (attention through scaled_dot_product_attention) against the
same model hand-written with torch's modules and F.scaled_dot_product_attention (handwritten_gpt2.py), CPU.

A scaled-down GPT-2 (specs/gpt2.yaml with -D overrides below, dropout 0): the hand-written model loads the
generated one's state_dict strictly and the logits are compared before timing. One intra-op thread, calls
alternating (benchmarks/timing.py). Target: ratio <= 1.02 at batch 1 and 8.
"""
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from benchmarks.handwritten_gpt2 import GPT2  # noqa: E402
from benchmarks.timing import compare  # noqa: E402

CONFIG = dict(vocab=8192, n_ctx=256, d=512, n_layer=4, n_head=8)


def main(length: int = 128, budget_s: float = 20.0) -> list[tuple]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    generated = archdsl.load(ROOT / "specs" / "gpt2.yaml", dropout_p=0.0, **CONFIG).build().eval()
    hand = GPT2(CONFIG["vocab"], CONFIG["n_ctx"], CONFIG["d"], CONFIG["n_layer"], CONFIG["n_head"]).eval()
    hand.load_state_dict(generated.state_dict())
    rows = []
    for batch in (1, 8):
        tokens = torch.randint(0, CONFIG["vocab"], (batch, length))
        with torch.inference_mode():
            assert torch.allclose(generated(tokens), hand(tokens), atol=1e-4)
        c = compare(generated, hand, (tokens,), budget_s=budget_s)
        rows.append((batch, c))
        print(c.line(f"gpt2 (4 x 512, T={length}) batch {batch}, generated vs hand-written") + " (target <= 1.02)")
    return rows


if __name__ == "__main__":
    main()
