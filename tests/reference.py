"""The torchvision reference (tests/data/reference/): which zoo spec builds which torchvision model, and the
output-level comparison through fingerprint.py."""
from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path

import torch

import archdsl

DIR = Path(__file__).resolve().parent / "data" / "reference"
SLOW = os.environ.get("ARCHDSL_SLOW_TESTS") == "1"

# torchvision model name -> (zoo spec, parameters); the constructor calls are in the reference json
MODELS = {
    "alexnet": ("alexnet", {"variant": "torchvision"}),
    **{f"vgg{d}{bn}": ("vgg", {"depth": d, "batch_norm": bool(bn)}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": ("resnet", {"depth": d}) for d in (18, 34, 50, 101, 152)},
    "googlenet": ("googlenet", {"variant": "torchvision"}),  # googlenet(aux_logits=False, init_weights=False)
}
# run in the default profile; the others (VGG takes 4-5 s each on one CPU core, mostly filling 133M+ weights;
# ResNet-101/152) only with ARCHDSL_SLOW_TESTS=1
DEFAULT = {"alexnet", "vgg16_bn", "resnet18", "resnet34", "resnet50", "googlenet"}


@cache
def fingerprint():
    """tests/data/reference/fingerprint.py, imported by path."""
    spec = importlib.util.spec_from_file_location("archdsl_reference_fingerprint", DIR / "fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def zoo() -> dict:
    return json.loads((DIR / "torchvision_zoo.json").read_text())


def load(model: str, path: str | Path | None = None, **dims) -> archdsl.Spec:
    """The zoo spec of a torchvision model (or the spec file at `path`, e.g. a mutated copy)."""
    spec, params = MODELS[model]
    path = path or Path(__file__).resolve().parent.parent / "specs" / f"{spec}.yaml"
    return archdsl.load(str(path), **params, **dims)


def compare(model: str, path: str | Path | None = None) -> tuple[bool, str]:
    """Build the spec, fill its weights deterministically, run it in eval mode on the reference's input,
    and compare its output's fingerprint with torchvision's: (ok, 'max relative difference ...')."""
    fp, ref = fingerprint(), zoo()[model]
    net = fp.fill_deterministic(load(model, path).build()).eval()
    with torch.no_grad():
        out = net(fp.deterministic_input(ref["input_shape"]))
    return fp.matches(fp.fingerprint_of(out), ref["fingerprint"], rtol=1e-4)
