"""Resizing (family `resize`): `interpolate`, F.interpolate to a static size or to another tensor's spatial size
(a segmentation head's logits upsampled to the input image, a pooled branch spread back over the feature map)."""
from __future__ import annotations

from ..dims import fmt_shape
from ..errors import ShapeRuleError
from ._util import expect_rank, per_dim
from .dtypes import FLOAT
from .registry import Param, register

# the input rank each mode takes (F.interpolate: [N, C, L], [N, C, H, W] or [N, C, D, H, W])
MODE_RANKS = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")  # the modes that take align_corners


def _interpolate_shape(a, ins):
    x = ins[0]
    expect_rank(f"interpolate(mode='{a.mode}')", x, MODE_RANKS[a.mode])
    if a.align_corners and a.mode not in INTERPOLATING:
        raise ShapeRuleError(f"`interpolate` mode '{a.mode}' takes no align_corners",
                             hint=f"align_corners applies to the modes {', '.join(INTERPOLATING)}")
    if len(ins) == 1:
        if a.size is None:
            raise ShapeRuleError("`interpolate` needs the output size: `size=` or a tensor whose spatial size to take",
                                 hint="interpolate(x, size=(h, w)), or interpolate(x, like) for like's H, W")
        return (*x[:2], *per_dim("interpolate", a, "size", len(x) - 2))
    like = ins[1]
    if a.size is not None:
        raise ShapeRuleError("`interpolate` takes its size from the second tensor or from `size=`, not both",
                             hint="drop `size=`, or the second tensor")
    if len(like) != len(x):
        raise ShapeRuleError(f"`interpolate` takes the spatial size of a tensor of the input's rank {len(x)}, "
                             f"got {fmt_shape(like)} for the input {fmt_shape(x)}")
    return (*x[:2], *like[2:])


register(
    name="interpolate", family="resize",
    doc="Resample the spatial dims to a size (F.interpolate): `interpolate(x, size=(h, w))`, or "
        "`interpolate(x, like)` to the spatial size of the tensor `like` (torchvision's segmentation heads: "
        "`F.interpolate(x, size=like.shape[-2:], mode='bilinear', align_corners=False)`).",
    params=(Param("size", "ints", None, min=1, doc="the output's spatial size, one int or one per spatial dim; "
                  "None with a second tensor"),
            Param("mode", "str", "nearest", choices=tuple(MODE_RANKS),
                  doc="linear takes [N, C, L]; bilinear and bicubic [N, C, H, W]; trilinear [N, C, D, H, W]"),
            Param("align_corners", "bool", False, doc="the interpolating modes only")),
    inputs=(1, 2), inline_only=True,
    shape=_interpolate_shape,
    dtypes=lambda a, ins: FLOAT(a, ins[:1]),  # the second tensor gives its size only
    shape_doc="[N, C, *S] -> [N, C, *size]; with a second tensor [N, C, *S] -> [N, C, *S'] for like = [N, C', *S']",
)
