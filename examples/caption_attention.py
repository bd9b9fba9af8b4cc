"""Train specs/show_attend_tell.yaml (Xu et al. 2015) on synthetic images and save its attention maps.

Each 56x56 image holds one to three coloured shapes; its caption names them from left to right
("red square blue cross <eos>"). A small CNN encoder (three conv stages, two max pools) gives the 14x14 grid of
annotation vectors the decoder attends over. After training, the model's greedy `caption` method describes a few new
images, and for each one a figure shows the image and, for every generated word, the attention weights over
the 14x14 grid (needs matplotlib: pip install -e ".[examples]"; without it the weights are saved as .pt files).

    .venv/bin/python examples/caption_attention.py                  # about 2 minutes on a laptop CPU
    .venv/bin/python examples/caption_attention.py --steps 300 --out /tmp/captions
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
SPEC = os.path.join(ROOT, "specs", "show_attend_tell.yaml")
PAD, BOS, EOS = 0, 1, 2
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.9, 0.1), "blue": (0.2, 0.3, 1.0), "yellow": (1.0, 0.9, 0.1)}
SHAPES = ("square", "cross", "ring")
WORDS = ["<pad>", "<bos>", "<eos>"] + list(COLOURS) + list(SHAPES)
IDS = {w: i for i, w in enumerate(WORDS)}
SIZE, CELL, GRID = 56, 4, 14           # 56 pixels = 14 cells of 4 pixels: one annotation vector per cell
MAX_OBJECTS = 3
# a small encoder for 56x56 images: 16, 32, 64 channels, pooled twice -> 14x14x64
PARAMS = dict(vocab=len(WORDS), embed=32, hidden=96, att_units=48, convs=[1, 1, 1], widths=[16, 32, 64],
              image_size=SIZE, drop_p=0.1, max_len=2 * MAX_OBJECTS + 1)


def draw_shape(img: torch.Tensor, shape: str, colour, y: int, x: int, size: int = 12) -> None:
    c = torch.tensor(colour).view(3, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mid = (size - 1) / 2
    if shape == "square":
        mask = torch.ones(size, size, dtype=torch.bool)
    elif shape == "cross":
        mask = ((yy - mid).abs() < 2) | ((xx - mid).abs() < 2)
    else:
        r = ((yy - mid) ** 2 + (xx - mid) ** 2).sqrt()
        mask = (r < mid + 0.5) & (r > mid - 2.5)
    patch = img[:, y:y + size, x:x + size]
    img[:, y:y + size, x:x + size] = torch.where(mask, c, patch)


def sample(rng: random.Random):
    """One image [3, 56, 56] and its words: the objects from left to right, then <eos>."""
    img = torch.zeros(3, SIZE, SIZE)
    n = rng.randint(1, MAX_OBJECTS)
    columns = sorted(rng.sample(range(3), n))          # one object per third of the image, left to right
    words = []
    for col in columns:
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        x = col * 18 + rng.randint(0, 6)
        y = rng.randint(0, SIZE - 12)
        draw_shape(img, shape, COLOURS[colour], y, x)
        words += [colour, shape]
    img += 0.05 * torch.randn(img.shape, generator=torch.Generator().manual_seed(rng.randrange(2**31)))
    return img, [IDS[w] for w in words] + [EOS]


def batch(rng: random.Random, n: int):
    items = [sample(rng) for _ in range(n)]
    t = max(len(w) for _, w in items)
    images = torch.stack([img for img, _ in items])
    words_in = torch.full((n, t), PAD)
    words_out = torch.full((n, t), PAD)
    for i, (_, w) in enumerate(items):
        words_in[i, :len(w)] = torch.tensor([BOS] + w[:-1])
        words_out[i, :len(w)] = torch.tensor(w)
    return images, words_in, words_out


def train(steps: int = 600, minutes: float = 5.0, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
          log=print) -> dict:
    """Teacher-forced training with the paper's doubly stochastic attention penalty
    lambda * sum_i (1 - sum_t alpha_ti)^2, which asks every location to be looked at about once overall."""
    import archdsl

    torch.manual_seed(seed)
    rng = random.Random(seed)
    spec = archdsl.load(SPEC, **PARAMS)
    model = spec.build()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log(f"show_attend_tell: {sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {WORDS[3:]}")
    losses, start = [], time.time()
    for step in range(1, steps + 1):
        model.train()
        images, words_in, words_out = batch(rng, batch_size)
        logits, alphas = model(images, words_in)
        nll = F.cross_entropy(logits.reshape(-1, len(WORDS)), words_out.reshape(-1), ignore_index=PAD)
        valid = (words_out != PAD).unsqueeze(-1)
        coverage = (alphas * valid).sum(1)                     # [N, 196]: attention each location got
        penalty = ((valid.sum(1) / (GRID * GRID) - coverage) ** 2).mean()  # our captions are short: the
        loss = nll + 0.5 * penalty                             # target coverage is (words / locations)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(nll.item())
        if step % 50 == 0 or step == steps:
            log(f"step {step:4d}  {time.time() - start:6.1f}s  word loss {sum(losses[-50:]) / len(losses[-50:]):.4f}")
        if time.time() - start > minutes * 60:
            break
    return {"losses": losses, "model": model, "rng": rng}


def describe(model, images: torch.Tensor):
    """Greedy captions: lists of words (up to <eos>) and their attention weights [words, 14, 14]."""
    model.eval()
    with torch.no_grad():
        tokens, alphas = model.caption(images)
    out = []
    for i in range(len(images)):
        ids = tokens[i].tolist()
        n = ids.index(EOS) + 1 if EOS in ids else len(ids)
        out.append(([WORDS[t] for t in ids[:n]], alphas[i, :n].reshape(n, GRID, GRID)))
    return out


def save_maps(image: torch.Tensor, words: list, alphas: torch.Tensor, path: str) -> str:
    """The image, then one panel per generated word with its 14x14 attention weights laid over the image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = os.path.splitext(path)[0] + ".pt"
        torch.save({"image": image, "words": words, "alphas": alphas}, path)
        return path
    picture = image.clamp(0, 1).permute(1, 2, 0).numpy()
    fig, axes = plt.subplots(1, len(words) + 1, figsize=(2.2 * (len(words) + 1), 2.6))
    axes[0].imshow(picture)
    axes[0].set_title("image")
    for ax, word, alpha in zip(axes[1:], words, alphas):
        ax.imshow(picture)
        ax.imshow(alpha.numpy(), cmap="gray", alpha=0.75, extent=(-0.5, SIZE - 0.5, SIZE - 0.5, -0.5),
                  interpolation="nearest")
        ax.set_title(word)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("Show, attend and tell: attention over the 14x14 grid per generated word", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--minutes", type=float, default=5.0, help="stop training after this long (default 5)")
    ap.add_argument("--examples", type=int, default=4, help="images to caption after training")
    ap.add_argument("--out", default="caption_out", help="folder for the attention maps (default ./caption_out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = train(args.steps, args.minutes, seed=args.seed, log=lambda s: print(s, flush=True))
    rng = random.Random(args.seed + 1)
    tests = [sample(rng) for _ in range(200)]
    captions = describe(result["model"], torch.stack([img for img, _ in tests]))
    right = sum([IDS[w] for w in words] == want for (words, _), (_, want) in zip(captions, tests))
    print(f"exact captions on 200 new images: {right / len(tests):.1%}")
    os.makedirs(args.out, exist_ok=True)
    for k in range(args.examples):
        words, alphas = captions[k]
        want = " ".join(WORDS[t] for t in tests[k][1])
        path = save_maps(tests[k][0], words, alphas, os.path.join(args.out, f"caption_{k}.png"))
        print(f"{path}: {' '.join(words)}   (true: {want})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
