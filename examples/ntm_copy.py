"""Train the Neural Turing Machine (specs/ntm.yaml; Graves, Wayne, Danihelka 2014) on the copy task.

Each example is a sequence of L random 8-bit vectors (L from 1 to 10), then one step with the delimiter channel
(the 9th input) on, then L blank steps in which the model must reproduce the sequence. The loss is the binary
cross-entropy of the outputs during the blank phase only. Training uses Adam with gradient-norm clipping, each
batch of one length drawn from 1 to 10 (an optional curriculum, --curriculum, starts with shorter ones). It stops
when the mean bit error per sequence on a held-out set (lengths 1 to 10, --eval-per-length sequences of each)
falls below --target bits, or after --steps steps or --time-limit seconds.

    python examples/ntm_copy.py                  # the spec's defaults: memory 128 x 20, an LSTM of 100 units
    python examples/ntm_copy.py -D memory_n=32   # a smaller memory (enough for lengths up to 10)
    python examples/ntm_copy.py --quick          # a few seconds: a small model, a few dozen steps

The read and write weightings over time of one held-out sequence (length 10) are taken with forward hooks on the
heads inside the generated module (`model.step.read_head`, `model.step.write_head`) and written to --out (default
out/ntm_copy): weightings.png (write and read weightings: memory location against time), copy.png (input, target,
output), metrics.json.
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
SPEC = ROOT / "specs" / "ntm.yaml"
BITS = 8


def copy_batch(batch: int, length: int, gen: torch.Generator):
    """Inputs [batch, 2 L + 1, 9] and targets [batch, L, 8] of the copy task for sequences of `length` vectors."""
    seq = torch.randint(0, 2, (batch, length, BITS), generator=gen).float()
    x = torch.zeros(batch, 2 * length + 1, BITS + 1)
    x[:, :length, :BITS] = seq
    x[:, length, BITS] = 1.0                                     # the delimiter
    return x, seq


def copy_outputs(model, x: torch.Tensor, length: int) -> torch.Tensor:
    """The model's output logits during the blank phase: [batch, L, 8]."""
    return model(x)[:, length + 1:]


def bit_errors(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Wrong bits per sequence, the outputs thresholded at 0.5."""
    return ((logits > 0).float() != target).float().sum((1, 2))


def held_out_set(per_length: int, seed: int, max_length: int = 10):
    gen = torch.Generator().manual_seed(10_000 + seed)          # a different stream from the training data
    return [(length, *copy_batch(per_length, length, gen)) for length in range(1, max_length + 1)]


def evaluate(model, held_out) -> dict:
    """Mean bit error per sequence over the held-out set, and per length."""
    model.eval()
    per_length, total, count = {}, 0.0, 0
    with torch.no_grad():
        for length, x, target in held_out:
            errors = bit_errors(copy_outputs(model, x, length), target)
            per_length[length] = errors.mean().item()
            total, count = total + errors.sum().item(), count + len(errors)
    model.train()
    return {"bit_error": total / count, "per_length": per_length}


def record_weightings(model, x: torch.Tensor):
    """Run one sequence and capture each step's read and write weightings with forward hooks on the heads."""
    taken = {"read": [], "write": []}
    hooks = [model.step.read_head.register_forward_hook(lambda m, i, out: taken["read"].append(out[0].detach())),
             model.step.write_head.register_forward_hook(lambda m, i, out: taken["write"].append(out[0].detach()))]
    model.eval()
    try:
        with torch.no_grad():
            y = model(x[:1])
    finally:
        for hook in hooks:
            hook.remove()
        model.train()
    return torch.stack(taken["read"]), torch.stack(taken["write"]), y[0]     # [T, memory_n] each


def save_images(out: Path, x, target, logits, w_read, w_write, length: int):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # only the locations the heads visit, with a margin, so the focus is visible on a large memory
    used = ((w_read.max(0).values > 0.05) | (w_write.max(0).values > 0.05)).nonzero().flatten()
    n = w_read.shape[1]
    lo, hi = (0, n) if len(used) == 0 else (max(0, used.min().item() - 4), min(n, used.max().item() + 5))
    steps = w_read.shape[0]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharey=True)
    for ax, w, title in ((axes[0], w_write, "write weighting"), (axes[1], w_read, "read weighting")):
        ax.imshow(w[:, lo:hi].T.numpy(), aspect="auto", cmap="gray_r", vmin=0, vmax=1, origin="lower",
                  extent=(-0.5, steps - 0.5, lo - 0.5, hi - 0.5), interpolation="nearest")
        ax.axvline(length, color="tab:red", lw=0.8, ls="--")
        ax.set_title(title)
        ax.set_xlabel("time step (the delimiter at the dashed line)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[0].set_ylabel(f"memory location (of {n})")
    fig.suptitle(f"NTM copy task: weightings over time for one sequence of length {length}")
    fig.tight_layout()
    fig.savefig(out / "weightings.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(3, 1, figsize=(7, 5), sharex=True)
    outputs = torch.zeros(steps, BITS)
    outputs[length + 1:] = torch.sigmoid(logits[length + 1:])
    targets = torch.zeros(steps, BITS)
    targets[length + 1:] = target
    for ax, image, title in ((axes[0], x[:, :BITS + 1], "input (8 bits and the delimiter)"),
                             (axes[1], targets, "target"), (axes[2], outputs, "output (sigmoid)")):
        ax.imshow(image.T.numpy(), aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_yticks([])
    axes[2].set_xlabel("time step")
    axes[2].xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(out / "copy.png", dpi=110)
    plt.close(fig)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None,
                    help="at most this many training steps (batches); default 20000, 60 with --quick")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=10.0, help="gradient norm clipping")
    ap.add_argument("--max-length", type=int, default=10)
    ap.add_argument("--curriculum", type=int, default=10,
                    help="start with lengths up to this; +1 whenever the training bit error per vector is below 0.1 "
                         "(default: no curriculum)")
    ap.add_argument("--target", type=float, default=1.0, help="stop below this held-out bit error per sequence")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-per-length", type=int, default=50, help="held-out sequences of each length 1..10")
    ap.add_argument("--time-limit", type=float, default=19 * 60, help="stop after this many seconds")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few seconds: small memory and controller, 60 steps")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "ntm_copy")
    ap.add_argument("-D", dest="params", action="append", default=[], metavar="NAME=VALUE",
                    help="spec params, e.g. -D memory_n=32")
    ap.add_argument("--quiet", action="store_true", help="only the evaluation lines")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import archdsl

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    params = {}
    if args.quick:
        params.update(memory_n=16, memory_m=8, controller_size=32)
        args.steps, args.eval_every, args.eval_per_length = args.steps or 60, 20, 8
        args.lr, args.max_length, args.curriculum = 3e-3, 4, 4
    for item in args.params:
        name, value = item.split("=", 1)
        params[name] = json.loads(value)
    args.steps = args.steps or 20_000
    model = archdsl.load(str(SPEC), **params).build()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    held_out = held_out_set(args.eval_per_length, args.seed, args.max_length)
    args.out.mkdir(parents=True, exist_ok=True)
    memory = "x".join(map(str, model.memory0.value.shape))
    print(f"ntm {params or 'spec defaults'}: memory {memory}, {n_params:,} parameters; "
          f"batches of {args.batch_size}, Adam lr {args.lr}, clip {args.clip}", flush=True)

    history, recent, level = [], [], min(args.curriculum, args.max_length)
    start, result, step = time.time(), None, 0
    for step in range(1, args.steps + 1):
        length = int(torch.randint(1, level + 1, (1,), generator=gen))
        x, target = copy_batch(args.batch_size, length, gen)
        logits = copy_outputs(model, x, length)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        recent.append(bit_errors(logits.detach(), target).mean().item() / length)   # errors per vector
        entry = {"step": step, "loss": loss.item(), "length": length, "level": level,
                 "seconds": round(time.time() - start, 2)}
        if len(recent) >= 50 and level < args.max_length and sum(recent[-50:]) / 50 < 0.1:
            level, recent = level + 1, []                        # curriculum: longer sequences once these are copied
        if step % args.eval_every == 0 or step == args.steps:
            result = evaluate(model, held_out)
            entry["bit_error"] = result["bit_error"]
            print(f"step {step} ({entry['seconds']:.0f} s): loss {loss.item():.4f}, lengths up to {level}, "
                  f"held-out bit error per sequence {result['bit_error']:.3f}", flush=True)
        elif not args.quiet and step % 20 == 0:
            print(f"step {step}: loss {loss.item():.4f} (length {length})", flush=True)
        history.append(entry)
        if "bit_error" in entry and entry["bit_error"] < args.target:
            break
        if time.time() - start > args.time_limit:
            print(f"time limit of {args.time_limit:.0f} s reached", flush=True)
            break
    if result is None or "bit_error" not in history[-1]:
        result = evaluate(model, held_out)
    seconds = time.time() - start

    length = args.max_length
    sample = [(l, x, t) for l, x, t in held_out if l == length][0]
    x, target = sample[1][:1], sample[2][0]
    w_read, w_write, logits = record_weightings(model, x)
    save_images(args.out, x[0], target, logits, w_read, w_write, length)
    metrics = {"params": params, "memory": memory, "n_params": n_params, "steps": step,
               "seconds": round(seconds, 1), "sequences": step * args.batch_size, "bit_error": result["bit_error"],
               "per_length": result["per_length"], "reached": result["bit_error"] < args.target,
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"done: held-out bit error per sequence {result['bit_error']:.3f} (lengths 1-{args.max_length}, "
          f"{args.eval_per_length} each) after {step} steps, {seconds:.0f} s; images in {args.out}", flush=True)
    return {"history": history, "metrics": metrics, "weightings": {"read": w_read, "write": w_write}}


if __name__ == "__main__":
    main(sys.argv[1:])
