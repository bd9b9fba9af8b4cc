"""The CNN zoo specs (AlexNet, VGG, ResNet, ZFNet) against torchvision's models.

For every torchvision model in tests/data/torchvision_state_dicts.json (GoogLeNet aside) the matching
spec must build a module with the same parameter count, the same state_dict keys and shapes, that loads
a reference-shaped state_dict strictly. Models are built on the meta device (no weight allocation, no
init); loading the state_dict with `assign=True` then gives them real tensors, so a few can also run.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archdsl
from archdsl import ArchDSLError
from tests.helpers import assert_static_equals_runtime, reference, spec_path

# torchvision model name -> (spec, params)
MODELS = {
    "alexnet": ("alexnet", {}),
    **{f"vgg{d}": ("vgg", {"depth": d}) for d in (11, 13, 16, 19)},
    **{f"vgg{d}_bn": ("vgg", {"depth": d, "batch_norm": True}) for d in (11, 16, 19)},
    **{f"resnet{d}": ("resnet", {"depth": d}) for d in (18, 34, 50, 101, 152)},
}
FORWARD = {"alexnet", "vgg11", "resnet18", "resnet50"}  # the cheap ones run a [1, 3, 224, 224] input

# torchvision's published multiply-add counts (GMACs for one 224x224 image)
MACS = {"resnet50": 4.089e9, "alexnet": 0.714e9, "vgg16": 15.47e9}


def load(model: str, **dims) -> archdsl.Spec:
    spec, params = MODELS[model]
    return archdsl.load(spec_path(spec), **params, **dims)


def random_state_dict(ref: list) -> dict:
    """Random tensors with the reference's keys and shapes (BatchNorm's step counters are integers)."""
    gen = torch.Generator().manual_seed(0)
    return {key: torch.zeros(shape, dtype=torch.long) if key.endswith("num_batches_tracked")
            else torch.randn(shape, generator=gen)
            for key, shape in ref}


def test_every_reference_model_has_a_spec():
    import json

    from tests.helpers import REFERENCE

    assert set(json.loads(REFERENCE.read_text())) - {"googlenet"} == set(MODELS)


@pytest.mark.parametrize("model", list(MODELS))
def test_state_dict_matches_torchvision(model):
    ref = reference(model)
    spec = load(model)
    with torch.device("meta"):
        net = spec.build()
    assert sum(p.numel() for p in net.parameters()) == ref["num_params"]
    assert spec.summary().params == ref["num_params"]
    got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert got == [(k, list(s)) for k, s in ref["state_dict"]]
    net.load_state_dict(random_state_dict(ref["state_dict"]), strict=True, assign=True)
    assert all(not t.is_meta for t in net.state_dict().values())
    if model in FORWARD:
        with torch.no_grad():
            out = net.eval()(torch.randn(ref["input"]))
        assert list(out.shape) == ref["output"]


@pytest.mark.parametrize("model", list(MODELS))
def test_static_output_shape(model):
    ref = reference(model)
    spec = load(model, N=ref["input"][0])
    assert [list(s) for s in spec.input_shapes()] == [ref["input"]]
    out = spec.graph.node(spec.graph.outputs[spec.models[0]].node)["shape"]
    assert list(out) == ref["output"]


@pytest.mark.parametrize("model", list(MACS))
def test_macs(model):
    macs = load(model, N=1).summary().macs
    assert macs == pytest.approx(MACS[model], rel=1e-3)


@pytest.mark.parametrize("spec,params", [
    ("resnet", {"depth": 18}),
    ("resnet", {"depth": 50}),
    ("vgg", {"depth": 11, "batch_norm": True}),
    ("alexnet", {"variant": "torchvision"}),
    ("alexnet", {"variant": "paper"}),
    ("zfnet", {}),
], ids=["resnet18", "resnet50", "vgg11_bn", "alexnet", "alexnet_paper", "zfnet"])
def test_static_shapes_equal_runtime(spec, params):
    torch.manual_seed(0)
    assert_static_equals_runtime(archdsl.load(spec_path(spec), **params), N=2)


def feature_sizes(spec: archdsl.Spec) -> list:
    """(channels, height) after each conv and pool of `features`."""
    return [(r.shape[1], r.shape[2]) for r in spec.summary()
            if r.name.startswith("features.") and r.op in ("conv2d", "maxpool2d")]


def test_alexnet_paper_follows_the_paper():
    spec = archdsl.load(spec_path("alexnet"), variant="paper")
    assert [list(s) for s in spec.input_shapes()][0][1:] == [3, 227, 227]
    assert feature_sizes(spec) == [(96, 55), (96, 27), (256, 27), (256, 13), (384, 13), (384, 13),
                                   (256, 13), (256, 6)]
    assert sum(r.op == "local_response_norm" for r in spec.summary()) == 2
    assert spec.summary().params == 62_378_344


def test_zfnet_follows_figure_3():
    spec = archdsl.load(spec_path("zfnet"))
    assert feature_sizes(spec) == [(96, 110), (96, 55), (256, 26), (256, 13), (384, 13), (384, 13),
                                   (256, 13), (256, 6)]
    assert [r.shape[1] for r in spec.summary() if r.op == "linear"] == [4096, 4096, 1000]


@pytest.mark.parametrize("spec,param,value", [("resnet", "depth", 20), ("vgg", "depth", 12),
                                              ("alexnet", "variant", "caffe")])
def test_unsupported_choice_is_a_located_error(spec, param, value):
    path = spec_path(spec)
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path, **{param: value}).check()
    span = info.value.span
    assert span is not None and Path(span.file).resolve() == Path(path).resolve()
    line = Path(path).read_text().splitlines()[span.line - 1]
    assert param in line[span.col - 1:span.col - 1 + span.length]
