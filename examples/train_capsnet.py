"""Train CapsNet (specs/capsnet.yaml; Sabour, Frosst, Hinton 2017) on scikit-learn's handwritten digits.

The 8x8 digits are resized to 28x28, like MNIST. The loss is the paper's: the margin loss on the lengths of
the digit capsules (m+ = 0.9, m- = 0.1, lambda = 0.5) plus 0.0005 times the sum of squared reconstruction
errors, the decoder seeing only the digit capsule of the true class; at test time, that of the predicted
class. Training shifts the images by up to 2 pixels, as the paper did. The constants are the spec's params.

    python examples/train_capsnet.py                  # the full model, 8.2M parameters
    python examples/train_capsnet.py --epochs 1 --limit 64 -D conv_channels=16 -D primary_caps=4   # a quick look

Writes to --out (default out/capsnet): reconstructions.png (test digits, top; their reconstructions, below),
metrics.json. Needs the `examples` extra: pip install -e .[examples]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "capsnet.yaml"


def load_digits_28(seed: int, test_size: float = 0.25):
    """scikit-learn's 1797 digits as [N, 1, 28, 28] floats in [0, 1], split into train and test sets."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(digits.target, dtype=torch.long)
    train, test = train_test_split(range(len(y)), test_size=test_size, random_state=seed, stratify=digits.target)
    return (x[train], y[train]), (x[test], y[test])


def shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to `max_shift` pixels in each direction, filling with zeros."""
    if max_shift == 0:
        return x
    padded = F.pad(x, (max_shift,) * 4)
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=gen)
    h, w = x.shape[-2:]
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


def capsnet_loss(lengths, recon, images, onehot, p: dict):
    """Margin loss (eq. 4 of the paper) plus the scaled reconstruction loss, averaged over the batch."""
    present = onehot * F.relu(p["m_plus"] - lengths) ** 2
    absent = p["down_weight"] * (1 - onehot) * F.relu(lengths - p["m_minus"]) ** 2
    margin = (present + absent).sum(1).mean()
    if recon is None:
        return margin, margin.new_zeros(())
    sse = ((recon - images.flatten(1)) ** 2).sum(1).mean()
    return margin + p["recon_weight"] * sse, sse


def evaluate(model, x, y, batch_size: int, decoder: bool, classes: int = 10):
    """Accuracy, and the reconstructions from the predicted class's capsule."""
    model.eval()
    correct, recons = 0, []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            # the class scores do not depend on the mask: a first pass predicts, a second reconstructs from it
            lengths = _lengths(model(xb, torch.zeros(len(xb), classes)), decoder)
            pred = lengths.argmax(1)
            correct += (pred == y[i:i + batch_size]).sum().item()
            if decoder:
                recons.append(model(xb, F.one_hot(pred, classes).float())[1])
    model.train()
    return correct / len(x), (torch.cat(recons) if recons else None)


def _lengths(out, decoder: bool):
    return out[0] if decoder else out


def save_reconstructions(images, recons, path: Path, n: int = 16) -> None:
    """A PNG: n test digits in the top row, their reconstructions below, scaled up 3x."""
    from PIL import Image

    n = min(n, len(images))
    top = images[:n, 0]
    bottom = recons[:n].reshape(n, 28, 28)
    grid = torch.cat([torch.cat(list(top), 1), torch.cat(list(bottom), 1)], 0)
    img = Image.fromarray((grid.clamp(0, 1) * 255).to(torch.uint8).numpy(), mode="L")
    img.resize((img.width * 3, img.height * 3), Image.NEAREST).save(path)


def _param(item: str):
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-decay", type=float, default=0.9, help="learning rate factor per epoch")
    ap.add_argument("--max-shift", type=int, default=2, help="random shifts in training, in pixels")
    ap.add_argument("--limit", type=int, default=None, help="use only this many training and test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "capsnet")
    ap.add_argument("-D", dest="params", action="append", default=[], metavar="NAME=VALUE",
                    help="override a spec parameter, e.g. -D conv_channels=64")
    ap.add_argument("--quiet", action="store_true", help="only the per-epoch lines")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    sys.path.insert(0, str(ROOT))
    import archdsl

    args = parse_args(argv)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    overrides = dict(_param(item) for item in args.params)
    spec = archdsl.load(SPEC, **overrides)
    p = {k: overrides.get(k, default) for k, (default, _) in spec.doc.params.items()}
    decoder, classes = p["decoder"], p["num_classes"]
    model = spec.build()
    n_params = sum(t.numel() for t in model.parameters())
    (x_train, y_train), (x_test, y_test) = load_digits_28(args.seed)
    if args.limit:
        x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], \
            y_test[:args.limit]
    print(f"capsnet: {n_params:,} parameters; {len(x_train)} training and {len(x_test)} test digits; "
          f"{args.epochs} epochs on {torch.get_num_threads()} CPU threads", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, args.lr_decay)
    history, start = [], time.time()
    steps = (len(x_train) + args.batch_size - 1) // args.batch_size
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x_train), generator=gen)
        total, seen, correct = 0.0, 0, 0
        for step in range(steps):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            xb, yb = shift(x_train[idx], args.max_shift, gen), y_train[idx]
            onehot = F.one_hot(yb, classes).float()
            out = model(xb, onehot)
            lengths, recon = (out[0], out[1]) if decoder else (out, None)
            loss, _ = capsnet_loss(lengths, recon, xb, onehot, p)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            correct += (lengths.argmax(1) == yb).sum().item()
            if not args.quiet and (step + 1) % 10 == 0:
                print(f"  epoch {epoch} step {step + 1}/{steps}: loss {total / seen:.4f}, "
                      f"train accuracy {correct / seen:.3f} ({time.time() - start:.0f}s)", flush=True)
        sched.step()
        acc, recons = evaluate(model, x_test, y_test, 100, decoder, classes)
        history.append({"epoch": epoch, "loss": total / seen, "train_accuracy": correct / seen, "test_accuracy": acc,
                        "seconds": round(time.time() - start, 1)})
        print(f"epoch {epoch}: loss {total / seen:.4f}, train accuracy {correct / seen:.3f}, "
              f"test accuracy {acc:.4f} ({time.time() - start:.0f}s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if decoder:
        save_reconstructions(x_test, recons, args.out / "reconstructions.png")
    metrics = {"params": n_params, "train_size": len(x_train), "test_size": len(x_test),
               "test_accuracy": history[-1]["test_accuracy"] if history else None,
               "seconds": round(time.time() - start, 1), "threads": torch.get_num_threads(), "history": history}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['seconds']:.0f}s; wrote {args.out}")
    return metrics


if __name__ == "__main__":
    main()
