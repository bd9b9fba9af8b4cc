"""Train the VAE of specs/vae.yaml on scikit-learn's digits and look at what it learned.

    .venv/bin/python examples/train_vae.py                       # 8x8 digits, a 2-D latent space
    .venv/bin/python examples/train_vae.py --epochs 300 --out out/vae

The spec holds the encoder, the decoder, the `vae` model that uses both, and the `neg_elbo` objective;
this script only feeds data and steps the optimiser. The digits (8x8, values 0..16) are scaled to
[0, 1] and treated as Bernoulli means, as the spec's decoder and objective expect. Held-out digits
measure the negative ELBO (nats per digit) before and after training, estimated with `--samples`
draws of z per digit. Written to --out: reconstructions.png (held-out digits, and below each its
reconstruction) and latent_grid.png (the decoder's means over a grid of z, at the standard normal's
quantiles, as in Kingma & Welling's Figure 4).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import archdsl  # noqa: E402
from grids import save_grid  # noqa: E402

SPEC = HERE.parent / "specs" / "vae.yaml"


def digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's digits as [n, 64] floats in [0, 1], split into train and held-out parts."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    train, test = train_test_split(x, test_size=test_fraction, random_state=seed)
    return train, test


@torch.no_grad()
def neg_elbo(vae, objective, x, samples: int, seed: int = 0) -> tuple[float, float, float]:
    """The negative ELBO per digit, averaged over `samples` draws of z; and its reconstruction and KL terms."""
    was_training = vae.training
    vae.train()  # sampling on: the VAE has no dropout or batch norm, so train mode changes nothing else
    torch.manual_seed(seed)
    totals = torch.zeros(3)
    for _ in range(samples):
        totals += torch.stack(objective(x, *vae(x)))
    vae.train(was_training)
    return tuple((totals / samples).tolist())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--latent", type=int, default=2, help="2 gives the latent-grid picture")
    p.add_argument("--samples", type=int, default=20, help="draws of z per held-out digit for the ELBO")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/vae", help="folder for the PNG grids")
    p.add_argument("--threads", type=int, default=1, help="CPU threads; one is fastest for a model this small")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args) -> dict:
    say = (lambda *a: None) if args.quiet else print
    torch.manual_seed(args.seed)
    spec = archdsl.load(SPEC, input_dim=64, hidden=args.hidden, latent=args.latent)
    net = spec.build()                      # encoder, decoder and vae, the last sharing the first two
    vae, objective = net.vae, spec.objective("neg_elbo")
    train, test = digits(seed=args.seed)
    say(f"{spec.name}: {sum(p.numel() for p in net.parameters()):,} parameters; "
        f"{len(train)} training digits, {len(test)} held out")

    before = neg_elbo(vae, objective, test, args.samples)
    say(f"untrained: held-out -ELBO {before[0]:.2f} nats (reconstruction {before[1]:.2f}, KL {before[2]:.2f})")
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        vae.train()
        order = torch.randperm(len(train))
        total = 0.0
        for i in range(0, len(train), args.batch):
            x = train[order[i:i + args.batch]]
            loss, _, _ = objective(x, *vae(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        sched.step()
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
            held = neg_elbo(vae, objective, test, 1, seed=epoch)[0]
            say(f"epoch {epoch:4d}/{args.epochs}  train -ELBO {total / len(train):6.2f}  "
                f"held-out {held:6.2f}  {time.time() - start:5.1f} s")
    after = neg_elbo(vae, objective, test, args.samples)
    drop = 1 - after[0] / before[0]
    say(f"trained:   held-out -ELBO {after[0]:.2f} nats (reconstruction {after[1]:.2f}, KL {after[2]:.2f}): "
        f"{100 * drop:.1f}% below the untrained model")

    os.makedirs(args.out, exist_ok=True)
    vae.eval()  # eps = 0: a reconstruction decodes the posterior mean
    with torch.no_grad():
        shown = test[:16]
        x_hat = vae(shown)[0]
        save_grid(torch.cat([shown, x_hat]).reshape(-1, 8, 8), os.path.join(args.out, "reconstructions.png"),
                  rows=2, scale=6)
        if args.latent == 2:
            steps = 15
            q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, steps))
            z = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), -1).reshape(-1, 2)
            save_grid(net.decoder(z).reshape(-1, 8, 8), os.path.join(args.out, "latent_grid.png"), rows=steps,
                      scale=6)
    say(f"wrote {args.out}/reconstructions.png" + (" and latent_grid.png" if args.latent == 2 else ""))
    return {"before": before, "after": after, "drop": drop}


if __name__ == "__main__":
    main()
