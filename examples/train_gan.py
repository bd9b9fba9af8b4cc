"""Train the DCGAN of specs/dcgan.yaml (or the MLP GAN of specs/gan.yaml) on scikit-learn's digits.

    .venv/bin/python examples/train_gan.py                        # DCGAN, digits enlarged to 16x16
    .venv/bin/python examples/train_gan.py --spec gan --epochs 200  # the MLP GAN on the 8x8 digits

The spec holds the generator, the discriminator, `gan` = D(G(z)) sharing both, and the two
objectives; this script alternates their steps (Goodfellow et al.'s Algorithm 1, one D step per G
step) with Adam at lr 2e-4 and beta1 0.5 (Radford et al.). The DCGAN sees the 8x8 digits enlarged to
16x16 (bilinear) in [-1, 1], the range of its tanh output; the MLP GAN sees the flat 8x8 digits in
[0, 1] (sigmoid output). Progress lines show both losses and the mean D(x) and D(G(z)). Written to
--out: real.png (training digits), samples_epoch_<k>.png along the way and samples.png at the end,
all from the same fixed noise.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import archdsl  # noqa: E402
from grids import save_grid  # noqa: E402

SPECS = HERE.parent / "specs"


def digits(spec_name: str) -> torch.Tensor:
    """The digits as the spec's discriminator takes them: [n, 1, 16, 16] in [-1, 1], or [n, 64] in [0, 1]."""
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    if spec_name == "gan":
        return x
    x = F.interpolate(x.reshape(-1, 1, 8, 8), size=(16, 16), mode="bilinear", align_corners=False)
    return x.clamp(0, 1) * 2 - 1


def load_spec(name: str, noise_dim: int):
    if name == "dcgan":
        return archdsl.load(SPECS / "dcgan.yaml", image_size=16, channels=1, noise_dim=noise_dim, ngf=32, ndf=32)
    return archdsl.load(SPECS / "gan.yaml", noise_dim=noise_dim, data_dim=64, g_widths=[128, 256],
                        d_widths=[256, 128])


def dcgan_init(module) -> None:
    """Radford et al.: weights from N(0, 0.02); batch-norm scales from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)


def bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", choices=("dcgan", "gan"), default="dcgan")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--noise", type=int, default=32, help="size of z")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (quick checks)")
    p.add_argument("--snapshots", type=int, default=5, help="sample grids saved along the way")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads; one is fastest for models this small")
    p.add_argument("--out", default="out/gan", help="folder for the PNG grids")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args) -> dict:
    say = (lambda *a, **k: None) if args.quiet else print
    torch.manual_seed(args.seed)
    spec = load_spec(args.spec, args.noise)
    net = spec.build()                 # generator, discriminator, and gan = D(G(z)) sharing them
    dcgan_init(net)
    G, D, gan = net.generator, net.discriminator, net.gan
    d_objective, g_objective = spec.objective("discriminator_loss"), spec.objective("generator_loss")
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    data = digits(args.spec)
    lo, hi = (0.0, 1.0) if args.spec == "gan" else (-1.0, 1.0)
    grid = (lambda x: x.reshape(-1, 8, 8)) if args.spec == "gan" else (lambda x: x)
    fixed = torch.randn(64, args.noise)
    os.makedirs(args.out, exist_ok=True)
    save_grid(grid(data[:64]), os.path.join(args.out, "real.png"), rows=8, value_range=(lo, hi))
    say(f"{spec.name}: G {sum(p.numel() for p in G.parameters()):,} and D {sum(p.numel() for p in D.parameters()):,} "
        f"parameters; {len(data)} digits of shape {list(data.shape[1:])}")

    steps_per_epoch = math.ceil(len(data) / args.batch)
    snap_every = max(1, args.epochs // max(1, args.snapshots))
    history, step, start = [], 0, time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(data))
        sums = torch.zeros(4)
        for i in range(0, len(data), args.batch):
            real = data[order[i:i + args.batch]]
            z = torch.randn(len(real), args.noise)
            # D step: real digits towards 1, generated ones towards 0 (G is not updated: detach)
            fake = G(z)
            d_real, d_fake = D(real), D(fake.detach())
            loss_d = d_objective(d_real, d_fake)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            # G step through the `gan` model, D(G(z)): the same modules, so only G's optimiser steps
            loss_g = g_objective(gan(z))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            row = torch.tensor([loss_d.item(), loss_g.item(), d_real.mean().item(), d_fake.mean().item()])
            history.append(row)
            sums += row
            step += 1
            n = i // args.batch + 1
            say(f"\repoch {epoch:3d}/{args.epochs} {bar(n, steps_per_epoch)}  loss_D {sums[0] / n:.3f}  "
                f"loss_G {sums[1] / n:.3f}  D(x) {sums[2] / n:.2f}  D(G(z)) {sums[3] / n:.2f}  "
                f"{time.time() - start:5.1f} s", end="", flush=True)
            if args.max_steps and step >= args.max_steps:
                break
        say()
        last = args.max_steps and step >= args.max_steps
        if epoch % snap_every == 0 or epoch == args.epochs or last:
            G.eval()  # batch norm with its running statistics
            with torch.no_grad():
                save_grid(grid(G(fixed)), os.path.join(args.out, f"samples_epoch_{epoch:03d}.png"), rows=8,
                          value_range=(lo, hi))
        if last:
            break
    G.eval()
    with torch.no_grad():
        save_grid(grid(G(fixed)), os.path.join(args.out, "samples.png"), rows=8, value_range=(lo, hi))
    say(f"wrote {args.out}/real.png, samples.png and samples_epoch_*.png")
    losses = torch.stack(history)
    return {"steps": step, "loss_d": losses[:, 0].tolist(), "loss_g": losses[:, 1].tolist(),
            "d_real": losses[:, 2].tolist(), "d_fake": losses[:, 3].tolist()}


if __name__ == "__main__":
    main()
