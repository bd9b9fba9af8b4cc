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
    assert before > 40 and after <= 0.6 * before, (before, after)   # nats per 8x8 digit
    assert result["after"][2] > 0.5   # the KL term: the code is used, not collapsed to the prior
    assert Image.open(tmp_path / "reconstructions.png").size == (6 * (16 * 9 + 1), 6 * (2 * 9 + 1))
    assert Image.open(tmp_path / "latent_grid.png").size == (6 * (15 * 9 + 1),) * 2


@pytest.mark.parametrize("spec", ["dcgan", "gan"])
def test_train_gan_runs_a_few_steps_with_finite_losses(tmp_path, spec, capsys):
    result = example("train_gan").main(["--spec", spec, "--epochs", "2", "--max-steps", "4", "--out", str(tmp_path)])
    assert result["steps"] == 4
    assert all(math.isfinite(v) for v in result["loss_d"] + result["loss_g"])
    assert all(0 < v < 1 for v in result["d_real"] + result["d_fake"])
    out = capsys.readouterr().out
    assert "loss_D" in out and "loss_G" in out and "D(G(z))" in out
    for png in ("real.png", "samples.png", "samples_epoch_001.png"):
        assert Image.open(tmp_path / png).size[0] > 0
