"""Train an image-classification zoo spec with DistributedDataParallel on scikit-learn's handwritten digits.

    torchrun --standalone --nproc_per_node=2 examples/train_ddp.py specs/lenet5.yaml --epochs 5
    torchrun --standalone --nproc_per_node=2 examples/train_ddp.py specs/mlp.yaml -D hidden=[128]
    python examples/train_ddp.py specs/conv_basics.yaml          # one process, no torch.distributed

The 1797 8x8 digits are resized to the spec's input (H x W, repeated over C channels; a flat input of F
features takes a sqrt(F) x sqrt(F) image) and split 1500 / 297 into training and test sets. Each process sees
its own shard of every epoch (DistributedSampler); gradients are averaged by DDP (gloo on CPU, nccl on CUDA).

Checkpoint: rank 0 writes --checkpoint (default out/ddp/<spec>.pt) after every epoch: the weights, the
optimizer's state, the epoch and the global step. A run finding that file resumes after its epoch, so
`--epochs 2` after a finished `--epochs 1` continues from the saved step, with the same data order, as if it
had not stopped. --fresh ignores the file.

GPU: `--device cuda` (the default when CUDA is present) builds the model on the device, uses channels_last
for 2d convolutions and bf16 autocast (AMP; `--no-amp` turns it off, `--amp` turns it on on CPU too).

At the end every rank prints `rank R: step S weights <sha256>`: the hash of its parameters and buffers, the
same on every rank. Needs the `examples` extra (scikit-learn): pip install -e ".[examples]"
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import archdsl  # noqa: E402
from archdsl.cli.options import define  # noqa: E402  (-D NAME=VALUE, parsed as the CLI does)
from ddp_common import load_checkpoint, log, save_checkpoint, setup, state_hash, wrap  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", default=str(ROOT / "specs" / "lenet5.yaml"))
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--epochs", type=int, default=5, help="train until this many epochs are done in all")
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--limit", type=int, default=0, help="use only this many training images (0: all 1500)")
    p.add_argument("--checkpoint", help="checkpoint file (default out/ddp/<spec name>.pt)")
    p.add_argument("--fresh", action="store_true", help="start over even if the checkpoint exists")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    amp = p.add_mutually_exclusive_group()
    amp.add_argument("--amp", dest="amp", action="store_true", default=None, help="bf16 autocast")
    amp.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# --- data -----------------------------------------------------------------------------------------------------------

def digits(test_size: int = 297):
    """The digits as [n, 1, 8, 8] floats in [0, 1] and labels; a fixed split (the last `test_size` for testing)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    gen = torch.Generator().manual_seed(1234)
    order = torch.randperm(len(y), generator=gen)
    x, y = x[order], y[order]
    return TensorDataset(x[:-test_size], y[:-test_size]), TensorDataset(x[-test_size:], y[-test_size:])


def adapter(shape):
    """A function from [n, 1, 8, 8] digit batches to the spec's input shape [N, C, H, W] or [N, F]."""
    dims = list(shape[1:])
    if not all(isinstance(d, int) for d in dims):
        raise SystemExit(f"the input {list(shape)} has symbolic dims besides N: fix them with -D")
    if len(dims) == 3:
        c, h, w = dims

        def to_image(x):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            return x.expand(-1, c, -1, -1).contiguous()
        return to_image
    if len(dims) == 1 and math.isqrt(dims[0]) ** 2 == dims[0]:
        side = math.isqrt(dims[0])
        return lambda x: F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False).flatten(1)
    raise SystemExit(f"cannot feed digits to an input of shape {list(shape)}: expected [N, C, H, W] or [N, F] "
                     "with F a square")


# --- distributed set-up -----------------------------------------------------------------------------------------------

def sync_buffers(model, distributed: bool) -> None:
    """BatchNorm running stats are updated locally in each forward: take rank 0's, so all ranks agree."""
    if distributed:
        for b in model.buffers():
            dist.broadcast(b, src=0)


# --- training ---------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    distributed, rank, world, device = setup(args.device)
    params = dict(define(d) for d in args.defines)
    spec = archdsl.load(args.spec, **params)
    if "num_classes" in spec.doc.params and "num_classes" not in params:
        params["num_classes"] = 10
        spec = archdsl.load(args.spec, **params)
    spec.check()
    out_shape = spec.graph.node(_first_output(spec)).meta.shape
    if out_shape[-1] != 10:
        raise SystemExit(f"{args.spec}: the model gives {out_shape[-1]} outputs; digits have 10 classes "
                         "(set the spec's number of classes with -D)")
    to_input = adapter(spec.input_shapes()[0])

    amp = args.amp if args.amp is not None else device.type == "cuda"
    torch.manual_seed(args.seed)                        # the same initial weights on every rank
    probe = spec.build()
    channels_last = device.type == "cuda" and len(spec.input_shapes()[0]) == 4 and \
        any(isinstance(m, torch.nn.Conv2d) for m in probe.modules())
    del probe
    torch.manual_seed(args.seed)
    model = spec.build(device=device, channels_last=channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    checkpoint = Path(args.checkpoint or ROOT / "out" / "ddp" / f"{spec.name}.pt")
    start_epoch, step = 0, 0
    state = load_checkpoint(checkpoint, model, optimizer, args.fresh, {"spec": spec.name, "params": params})
    if state is not None:
        start_epoch, step = state["epoch"], state["step"]
        log(rank, f"resumed from {checkpoint}: epoch {start_epoch} done, step {step}")
    ddp = wrap(model, device, distributed)

    train_set, test_set = digits()
    if args.limit:
        train_set = TensorDataset(*(t[:args.limit] for t in train_set.tensors))
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed) \
        if distributed else None
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None,
                        generator=torch.Generator().manual_seed(args.seed), drop_last=False)
    log(rank, f"{spec.name}: {sum(p.numel() for p in model.parameters()):,} parameters, {world} process(es) on "
              f"{device.type}, {len(loader)} steps per epoch of {args.batch_size} images each, amp "
              f"{'bf16' if amp else 'off'}{', channels_last' if channels_last else ''}")

    for epoch in range(start_epoch, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)                     # a new shuffle each epoch, the same on every rank
        else:
            loader.generator.manual_seed(args.seed + epoch)
        torch.manual_seed(args.seed * 1000 + epoch * world + rank)   # dropout: the same after a resume
        ddp.train()
        t0, total, seen = time.perf_counter(), 0.0, 0
        for x, y in loader:
            x = to_input(x).to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = ddp(x)
                logits = out[0] if isinstance(out, (tuple, list)) else out
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            total += loss.item() * len(y)
            seen += len(y)
            if step % 20 == 0:
                log(rank, f"step {step} loss {loss.item():.4f}")
        sync_buffers(model, distributed)
        acc = evaluate(model, test_set, to_input, device, channels_last, amp, rank, world, distributed)
        log(rank, f"epoch {epoch + 1}/{args.epochs}: step {step}, train loss {total / max(seen, 1):.4f}, "
                  f"test accuracy {acc:.3f}, {time.perf_counter() - t0:.1f} s")
        if rank == 0:
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                             "step": step, "spec": spec.name, "params": params, "world_size": world,
                             "accuracy": acc}, checkpoint)
        if distributed:
            dist.barrier()
    log(rank, f"step {step} weights {state_hash(model)}", all_ranks=True)
    if distributed:
        dist.destroy_process_group()
    return 0


def evaluate(model, test_set, to_input, device, channels_last, amp, rank, world, distributed) -> float:
    """Accuracy on the test set, each rank taking every world-th image, summed over ranks."""
    model.eval()
    x_all, y_all = test_set.tensors
    correct = torch.zeros(2, dtype=torch.float64, device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for i in range(rank * 64, len(y_all), 64 * world):
            x = to_input(x_all[i:i + 64]).to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = model(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            correct[0] += (logits.argmax(1).cpu() == y_all[i:i + 64]).sum().item()
            correct[1] += len(x)
    if distributed:
        dist.all_reduce(correct)
    model.train()
    return (correct[0] / correct[1]).item()


def _first_output(spec) -> str:
    out = spec.graph.outputs[spec.models[0]]
    while isinstance(out, (list, tuple)):
        out = out[0]
    return out.node


if __name__ == "__main__":
    sys.exit(main())
