"""A block reads its input's sizes in `let` and `layers:` (`x.shape[1]`): MobileNetV2's inverted residual
against a hand-written torch module (torchvision's layout)."""
import textwrap

import pytest
import torch
from torch import nn

import archdsl
from archdsl.testing import from_text
from tests.helpers import assert_static_equals_runtime

SPEC = """\
inputs: {x: [N, 8, 10, 10]}
blocks:
  InvertedResidual(oup, stride=1, expand_ratio=6):
    let:
      hidden: "round(x.shape[1] * expand_ratio)"
      use_res: "stride == 1 and x.shape[1] == oup"
    layers:
      conv: "[conv2d(hidden, 1, bias=false), batchnorm2d(), relu] if expand_ratio != 1"
      dw: conv2d(hidden, 3, stride=stride, padding=1, groups=hidden, bias=false)
      project: conv2d(oup, 1, bias=false)
    forward: |
      y = dw(conv(x) if expand_ratio != 1 else x) >> project
      x + y if use_res else y
layers:
  b1: InvertedResidual(8)
  b2: InvertedResidual(16, stride=2)
  b3: InvertedResidual(16, expand_ratio=1)
forward: |
  x >> b1 >> b2 >> b3
"""


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride=1, expand_ratio=6):
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res = stride == 1 and inp == oup
        if expand_ratio != 1:
            self.conv = nn.Sequential(nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU())
        self.dw = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.project = nn.Conv2d(hidden, oup, 1, bias=False)

    def forward(self, x):
        y = self.project(self.dw(self.conv(x) if hasattr(self, "conv") else x))
        return x + y if self.use_res else y


def test_depthwise_groups_from_the_input_channels():
    spec = from_text(SPEC, "mb.yaml", N=2)
    model = spec.build().eval()
    ref = nn.Sequential(InvertedResidual(8, 8), InvertedResidual(8, 16, 2), InvertedResidual(16, 16, 1, 1)).eval()
    mine, theirs = model.state_dict(), ref.state_dict()
    assert [v.shape for v in mine.values()] == [v.shape for v in theirs.values()]
    assert [k.split(".", 1)[1] for k in mine] == [k.split(".", 1)[1] for k in theirs]
    assert (model.b1.dw.groups, model.b2.dw.groups, model.b3.dw.groups) == (48, 48, 16)
    ref.load_state_dict(dict(zip(theirs, mine.values())))
    x = torch.randn(2, 8, 10, 10)
    torch.testing.assert_close(model(x), ref(x))
    assert spec.summary().params == sum(p.numel() for p in ref.parameters())
    assert "hidden = round(in_channels * expand_ratio)" in spec.source
    assert_static_equals_runtime(spec, N=2)


@pytest.mark.parametrize("old, new, words", [
    ("round(x.shape[1] * expand_ratio)", "round(x.shape[4] * expand_ratio)", "index 4 is out of range"),
    ("round(x.shape[1] * expand_ratio)", "round(y.shape[1] * expand_ratio)", "`y` is not defined"),
    ("round(x.shape[1] * expand_ratio)", "round(x.size * expand_ratio)", "has no attribute `size`"),
    ("y = dw(", "z = x.shape[1]\n      y = dw(", "a tensor has no attribute `shape` in `forward`"),
])
def test_input_size_errors(old, new, words):
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(textwrap.dedent(SPEC.replace(old, new)), "bad.yaml").check()
    assert words in info.value.message, info.value.render()
