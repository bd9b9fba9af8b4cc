"""A shortened run of examples/ntm_copy.py: a small NTM on the copy task learns, and the run writes the images of
its read and write weightings, taken with forward hooks on the heads. (The full run is recorded in docs/memory.md.)"""
import importlib.util
import json
from pathlib import Path

from tests.helpers import optional

ROOT = Path(__file__).resolve().parent.parent

optional("matplotlib")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ntm_copy_quick_run_learns(tmp_path, capsys):
    example = load_example("ntm_copy")
    result = example.main(["--quick", "--steps", "80", "--out", str(tmp_path), "--quiet"])
    losses = [h["loss"] for h in result["history"]]
    assert len(losses) == 80
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first * 0.92, (first, last)                   # the loss falls clearly from ~ln 2
    errors = [h["bit_error"] for h in result["history"] if "bit_error" in h]
    assert errors[-1] < errors[0], errors                       # and the held-out bit error with it
    for name in ("weightings.png", "copy.png"):
        assert (tmp_path / name).stat().st_size > 5000
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 80 and metrics["params"]["memory_n"] == 16
    read, write = result["weightings"]["read"], result["weightings"]["write"]
    assert read.shape == write.shape == (2 * 4 + 1, 16)          # one weighting per step of a length-4 sequence
    assert abs(read.sum(1) - 1).max() < 1e-4 and abs(write.sum(1) - 1).max() < 1e-4
    assert "held-out bit error per sequence" in capsys.readouterr().out


def test_copy_batch_layout():
    import torch

    example = load_example("ntm_copy")
    x, target = example.copy_batch(3, 5, torch.Generator().manual_seed(0))
    assert x.shape == (3, 11, 9) and target.shape == (3, 5, 8)
    assert torch.equal(x[:, :5, :8], target) and (x[:, :5, 8] == 0).all()   # the sequence, delimiter channel off
    assert (x[:, 5, :8] == 0).all() and (x[:, 5, 8] == 1).all()              # the delimiter
    assert (x[:, 6:] == 0).all()                                             # blanks while the copy is written
    logits = torch.where(target > 0, 5.0, -5.0)
    logits[0, 0, 0] = -logits[0, 0, 0]
    assert example.bit_errors(logits, target).tolist() == [1.0, 0.0, 0.0]
