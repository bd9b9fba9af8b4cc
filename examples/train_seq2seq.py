"""Train specs/seq2seq_attention.yaml (Luong et al. 2015) to reverse sequences of digits, then translate held-out ones.

The spec's model has two entry points over one set of weights: `forward` (the decoder runs over the given
target, for training) and `translate` (greedy decoding, for inference).

    .venv/bin/python examples/train_seq2seq.py                 # until 97% exact-match or 10 minutes
    .venv/bin/python examples/train_seq2seq.py --minutes 3 --out /tmp/s2s

Prints the loss and the held-out exact-match while it trains, and saves a heatmap of the attention weights
for one held-out example (attention.png; needs matplotlib: pip install -e ".[examples]"). For a reversal the
decoder's i-th output word attends to the (L - i)-th source word: the heatmap shows the anti-diagonal.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "specs", "seq2seq_attention.yaml")
PAD, BOS, EOS = 0, 1, 2
FIRST_DIGIT = 3                       # token id of the digit 0; the vocabulary is 13 tokens
VOCAB = FIRST_DIGIT + 10


def digits(tokens) -> str:
    return "".join(str(t - FIRST_DIGIT) for t in tokens if t >= FIRST_DIGIT)


class Task:
    """Random digit sequences with lengths lo..hi; the target is the sequence reversed, then <eos>.
    The held-out sequences never appear in training batches."""

    def __init__(self, lo: int = 3, hi: int = 12, held_out: int = 1000, seed: int = 0):
        self.lo, self.hi = lo, hi
        self.rng = random.Random(seed)
        self.test = []
        seen = set()
        while len(self.test) < held_out:
            seq = self._sequence()
            if seq not in seen:
                seen.add(seq)
                self.test.append(seq)
        self.held = seen

    def _sequence(self) -> tuple:
        n = self.rng.randint(self.lo, self.hi)
        return tuple(self.rng.randrange(FIRST_DIGIT, VOCAB) for _ in range(n))

    def train_batch(self, n: int):
        seqs = []
        while len(seqs) < n:
            seq = self._sequence()
            if seq not in self.held:
                seqs.append(seq)
        return batch(seqs)


def batch(seqs: list):
    """src [N, S] (padded), tgt_in [N, T] = <bos> + reversed, tgt_out [N, T] = reversed + <eos> (padded)."""
    s = max(len(q) for q in seqs)
    src = torch.full((len(seqs), s), PAD)
    tgt_in = torch.full((len(seqs), s + 1), PAD)
    tgt_out = torch.full((len(seqs), s + 1), PAD)
    for i, q in enumerate(seqs):
        rev = list(reversed(q))
        src[i, :len(q)] = torch.tensor(q)
        tgt_in[i, :len(q) + 1] = torch.tensor([BOS] + rev)
        tgt_out[i, :len(q) + 1] = torch.tensor(rev + [EOS])
    return src, tgt_in, tgt_out


def exact_match(model, seqs: list, chunk: int = 500) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The share of sequences whose greedy translation is exactly the reversal followed by <eos>."""
    model.eval()
    right = 0
    with torch.no_grad():
        for k in range(0, len(seqs), chunk):
            part = seqs[k:k + chunk]
            src, _, want = batch(part)
            tokens, attn = model.translate(src)
            for i, q in enumerate(part):
                right += tokens[i, :len(q) + 1].tolist() == want[i, :len(q) + 1].tolist()
    return right / len(seqs), tokens, attn


def train(minutes: float = 10.0, max_steps: int | None = None, target: float = 0.97, batch_size: int = 64,
          lr: float = 3e-3, warmup: int = 100, eval_every: int = 200, lo: int = 3, hi: int = 12,
          held_out: int = 1000, params: dict | None = None, seed: int = 0, log=print) -> dict:
    """Train until the held-out exact-match reaches `target`, `max_steps` or `minutes` run out.
    Returns the losses, the evaluations [(step, seconds, exact-match)], the task and the model."""
    import archdsl

    torch.manual_seed(seed)
    spec = archdsl.load(SPEC, src_vocab=VOCAB, tgt_vocab=VOCAB, max_len=hi + 2, **(params or {}))
    model = spec.build()
    task = Task(lo, hi, held_out, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    # warm up, then halve the rate every 500 steps (down to 1/20): a steady end of training
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min((step + 1) / warmup, max(0.05, 0.5 ** (max(0, step - warmup) / 500))))
    losses, evals, start, step = [], [], time.time(), 0
    log(f"seq2seq_attention: {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"reversing {lo}-{hi} digits, {held_out} held-out sequences")
    while True:
        model.train()
        src, tgt_in, tgt_out = task.train_batch(batch_size)
        logits, _ = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        step += 1
        elapsed = time.time() - start
        out_of_time = elapsed > minutes * 60 or (max_steps is not None and step >= max_steps)
        if step % eval_every == 0 or out_of_time:
            acc = exact_match(model, task.test)[0]
            evals.append((step, elapsed, acc))
            recent = sum(losses[-eval_every:]) / len(losses[-eval_every:])
            log(f"step {step:5d}  {elapsed:6.1f}s  loss {recent:.4f}  held-out exact-match {acc:6.1%}")
            if acc >= target or out_of_time:
                break
    return {"losses": losses, "evals": evals, "task": task, "model": model}


def save_heatmap(model, seq: tuple, path: str) -> None:
    """The attention weights of the greedy translation of `seq`: output words (rows) x source words."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, tokens, attn = exact_match(model, [seq])
    out = tokens[0].tolist()
    rows = out.index(EOS) + 1 if EOS in out else len(out)
    weights = attn[0, :rows, :len(seq)].numpy()
    fig, ax = plt.subplots(figsize=(0.5 * len(seq) + 2, 0.5 * rows + 1.5))
    ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(seq)), [digits([t]) for t in seq])
    ax.set_yticks(range(rows), [digits([t]) or "<eos>" for t in out[:rows]])
    ax.set_xlabel("source")
    ax.set_ylabel("output (greedy)")
    ax.set_title(f"Luong general attention: {digits(seq)} -> {digits(out[:rows])}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    ap.add_argument("--target", type=float, default=0.97, help="stop at this held-out exact-match")
    ap.add_argument("--out", default="seq2seq_out", help="folder for attention.png (default ./seq2seq_out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the ops are small)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = train(args.minutes, args.steps, args.target, seed=args.seed,
                   log=lambda s: print(s, flush=True))
    step, seconds, acc = result["evals"][-1]
    print(f"done: {step} steps in {seconds:.0f}s, held-out exact-match {acc:.1%}")
    os.makedirs(args.out, exist_ok=True)
    example = max(result["task"].test[:50], key=len)
    try:
        path = os.path.join(args.out, "attention.png")
        save_heatmap(result["model"], example, path)
        print(f"wrote {path}")
    except ImportError:
        print("matplotlib is not installed: no heatmap (pip install -e '.[examples]')", file=sys.stderr)
    return 0 if acc >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
