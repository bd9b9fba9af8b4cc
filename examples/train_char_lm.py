"""Train a small GPT-2 (specs/gpt2.yaml scaled down with -D) as a character language model on Python's own source.

    python examples/train_char_lm.py                              # 10 minutes, then a sample and a loss plot
    python examples/train_char_lm.py --minutes 2 -D d=64 -D n_layer=2 --prompt "class " --temperature 0.6
    torchrun --standalone --nproc_per_node=2 examples/train_char_lm.py --minutes 10

Corpus: the standard library's .py files (sysconfig's `stdlib` path, without test suites, installed packages
and generated tables; ASCII files only), in a fixed order that mixes the packages (sorted by a hash of each
file's path), up to --corpus-chars characters (the file that crosses the budget is cut). Every
--held-out-every-th file is held out: the split is by file, so held-out text is code the model has not seen.
The vocabulary is the corpus's characters, and `vocab` is set to its size.

Model: the spec's defaults give GPT-2 small; this script scales it down (n_ctx=128, d=128, n_layer=4,
n_head=4, dropout_p=0.0) and -D NAME=VALUE changes any of them. The weights start as GPT-2's do (normal with
std 0.02, the residual projections c_proj scaled by 1/sqrt(2 n_layer), biases 0). AdamW, the learning rate
warmed up over the first 2% of the budget and then cosine-decayed to a tenth over the rest.

Budget: training stops after --minutes (wall clock, evaluations included) or --steps, whichever comes first
(0 turns either off); the learning-rate schedule follows the same fraction of the budget. Under torchrun,
rank 0's clock decides for every rank.

Report: the unigram baseline (the training text's character frequencies, add-one smoothed, scored on the
held-out text), then every --eval-every steps the training and held-out bits per character, with a progress
bar (tqdm's where it is installed), a plot of both against the steps (--plot; needs matplotlib: pip install
-e ".[examples]") and at the end --sample-chars characters sampled after --prompt at --temperature.

DDP: every process draws the same global batch of random windows from a generator seeded by the step and
trains on its own share of it; DDP averages the gradients (gloo on CPU, nccl on CUDA), so the ranks keep
identical weights. At the end every rank prints `[rank R] step S weights <sha256>`.

Checkpoint: rank 0 writes --checkpoint (default out/char_lm/<spec>.pt) at every evaluation: the weights, the
optimizer's state, the step, the time trained, the history and the vocabulary. A run finding that file resumes
from it (--steps and --minutes count from the start of the first run, and the learning rate follows the new
budget); --fresh ignores it.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from archdsl.cli.options import define  # noqa: E402  (-D NAME=VALUE, parsed as the CLI does)
from archdsl.errors import ArchDSLError  # noqa: E402
from ddp_common import load_checkpoint, log, save_checkpoint, setup, state_hash, wrap  # noqa: E402

# a small GPT-2 for a CPU: about 0.8M parameters with the vocabulary of Python source
SMALL = {"n_ctx": 128, "d": 128, "n_layer": 4, "n_head": 4, "dropout_p": 0.0}
# folders left out of the corpus: test suites, installed packages and generated tables (codecs, pydoc's topics)
SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "encodings", "pydoc_data"}
WARMUP = 0.02           # the fraction of the budget over which the learning rate rises
LN2 = math.log(2.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", default=str(ROOT / "specs" / "gpt2.yaml"))
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--minutes", type=float, default=10.0, help="stop after this much time in all (0: no limit)")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps in all (0: no limit)")
    p.add_argument("--batch-size", type=int, default=32, help="windows of n_ctx characters per process and step")
    p.add_argument("--lr", type=float, default=3e-3, help="the peak learning rate")
    p.add_argument("--corpus-chars", type=int, default=4_000_000, help="characters of source read in all")
    p.add_argument("--held-out-every", type=int, default=10, help="every k-th file is held out")
    p.add_argument("--eval-every", type=int, default=100, help="steps between evaluations")
    p.add_argument("--eval-chars", type=int, default=131_072, help="held-out characters scored (at most)")
    p.add_argument("--plot", default=str(ROOT / "out" / "char_lm" / "loss.png"), help="the loss plot ('' for none)")
    p.add_argument("--prompt", default="def ")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--sample-chars", type=int, default=500)
    p.add_argument("--checkpoint", help="checkpoint file (default out/char_lm/<spec name>.pt)")
    p.add_argument("--fresh", action="store_true", help="start over even if the checkpoint exists")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.minutes <= 0 and args.steps <= 0:
        p.error("give a budget: --minutes or --steps")
    for name in ("batch_size", "corpus_chars", "held_out_every", "eval_every", "eval_chars"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.temperature <= 0 or args.sample_chars < 0:
        p.error("--temperature must be positive and --sample-chars at least 0")
    return args


# --- the corpus -----------------------------------------------------------------------------------------------------

def stdlib_files() -> list[Path]:
    """The standard library's .py files outside SKIP, ordered by a hash of their relative paths."""
    root, files = Path(sysconfig.get_paths()["stdlib"]), []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIP]      # not walked at all
        files += [Path(folder, name) for name in names if name.endswith(".py")]
    return sorted(files, key=lambda p: hashlib.sha256(p.relative_to(root).as_posix().encode()).hexdigest())


def corpus(budget: int, held_out_every: int) -> tuple[list[str], list[str]]:
    """(training files' texts, held-out files' texts): ASCII files up to `budget` characters in all, every
    `held_out_every`-th of them held out (the first one included)."""
    train, held, total = [], [], 0
    for path in stdlib_files():
        if total >= budget:
            break
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            continue
        text = text[:budget - total]
        (held if (len(train) + len(held)) % held_out_every == 0 else train).append(text)
        total += len(text)
    return train, held


def unigram_bpc(train: str, held: str, vocab: str) -> float:
    """Bits per character of `held` under the character frequencies of `train`, add-one smoothed over `vocab`."""
    counts, total = Counter(train), len(train) + len(vocab)
    return sum(n * -math.log2((counts[c] + 1) / total) for c, n in Counter(held).items()) / len(held)


def encode(text: str, vocab: str) -> torch.Tensor:
    table = torch.zeros(128, dtype=torch.uint8)
    table[[ord(c) for c in vocab]] = torch.arange(len(vocab), dtype=torch.uint8)
    return table[torch.frombuffer(bytearray(text.encode("ascii")), dtype=torch.uint8).long()]


# --- the model ------------------------------------------------------------------------------------------------------

def gpt2_init(model: torch.nn.Module, n_layer: int) -> None:
    """GPT-2's initialization (Hugging Face's GPT2PreTrainedModel, initializer_range 0.02): weights and
    embeddings normal with std 0.02, the residual projections c_proj with 0.02 / sqrt(2 n_layer), biases 0;
    LayerNorms keep 1 and 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                p.normal_(0.0, 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02)


def learning_rate(peak: float, progress: float) -> float:
    """Linear warm-up over WARMUP of the budget, then a cosine from `peak` down to peak / 10."""
    if progress < WARMUP:
        return peak * (progress + 1e-3) / WARMUP
    t = min(1.0, (progress - WARMUP) / (1.0 - WARMUP))
    return peak * (0.1 + 0.45 * (1.0 + math.cos(math.pi * t)))


def batch(data: torch.Tensor, step: int, seed: int, size: int, rank: int, world: int, n_ctx: int):
    """This rank's share of step `step`'s global batch: size * world random windows, the same on every rank."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(len(data) - n_ctx, (size * world,), generator=gen)[rank * size:(rank + 1) * size]
    windows = data[starts[:, None] + torch.arange(n_ctx + 1)].long()
    return windows[:, :-1], windows[:, 1:]


def eval_windows(held: str, n_ctx: int, budget: int) -> list[str]:
    """Windows of n_ctx + 1 characters of the held-out text, about `budget` characters scored in all: every
    one of its consecutive windows if they fit, else as many spread evenly over it. The first character of
    a window is context only; the model predicts the other n_ctx."""
    count = (len(held) - 1) // n_ctx
    k = min(count, max(1, budget // n_ctx))
    return [held[i * count // k * n_ctx:][:n_ctx + 1] for i in range(k)]


@torch.no_grad()
def held_out_bpc(model, windows: torch.Tensor, size: int, rank: int, world: int, distributed: bool) -> float:
    """Bits per character of windows[:, 1:] given what precedes them (each rank every world-th batch)."""
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(2, dtype=torch.float64)
    for i in range(rank * size, len(windows), size * world):
        w = windows[i:i + size].long().to(device)
        logits = model(w[:, :-1]).float()
        sums[0] += F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
        sums[1] += w[:, 1:].numel()
    if distributed:
        dist.all_reduce(sums)
    model.train()
    return (sums[0] / sums[1]).item() / LN2


@torch.no_grad()
def sample(model, prompt: torch.Tensor, n: int, n_ctx: int, temperature: float, seed: int) -> torch.Tensor:
    """`n` characters drawn one at a time after `prompt` (the model sees the last n_ctx of them)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    ids = prompt.view(1, -1).to(device)
    for _ in range(n):
        logits = model(ids[:, -n_ctx:])[0, -1].float().cpu()
        nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)
        ids = torch.cat([ids, nxt.view(1, 1).to(device)], 1)
    return ids[0, prompt.numel():].cpu()


# --- reporting ------------------------------------------------------------------------------------------------------

class Progress:
    """A bar over the budget: tqdm's where it is installed, else one line rewritten in place on a terminal (on
    anything else the periodic reports stand for it)."""

    def __init__(self, enabled: bool):
        self.bar, self.line = None, enabled and sys.stderr.isatty()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=100, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}")
            self.line = False

    def update(self, fraction: float, text: str) -> None:
        percent = round(100 * min(fraction, 1.0), 1)
        if self.bar is not None:
            self.bar.n = percent
            self.bar.set_postfix_str(text)
        elif self.line:
            filled = int(percent * 0.3)
            sys.stderr.write(f"\r{percent:5.1f}% [{'#' * filled}{'.' * (30 - filled)}] {text}\x1b[K")
            sys.stderr.flush()

    def write(self, text: str) -> None:
        """A report line, printed above the bar."""
        if self.bar is not None:
            self.bar.write(text)
            return
        if self.line:
            sys.stderr.write("\r\x1b[K")
        print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.line:
            sys.stderr.write("\n")


def plot(history: list, baseline: float, path: str) -> None:
    """Training and held-out bits per character against the steps, the unigram baseline dashed."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[examples]')", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(steps[1:], [h["train_bpc"] for h in history[1:]], label="training")
    ax.plot(steps, [h["held_out_bpc"] for h in history], label="held-out")
    ax.axhline(baseline, color="grey", linestyle="--", label="unigram baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --- training -------------------------------------------------------------------------------------------------------

def run(argv=None) -> dict:
    """Train, evaluate, plot and sample; return the figures reported (rank 0's)."""
    args = parse_args(argv)
    distributed, rank, world, device = setup(args.device)
    train_files, held_files = corpus(args.corpus_chars, args.held_out_every)
    train_text, held_text = "".join(train_files), "".join(held_files)
    vocab = "".join(sorted(set(train_text + held_text)))
    try:
        params = {**SMALL, **dict(define(d) for d in args.defines)}
        if params.setdefault("vocab", len(vocab)) != len(vocab):
            raise SystemExit(f"-D vocab={params['vocab']}: the vocabulary is the corpus's {len(vocab)} characters")
        spec = archdsl.load(args.spec, **params)
        spec.check()
    except ArchDSLError as exc:
        raise SystemExit(exc.render()) from None
    n_ctx = params["n_ctx"]
    if min(len(train_text), len(held_text)) <= n_ctx:
        raise SystemExit(f"the corpus is too small ({len(train_text)} training and {len(held_text)} held-out "
                         f"characters for n_ctx={n_ctx}): raise --corpus-chars")
    missing = sorted(set(args.prompt) - set(vocab))
    if missing:
        raise SystemExit(f"--prompt has characters the corpus lacks: {''.join(missing)!r}")
    windows = eval_windows(held_text, n_ctx, args.eval_chars)
    baseline = unigram_bpc(train_text, "".join(w[1:] for w in windows), vocab)   # the characters predicted

    torch.manual_seed(args.seed)                                  # the same initial weights on every rank
    model = spec.build(device=device)
    gpt2_init(model, params["n_layer"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    checkpoint = Path(args.checkpoint or ROOT / "out" / "char_lm" / f"{spec.name}.pt")
    step, history = 0, []
    state = load_checkpoint(checkpoint, model, optimizer, args.fresh,
                            {"spec": spec.name, "params": params, "vocab": vocab})
    if state is not None:
        step, history = state["step"], state["history"]
        log(rank, f"resumed from {checkpoint}: step {step}, {history[-1]['seconds']:.0f} s trained")
    ddp = wrap(model, device, distributed)

    train_data = encode(train_text, vocab)
    eval_data = encode("".join(windows), vocab).view(len(windows), n_ctx + 1)
    log(rank, f"corpus: {len(train_files)} training files ({len(train_text):,} characters) and {len(held_files)} "
              f"held-out files ({len(held_text):,}; {len(windows) * n_ctx:,} scored) of "
              f"{sysconfig.get_paths()['stdlib']}, {len(vocab)} distinct characters")
    log(rank, f"unigram baseline: {baseline:.3f} bits per character on the held-out text")
    log(rank, f"{spec.name}: {sum(p.numel() for p in model.parameters()):,} parameters "
              f"({', '.join(f'{k}={v}' for k, v in params.items())}), {world} process(es) on {device.type}, "
              f"{args.batch_size} x {n_ctx} characters per process and step")

    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    start_step, run_start, train_sum, train_n = step, time.perf_counter(), 0.0, 0
    progress = Progress(rank == 0)

    def record() -> None:
        """Evaluate, add a point to the history, report it and write the checkpoint (rank 0)."""
        nonlocal train_sum, train_n
        mean = torch.tensor([train_sum, max(train_n, 1)], dtype=torch.float64)
        if distributed:
            dist.all_reduce(mean)
        held = held_out_bpc(model, eval_data, args.batch_size, rank, world, distributed)
        history.append({"step": step, "train_bpc": (mean[0] / mean[1]).item() / LN2 if train_n else math.nan,
                        "held_out_bpc": held, "seconds": time.perf_counter() - start})
        train_sum, train_n = 0.0, 0
        if rank == 0:
            trained = "" if math.isnan(history[-1]["train_bpc"]) else f"training {history[-1]['train_bpc']:.3f} bpc, "
            progress.write(f"[rank 0] step {step}: {trained}held-out {held:.3f} bpc, {history[-1]['seconds']:.0f} s")
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                             "history": history, "spec": spec.name, "params": params, "vocab": vocab,
                             "world_size": world}, checkpoint)

    def budget_used(seconds: float) -> float:
        return max(step / args.steps if args.steps > 0 else 0.0,
                   seconds / (60 * args.minutes) if args.minutes > 0 else 0.0)

    def chars_per_s() -> float:
        return (step - start_step) * args.batch_size * world * n_ctx / max(time.perf_counter() - run_start, 1e-9)

    if not history:
        record()
    clock = torch.zeros(1, dtype=torch.float64)
    ddp.train()
    while True:
        clock[0] = time.perf_counter() - start
        if distributed:
            dist.broadcast(clock, src=0)                          # rank 0's clock decides for every rank
        used = budget_used(clock.item())
        if used >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args.lr, used)
        torch.manual_seed(args.seed * 1000 + step * world + rank)   # dropout: the same after a resume
        x, y = batch(train_data, step, args.seed, args.batch_size, rank, world, n_ctx)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = ddp(x.to(device, non_blocking=True))
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        train_sum, train_n = train_sum + loss.item(), train_n + 1
        progress.update(budget_used(time.perf_counter() - start),
                        f"step {step}, {loss.item() / LN2:.3f} bpc, {chars_per_s():,.0f} chars/s")
        if step % args.eval_every == 0:
            record()
    if history[-1]["step"] != step:
        record()
    progress.close()
    result = {"step": step, "seconds": time.perf_counter() - start, "held_out_bpc": history[-1]["held_out_bpc"],
              "unigram_bpc": baseline, "chars_per_s": chars_per_s(), "vocab": vocab, "history": history}
    log(rank, f"done: step {step}, {result['seconds']:.0f} s, {result['chars_per_s']:,.0f} training characters/s "
              f"(this run); held-out {result['held_out_bpc']:.3f} bpc against the unigram baseline's {baseline:.3f}")
    if rank == 0:
        if args.plot:
            plot(history, baseline, args.plot)
            log(rank, f"loss plot: {args.plot}")
        ids = sample(model, encode(args.prompt or "\n", vocab).long(), args.sample_chars, n_ctx, args.temperature,
                     args.seed)
        result["sample"] = "".join(vocab[i] for i in ids.tolist())
        log(rank, f"sample (temperature {args.temperature}, prompt {args.prompt!r}):\n{args.prompt}{result['sample']}")
    log(rank, f"step {step} weights {state_hash(model)}", all_ranks=True)
    if distributed:
        dist.destroy_process_group()
    return result


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
