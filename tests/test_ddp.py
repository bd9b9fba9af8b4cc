"""examples/train_ddp.py under torchrun: two CPU processes (gloo) train LeNet-5 on the digits for a few steps.

Checks that both ranks end with identical weights, and that a run stopped after epoch 1 and resumed from its
checkpoint continues from the saved step and ends exactly where an uninterrupted run ends. ~30 s.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from tests.helpers import ROOT, needs

SCRIPT = ROOT / "examples" / "train_ddp.py"
STEPS_PER_EPOCH = 4      # --limit 128 images, 2 ranks, 16 per rank and step

pytestmark = needs("sklearn")  # pip install -e '.[examples]'


def torchrun(checkpoint: Path, epochs: int) -> str:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
           str(ROOT / "specs" / "lenet5.yaml"), "--device", "cpu", "--limit", "128", "--batch-size", "16",
           "--epochs", str(epochs), "--checkpoint", str(checkpoint)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def final_hashes(out: str) -> dict[int, tuple[int, str]]:
    """rank -> (step, weights hash) from the `[rank R] step S weights H` lines."""
    found = {int(r): (int(s), h) for r, s, h in re.findall(r"\[rank (\d)\] step (\d+) weights ([0-9a-f]+)", out)}
    assert sorted(found) == [0, 1], out
    return found


def state_hash(state: dict) -> str:
    spec = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Holder:
        def state_dict(self):
            return state
    return module.state_hash(Holder())


def test_ddp_two_processes_agree_and_resume_continues(tmp_path):
    # uninterrupted: two epochs
    straight = final_hashes(torchrun(tmp_path / "straight.pt", epochs=2))
    assert straight[0] == straight[1], "the two ranks hold different weights"
    assert straight[0][0] == 2 * STEPS_PER_EPOCH

    # stopped after epoch 1 ...
    ckpt = tmp_path / "resumed.pt"
    first = final_hashes(torchrun(ckpt, epochs=1))
    assert first[0] == first[1] and first[0][0] == STEPS_PER_EPOCH
    saved = torch.load(ckpt, weights_only=False)
    assert (saved["epoch"], saved["step"], saved["world_size"]) == (1, STEPS_PER_EPOCH, 2)
    assert state_hash(saved["model"]) == first[0][1]        # the checkpoint holds what the ranks hold

    # ... and resumed: it starts from the saved step and ends where the uninterrupted run ends
    out = torchrun(ckpt, epochs=2)
    assert f"resumed from {ckpt}: epoch 1 done, step {STEPS_PER_EPOCH}" in out
    assert "epoch 1/2" not in out                          # epoch 1 is not trained again
    resumed = final_hashes(out)
    assert resumed[0] == resumed[1]
    assert resumed[0] == straight[0], "a resumed run must end with the weights of an uninterrupted one"
    assert torch.load(ckpt, weights_only=False)["step"] == 2 * STEPS_PER_EPOCH
