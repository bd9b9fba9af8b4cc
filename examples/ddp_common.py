"""What the training examples share to run under torchrun unchanged: the process set-up, rank-0 logging, a hash
of the weights (the same on every rank) and an atomic checkpoint write."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.distributed as dist


def setup(device_arg: str):
    """(distributed, rank, world size, device): one process without torchrun's variables; with them, a process
    group (nccl on CUDA, gloo on CPU) and this process's GPU."""
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    rank, world, local = 0, 1, 0
    if distributed:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(device_arg)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return distributed, rank, world, device


def log(rank: int, text: str, all_ranks: bool = False) -> None:
    if rank == 0 or all_ranks:
        print(f"[rank {rank}] {text}", flush=True)


def state_hash(model) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(state: dict, path: Path) -> None:
    """torch.save through a temporary file: never a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, model, optimizer, fresh: bool, key: dict) -> dict | None:
    """The state saved at `path`, loaded into model and optimizer, or None where there is none or `fresh`; a
    checkpoint whose `key` entries (spec, parameters, ...) differ from this run's stops the run."""
    if fresh or not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if any(state[k] != v for k, v in key.items()):
        raise SystemExit(f"{path} was written for another run ({', '.join(f'{k} {state[k]}' for k in key)}); "
                         "use --fresh or another --checkpoint")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state


def wrap(model, device: torch.device, distributed: bool):
    """The model under DistributedDataParallel when distributed, else itself."""
    if not distributed:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                     else None)
