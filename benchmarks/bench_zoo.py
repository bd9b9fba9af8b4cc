"""(f) Forward latency of zoo models built by archdsl against torchvision's own modules, CPU, batch 1 and 8.

torchvision is not a dependency of archdsl; run this in an environment that has it, e.g. a separate venv:
    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 && \\
        /tmp/tv/bin/pip install -e . && /tmp/tv/bin/python benchmarks/bench_zoo.py
Both models get the same weights (torchvision's module loads the archdsl model's state_dict strictly, which
also checks the keys) and the outputs are compared before timing. One intra-op thread, calls alternating
(benchmarks/timing.py). Target: ratio <= 1.02 for each model and batch.
    python benchmarks/bench_zoo.py --models mobilenet_v3_large vit_b_16 --device cuda
"""
import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from archdsl import zoo  # noqa: E402
from benchmarks.timing import compare  # noqa: E402

# issue 14's five, and mobilenet_v2: the relu6 model of issue 13 (torchvision writes it with nn.ReLU6)
MODELS = ["mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t"]


def main(argv=None) -> list[tuple]:
    import torchvision

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=MODELS)
    p.add_argument("--batches", nargs="*", type=int, default=[1, 8])
    p.add_argument("--device", default="cpu")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per model and batch")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.device}", flush=True)
    rows = []
    for name in args.models:
        if name not in zoo.names():
            print(f"{name}: not in the zoo yet")
            continue
        ours = zoo.load(name).build(device=device).eval()
        theirs = getattr(torchvision.models, name)().to(device).eval()
        theirs.load_state_dict(ours.state_dict())
        for batch in args.batches:
            x = torch.randn(batch, 3, 224, 224, device=device)
            with torch.inference_mode():
                a, b = ours(x), theirs(x)
                assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item()), name
            sync = torch.cuda.synchronize if device.type == "cuda" else None
            c = compare(ours, theirs, (x,), budget_s=args.budget, sync=sync)
            rows.append((name, batch, c))
            print(c.line(f"{name} batch {batch}, archdsl vs torchvision") + " (target <= 1.02)", flush=True)
    return rows


if __name__ == "__main__":
    main()
