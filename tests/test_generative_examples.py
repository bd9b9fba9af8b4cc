"""Short runs of examples/train_vae.py and examples/train_gan.py (scikit-learn's digits)."""
from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from tests.helpers import ROOT, optional

optional("sklearn")
Image = optional("PIL.Image")


def example(name: str):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "examples"))


def test_train_vae_lowers_the_held_out_negative_elbo_by_40_percent(tmp_path):
    result = example("train_vae").main(["--epochs", "30", "--samples", "5", "--out", str(tmp_path), "--quiet"])
    before, after = result["before"][0], result["after"][0]
    # nats per 8x8 digit. Untrained, the Bernoulli decoder outputs about 0.5 per pixel, which costs ln 2 per
    # pixel whatever the target: 64 ln 2 = 44.4 nats (docs/generative.md records 45.1 with the KL term).
    assert before > 40, before
    # The full run (200 epochs) lowers it by 45.7% (docs/generative.md); 30 epochs with seed 0 reach 44.3%
    # (45.13 -> 25.12, measured when this bar was set): the 40% bar is a margin below that, not derived
    assert after <= 0.6 * before, (before, after)
    # the KL term: a code collapsed to the prior has KL 0; this run's is 2.08 nats, the full run's 2.9
    # (docs/generative.md)
    assert result["after"][2] > 0.5, result["after"]
    # examples/grids.py's layout: 8x8 tiles with 1-pixel borders, scaled 6x; 16 held-out digits over their
    # reconstructions (2 rows of 16), and the decoder over a 15x15 grid of z
    assert Image.open(tmp_path / "reconstructions.png").size == (6 * (16 * 9 + 1), 6 * (2 * 9 + 1))
    assert Image.open(tmp_path / "latent_grid.png").size == (6 * (15 * 9 + 1),) * 2


@pytest.mark.parametrize("spec", ["dcgan", "gan"])
def test_train_gan_runs_a_few_steps_with_finite_losses(tmp_path, spec, capsys):
    result = example("train_gan").main(["--spec", spec, "--epochs", "2", "--max-steps", "4", "--out", str(tmp_path)])
    assert result["steps"] == 4   # --max-steps 4
    assert all(math.isfinite(v) for v in result["loss_d"] + result["loss_g"])
    # mean D outputs are probabilities (a sigmoid), not logits; an untrained D is near neither 0 nor 1
    assert all(0 < v < 1 for v in result["d_real"] + result["d_fake"])
    out = capsys.readouterr().out
    assert "loss_D" in out and "loss_G" in out and "D(G(z))" in out
    # 64 images in 8 rows (examples/train_gan.py), 8x8 digits for `gan`, 16x16 for `dcgan`
    # (docs/generative.md), 1-pixel borders, examples/grids.py's default scale 4
    side = {"gan": 8, "dcgan": 16}[spec]
    for png in ("real.png", "samples.png", "samples_epoch_001.png"):
        image = Image.open(tmp_path / png)
        assert image.size == (4 * (8 * (side + 1) + 1),) * 2
        assert len(set(image.convert("L").getdata())) > 2   # not blank: more than the border grey and one tone
