"""The CNN zoo specs (AlexNet, VGG, ResNet, GoogLeNet) against torchvision's models.

For every torchvision model of tests/data/reference/torchvision_zoo.json that a zoo spec builds, the spec
must give the same state_dict keys and shapes, the same output on the reference's deterministic weights
and input (fingerprint.py, relative difference at most 1e-4), and torchvision's published multiply-add
count. Models for the key/shape checks are built on the meta device (no weight allocation).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl import ArchDSLError
from tests.helpers import assert_static_equals_runtime, spec_path
from tests.reference import DEFAULT, MODELS, SLOW, compare, load, zoo

FAMILIES = re.compile(r"alexnet|vgg\d+(_bn)?|resnet\d+|googlenet")  # the families the zoo has specs for


def slow_unless_default(model: str):
    return pytest.param(model, marks=pytest.mark.skipif(
        model not in DEFAULT and not SLOW, reason="slow on CPU; run with ARCHDSL_SLOW_TESTS=1"))


def test_every_reference_model_of_a_zoo_family_has_a_spec():
    assert {m for m in zoo() if FAMILIES.fullmatch(m)} == set(MODELS)


@pytest.mark.parametrize("model", [slow_unless_default(m) for m in MODELS])
def test_output_matches_torchvision(model):
    ok, diff = compare(model)
    assert ok, f"{model}: the output differs from torchvision's: {diff}"


@pytest.mark.parametrize("model", list(MODELS))
def test_state_dict_matches_torchvision(model):
    ref = zoo()[model]
    spec = load(model)
    with torch.device("meta"):
        net = spec.build()
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == list(ref["state_dict"].items())
    assert sum(p.numel() for p in net.parameters()) == ref["num_params"] == spec.summary().params


@pytest.mark.parametrize("model", list(MODELS))
def test_static_shapes_match_the_reference(model):
    ref = zoo()[model]
    spec = load(model, N=ref["input_shape"][0])
    assert [list(s) for s in spec.input_shapes()] == [ref["input_shape"]]
    out = spec.graph.node(spec.graph.outputs[spec.models[0]].node).meta.shape
    assert list(out) == ref["fingerprint"]["shape"]


@pytest.mark.parametrize("model", list(MODELS))
def test_macs_equal_torchvision_published(model):
    """torchvision publishes `_ops` (G multiply-adds for one image) to 3 decimals: ours must round to it."""
    macs = load(model, N=1).summary().macs
    assert round(macs / 1e9, 3) == zoo()[model]["published"]["_ops"]


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
    """Krizhevsky et al. 2012, Section 3.5 and Figure 2 (both GPUs' halves together, no grouping)."""
    spec = archdsl.load(spec_path("alexnet"), variant="paper")
    assert [list(s) for s in spec.input_shapes()][0][1:] == [3, 227, 227]  # 227: see the comment in the spec
    assert feature_sizes(spec) == [(96, 55), (96, 27), (256, 27), (256, 13), (384, 13), (384, 13),
                                   (256, 13), (256, 6)]
    assert sum(r.op == "local_response_norm" for r in spec.summary()) == 2  # after conv1 and conv2 (3.3)
    convs = [(11, 3, 96), (5, 96, 256), (3, 256, 384), (3, 384, 384), (3, 384, 256)]  # (kernel, in, out)
    fcs = [(6 * 6 * 256, 4096), (4096, 4096), (4096, 1000)]
    assert spec.summary().params == sum(k * k * i * o + o for k, i, o in convs) + sum(i * o + o for i, o in fcs)


def test_zfnet_follows_figure_3():
    """Zeiler & Fergus 2014, Figure 3: each layer's depth and size for a 224x224 input."""
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
