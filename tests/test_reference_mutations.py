"""The reference tests catch a wrong model: each behaviour-changing edit of a zoo spec below keeps the spec
valid (same shapes, same state_dict) but must make its output differ from torchvision's."""
from __future__ import annotations

import pytest

from tests.reference import MODELS, compare
from tests.helpers import copy_libraries, spec_path

# (torchvision model, text in its spec, replacement, how many times the text occurs)
MUTATIONS = {
    "resnet34: no ReLU after the basic block's add": (
        "resnet34", "relu(y + (downsample(x) if project else x))", "y + (downsample(x) if project else x)", 2),
    "resnet50: no ReLU after the bottleneck's add": (
        "resnet50", "relu(y + (downsample(x) if project else x))", "y + (downsample(x) if project else x)", 2),
    "googlenet: ReLU before batch norm in BasicConv2d": (
        "googlenet", "relu(bn(y) if use_bn else y)", "bn(relu(y)) if use_bn else relu(y)", 1),
    "vgg16_bn: average instead of max pooling": ("vgg16_bn", "maxpool2d(2, 2)", "avgpool2d(2, 2)", 1),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_reference_comparison_catches(mutation, tmp_path):
    model, old, new, count = MUTATIONS[mutation]
    text = open(spec_path(MODELS[model][0])).read()
    assert text.count(old) == count, f"the spec changed: update the mutation {mutation!r}"
    copy, mutated = tmp_path / "copy.yaml", tmp_path / "mutated.yaml"
    copy.write_text(text)
    copy_libraries(tmp_path)
    mutated.write_text(text.replace(old, new))
    ok, diff = compare(model, copy)
    assert ok, f"the unmutated copy differs from torchvision: {diff}"
    ok, diff = compare(model, mutated)
    assert not ok, f"{mutation}: still matches torchvision ({diff})"
