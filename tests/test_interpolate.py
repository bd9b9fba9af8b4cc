"""`interpolate` in specs: resizing to another tensor's spatial size keeps symbolic dims exact (the static shape is
the runtime shape for odd and even sizes), the generated model equals F.interpolate written by hand, and misuse
is a located error."""
import pytest
import torch
import torch.nn.functional as F

import archdsl
from archdsl.errors import ArchDSLError
from tests.helpers import assert_static_equals_runtime

# a segmentation-style head: stride-2 features, resized back to the input (an odd H gives ceil(H/2) there)
HEAD = """\
name: head
inputs:
  x: [N, 3, H, W]
layers:
  down: conv2d(4, 3, stride=2, padding=1)
forward: |
  y = down(x)
  interpolate(y, x, mode='bilinear'), interpolate(y, size=(5, 7)), interpolate(y, x, mode='bicubic', align_corners=true)
"""


def test_resize_to_a_tensor_keeps_the_symbolic_size(write_spec):
    spec = archdsl.load(write_spec(HEAD))
    shapes = [[str(d) for d in spec.graph.shape(t)] for t in spec.graph.outputs[spec.name]]
    assert shapes == [["N", "4", "H", "W"], ["N", "4", "5", "7"], ["N", "4", "H", "W"]]
    for h, w in [(1, 1), (7, 10), (16, 9)]:
        assert_static_equals_runtime(spec, N=2, H=h, W=w)


def test_generated_model_equals_f_interpolate(write_spec):
    net = archdsl.load(write_spec(HEAD)).build().eval()
    x = torch.randn(2, 3, 11, 8)
    y = net.down(x)
    want = (F.interpolate(y, size=(11, 8), mode="bilinear", align_corners=False),
            F.interpolate(y, size=(5, 7)),
            F.interpolate(y, size=(11, 8), mode="bicubic", align_corners=True))
    with torch.no_grad():
        got = net(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("call, words", [
    ("interpolate(y, mode='bilinear')", "needs the output size"),
    ("interpolate(y, x, size=4)", "not both"),
    ("interpolate(y, x, mode='linear')", "rank-3 input"),
    ("interpolate(y, x, align_corners=true)", "takes no align_corners"),
    ("interpolate(y, size=(4, 4, 4))", "needs 2 values"),
    ("interpolate(y, flatten(x))", "a tensor of the input's rank 4"),
    ("interpolate(y, size=0)", "at least 1"),
])
def test_misuse_is_a_located_error(write_spec, call, words):
    path = write_spec(HEAD.replace(HEAD.splitlines()[-1], f"  {call}"))
    with pytest.raises(ArchDSLError) as err:
        archdsl.load(path).check()
    rendered = err.value.render()
    assert words in rendered and rendered.startswith(f"{path}:8:"), rendered  # the call's line
