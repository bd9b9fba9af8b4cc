"""Convolutions: nn.Conv1d/2d/3d, nn.ConvTranspose2d, with in_channels from the input shape."""
from __future__ import annotations

from ._source import src_args
from .table import lower

_CONV_KW = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
_CONVT_KW = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1}

for _n in (1, 2, 3):
    lower(f"conv{_n}d", init=lambda a, ins, n=_n: "nn.Conv{}d({})".format(
        n, src_args(a, ("out_channels", "kernel_size"), _CONV_KW, first=(ins[0][1],))))

lower("conv_transpose2d", init=lambda a, ins: "nn.ConvTranspose2d({})".format(
    src_args(a, ("out_channels", "kernel_size"), _CONVT_KW, first=(ins[0][1],))))
