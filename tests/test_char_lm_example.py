"""examples/train_char_lm.py: a tiny GPT-2 learns characters of the standard library's source, and runs under
torchrun (two CPU processes, gloo) with the weights of one process training on the same global batch."""
from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from collections import Counter

import torch

from tests.helpers import CI, ROOT

SCRIPT = ROOT / "examples" / "train_char_lm.py"
N_CTX = 32
TINY = ["-D", f"n_ctx={N_CTX}", "-D", "d=32", "-D", "n_layer=1", "-D", "n_head=2", "--minutes", "0",
        "--corpus-chars", "200000", "--held-out-every", "5", "--seed", "0"]


def example():
    spec = importlib.util.spec_from_file_location("example_train_char_lm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_unigram_bpc(train: str, scored: str, alphabet: set) -> float:
    """Training character counts, plus one for every character of the alphabet, scored on `scored`."""
    counts = Counter(train)
    return sum(-math.log2((counts[c] + 1) / (len(train) + len(alphabet))) for c in scored) / len(scored)


def test_a_tiny_model_learns_beats_the_unigram_baseline_and_samples(tmp_path, capsys):
    module = example()
    plot = tmp_path / "loss.png"
    result = module.run([*TINY, "--steps", "150", "--eval-every", "50", "--batch-size", "16", "--lr", "1e-2",
                         "--eval-chars", "1000000", "--plot", str(plot), "--checkpoint", str(tmp_path / "c.pt"),
                         "--prompt", "def ", "--sample-chars", "120"])
    out = capsys.readouterr().out

    # the baseline, by hand: every held-out window is scored (--eval-chars covers them), so the characters
    # predicted are held[1 : 1 + N_CTX * windows]
    train_files, held_files = module.corpus(200000, 5)
    train, held = "".join(train_files), "".join(held_files)
    scored = held[1:1 + (len(held) - 1) // N_CTX * N_CTX]
    baseline = hand_unigram_bpc(train, scored, set(train + held))
    assert abs(result["unigram_bpc"] - baseline) < 1e-9, (result["unigram_bpc"], baseline)
    assert f"unigram baseline: {baseline:.3f} bits per character" in out

    history = result["history"]
    assert [h["step"] for h in history] == [0, 50, 100, 150]
    # untrained, the outputs are near uniform over the vocabulary: log2(95) = 6.6 bits on Python 3.11's stdlib
    assert history[0]["held_out_bpc"] > baseline
    assert history[-1]["train_bpc"] < history[1]["train_bpc"]               # the training loss decreases
    assert history[-1]["held_out_bpc"] < history[1]["held_out_bpc"] < history[0]["held_out_bpc"]
    # Python 3.11's stdlib: 3.79 against 4.45 bits when this was written; 0.3 bits is a margin below that
    assert result["held_out_bpc"] < baseline - 0.3, (result["held_out_bpc"], baseline)

    sample = result["sample"]
    assert len(sample) == 120 and set(sample) <= set(result["vocab"])
    assert f"def {sample}" in out
    if CI or importlib.util.find_spec("matplotlib"):
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_torchrun_two_processes_agree_and_match_one_process(tmp_path):
    steps, common = 6, [*TINY, "--steps", "6", "--eval-every", "3", "--eval-chars", "2000", "--plot", "",
                        "--sample-chars", "10"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
           *common, "--device", "cpu", "--batch-size", "8", "--checkpoint", str(tmp_path / "ddp.pt")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {int(r): (int(s), h) for r, s, h in re.findall(r"\[rank (\d)\] step (\d+) weights ([0-9a-f]+)",
                                                             proc.stdout)}
    assert sorted(found) == [0, 1], proc.stdout
    assert found[0] == found[1], "the two ranks hold different weights"
    assert found[0][0] == steps
    assert "sample (temperature" in proc.stdout

    # one process with the whole global batch (2 x 8 windows) takes the same steps: each rank trained on its
    # own half, and DDP's average of the two halves' gradients is the gradient of the whole batch
    example().run([*common, "--batch-size", "16", "--checkpoint", str(tmp_path / "one.pt")])
    two = torch.load(tmp_path / "ddp.pt", weights_only=False)
    one = torch.load(tmp_path / "one.pt", weights_only=False)
    assert (two["step"], two["world_size"], one["step"], one["world_size"]) == (steps, 2, steps, 1)
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
