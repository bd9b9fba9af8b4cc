"""GoogLeNet (paper and torchvision variants), LeNet-5, the MLP and the stride/padding spec, end to end.

GoogLeNet's torchvision variant is compared with torchvision's output in tests/specs/test_cnn_parity.py, its
quirks here; the paper variant against Table 1 of Szegedy et al. (2015). Every spec's static shapes are
compared with the shapes PyTorch produces at every node.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl import ArchDSLError
from tests.helpers import assert_static_equals_runtime, spec_path

INCEPTIONS = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
# Table 1 of the paper: output size (channels, height = width) of each inception module for a 224x224 input
TABLE1_INCEPTION = [(256, 28), (480, 28), (512, 14), (512, 14), (512, 14), (528, 14), (832, 14), (832, 7),
                    (1024, 7)]


def googlenet(**params) -> archdsl.Spec:
    return archdsl.load(spec_path("googlenet"), **params)


def output_shapes(spec: archdsl.Spec) -> list:
    out = spec.graph.outputs[spec.models[0]]
    tensors = out if isinstance(out, (list, tuple)) else [out]
    return [list(spec.graph.node(t.node).meta.shape) for t in tensors]


# --- GoogLeNet, torchvision variant (its state_dict, output and MACs: tests/specs/test_cnn_parity.py) ---------------

def test_googlenet_torchvision_keeps_its_quirks():
    # torchvision/models/googlenet.py: Inception's branch3 is a 3x3 conv, maxpool4 is MaxPool2d(2, 2,
    # ceil_mode=True), Dropout(p=0.2), BasicConv2d has a bias-free conv and BatchNorm2d(eps=0.001)
    with torch.device("meta"):
        net = googlenet(variant="torchvision").build()
    assert net.inception3a.branch3[1].conv.kernel_size == (3, 3)  # the "5x5" branch is a 3x3 in torchvision
    assert net.maxpool4.kernel_size == 2 and net.maxpool4.ceil_mode
    assert net.dropout.p == 0.2
    assert net.conv1.bn.eps == 0.001 and net.conv1.conv.bias is None


def test_googlenet_torchvision_aux_uses_torchvision_names():
    spec = googlenet(variant="torchvision", aux_logits=True, N=1)
    assert output_shapes(spec) == [[1, 1000]] * 3
    with torch.device("meta"):
        keys = {k: list(v.shape) for k, v in spec.build().state_dict().items()}
    # torchvision's InceptionAux: 1x1 conv to 128 on 4a's 512 and 4d's 528 channels, fc1 2048 -> 1024, fc2 -> 1000
    assert keys["aux1.conv.conv.weight"] == [128, 512, 1, 1]
    assert keys["aux2.conv.conv.weight"] == [128, 528, 1, 1]
    assert keys["aux1.fc1.weight"] == [1024, 2048] and keys["aux2.fc2.weight"] == [1000, 1024]


# --- GoogLeNet, the paper's network --------------------------------------------------------------------------------

def test_googlenet_default_is_the_paper():
    spec = googlenet()
    assert sum(r.op == "local_response_norm" for r in spec.summary()) == 2  # Figure 3's two; only the paper has LRN
    assert not any(r.op == "local_response_norm" for r in googlenet(variant="torchvision").summary())
    assert output_shapes(googlenet(N=4)) == [[4, 1000]]


def test_googlenet_paper_follows_table_1():
    shapes = googlenet(N=1).check()
    got = [(shapes[f"inception{i}.concat"][1], shapes[f"inception{i}.concat"][2]) for i in INCEPTIONS]
    assert got == TABLE1_INCEPTION
    assert [c for c, _ in got] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    # the stem: conv 7x7/2, max pool, conv 3x3 (after its 1x1 reduce), max pool; avg pool 7x7 to 1x1
    assert shapes["conv1.conv"] == (1, 64, 112, 112)
    assert shapes["maxpool1"] == (1, 64, 56, 56)
    assert shapes["conv2.conv"] == (1, 64, 56, 56)
    assert shapes["conv3.conv"] == (1, 192, 56, 56)
    assert shapes["maxpool2"] == (1, 192, 28, 28)
    assert shapes["maxpool3"] == (1, 480, 14, 14)
    assert shapes["maxpool4"] == (1, 832, 7, 7)
    assert shapes["avgpool"] == (1, 1024, 1, 1)


def test_googlenet_paper_layers():
    with torch.device("meta"):
        net = googlenet().build()
    # Szegedy et al. 2015, Table 1: the "#5x5" branch, max pool 3x3/2 before 5a, dropout (40%)
    assert net.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert net.maxpool4.kernel_size == 3
    assert net.dropout.p == 0.4
    assert net.conv1.conv.bias is not None and not hasattr(net.conv1, "bn")


def test_googlenet_paper_aux_logits():
    spec = googlenet(aux_logits=True)
    shapes = spec.check()
    # Szegedy et al. 2015, Section 5: "an average pooling layer with 5x5 filter size and stride 3, resulting in
    # an 4x4x512 output for the (4a), and 4x4x528 for the (4d) stage"
    assert shapes["aux1.pool"][1:] == (512, 4, 4)   # avg pool 5x5/3 on 4a's 14x14x512
    assert shapes["aux2.pool"][1:] == (528, 4, 4)   # ... and on 4d's 14x14x528
    torch.manual_seed(0)
    net = spec.build().eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 224, 224))
    assert isinstance(out, tuple) and [list(o.shape) for o in out] == [[2, 1000]] * 3
    # each (Section 5): conv 1x1 128 (with bias), fc 2048 (= 128 * 4 * 4) -> 1024, linear 1024 -> 1000
    aux = sum((c * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000) for c in (512, 528))
    assert spec.summary().params == googlenet().summary().params + aux


def test_googlenet_num_classes():
    assert output_shapes(googlenet(num_classes=10, aux_logits=True, N=1)) == [[1, 10]] * 3   # main + 2 aux heads


def test_googlenet_unknown_variant_is_a_located_error():
    path = spec_path("googlenet")
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path, variant="caffe").check()
    span = info.value.span
    assert span is not None and Path(span.file).resolve() == Path(path).resolve()
    line = Path(path).read_text().splitlines()[span.line - 1]
    assert "variant" in line[span.col - 1:span.col - 1 + span.length]


# --- static shapes equal PyTorch's at every node -------------------------------------------------------------------

@pytest.mark.parametrize("name,params", [
    ("googlenet", {}),
    ("googlenet", {"aux_logits": True}),
    ("googlenet", {"variant": "torchvision"}),
    ("googlenet", {"variant": "torchvision", "aux_logits": True}),
    ("lenet5", {}),
    ("mlp", {}),
    ("mlp", {"hidden": [64, 32], "activation": "tanh"}),
    ("conv_basics", {}),
], ids=["googlenet", "googlenet_aux", "googlenet_tv", "googlenet_tv_aux", "lenet5", "mlp", "mlp_tanh",
        "conv_basics"])
def test_static_shapes_equal_runtime(name, params):
    torch.manual_seed(0)
    assert_static_equals_runtime(archdsl.load(spec_path(name), **params), N=2)


# --- LeNet-5 -------------------------------------------------------------------------------------------------------

def test_lenet5_follows_the_paper():
    spec = archdsl.load(spec_path("lenet5"), N=1)
    shapes = spec.check()
    # LeCun et al. 1998, Section II.B: C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120, F6 84, 10 outputs
    assert [shapes[n] for n in ("c1", "s2", "c3", "s4", "c5", "f6", "output")] == [
        (1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 120, 1, 1), (1, 84), (1, 10)]
    # C3 fully connected to S2 (2,416 weights + biases instead of the paper's 1,516 trainable parameters)
    assert spec.summary().params == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (120 * 16 * 25 + 120) + (120 * 84 + 84) \
        + (84 * 10 + 10) == 61_706
    assert sum(r.op == "tanh" for r in spec.summary()) == 4   # after C1, C3, C5 and F6 (the spec's squashing)


# --- MLP -----------------------------------------------------------------------------------------------------------

def mlp_params(widths: list) -> int:
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def test_mlp_default():
    spec = archdsl.load(spec_path("mlp"), N=1)
    assert output_shapes(spec) == [[1, 10]]
    assert spec.summary().params == mlp_params([784, 512, 256, 128, 10])
    assert [r.op for r in spec.summary()] == ["linear", "relu"] * 3 + ["linear"]


def test_mlp_hidden_list_override():
    hidden = [1024, 1024, 512, 256, 64]
    spec = archdsl.load(spec_path("mlp"), hidden=hidden, in_features=100, num_classes=3, activation="gelu", N=1)
    assert [r.shape[-1] for r in spec.summary() if r.op == "linear"] == hidden + [3]
    assert spec.summary().params == mlp_params([100, *hidden, 3])
    assert sum(r.op == "gelu" for r in spec.summary()) == len(hidden)
    with torch.device("meta"):
        keys = list(spec.build().state_dict())
    assert keys[:2] == ["features.0.weight", "features.0.bias"] and keys[-1] == "classifier.bias"


def test_mlp_unknown_activation_is_a_located_error():
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(spec_path("mlp"), activation="swish").check()
    assert info.value.span is not None and info.value.span.line > 1


# --- stride and padding ----------------------------------------------------------------------------------------------

def out_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """floor((n + 2p - k) / s) + 1, the formula stated at the top of specs/conv_basics.yaml."""
    return math.floor((n + 2 * p - k) / s) + 1


def documented_sizes() -> dict:
    """layer name -> the size stated at the end of its line in the spec (`conv2: ...  # ... -> 24x24`)."""
    found = (re.match(r"\s*(\w+): .*#.*-> (\d+)x(\d+)\s*$", line)
             for line in Path(spec_path("conv_basics")).read_text().splitlines())
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in found if m}


def test_conv_basics_sizes_follow_the_formula():
    n = 28
    same = out_size(n, 3, 1, (3 - 1) // 2)       # SAME at stride 1 keeps the size
    valid = out_size(same, 5)                   # VALID: n - k + 1
    pooled = out_size(valid, 2, 2)
    strided_same = out_size(pooled, 3, 2, 1)    # SAME at stride 2, padding written out: ceil(n / 2)
    strided_valid = out_size(strided_same, 3, 2)
    expected = {"conv1": same, "conv2": valid, "pool1": pooled, "conv3": strided_same, "conv4": strided_valid}
    assert list(expected.values()) == [28, 24, 12, 6, 2]
    assert same == n and valid == n - 5 + 1 and strided_same == math.ceil(pooled / 2)

    shapes = archdsl.load(spec_path("conv_basics"), N=1).check()
    assert {k: shapes[k][2:] for k in expected} == {k: (v, v) for k, v in expected.items()}
    assert documented_sizes() == {k: (v, v) for k, v in expected.items()}


def test_conv_basics_same_padding_needs_stride_1(tmp_path):
    path = tmp_path / "same_stride2.yaml"
    path.write_text("inputs:\n  x: [N, 1, 28, 28]\nlayers:\n  conv: conv2d(8, 3, stride=2, padding='same')\n"
                      "forward: |\n  conv(x)\n")
    with pytest.raises(ArchDSLError, match="stride 1"):
        archdsl.load(str(path)).check()
