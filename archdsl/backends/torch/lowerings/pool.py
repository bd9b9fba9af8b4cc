"""Pooling: nn.MaxPool/AvgPool modules as layers, F.max_pool/avg_pool functions inline."""
from __future__ import annotations

from ._source import src_args
from .table import lower

_MAX_KW = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False}
_AVG_KW = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}

for _n in (1, 2, 3):
    lower(f"maxpool{_n}d",
          init=lambda a, ins, n=_n: f"nn.MaxPool{n}d({src_args(a, ('kernel_size',), _MAX_KW)})",
          call=lambda a, ins, args, n=_n: f"F.max_pool{n}d({src_args(a, ('kernel_size',), _MAX_KW, args[:1])})")
    lower(f"avgpool{_n}d",
          init=lambda a, ins, n=_n: f"nn.AvgPool{n}d({src_args(a, ('kernel_size',), _AVG_KW)})",
          call=lambda a, ins, args, n=_n: f"F.avg_pool{n}d({src_args(a, ('kernel_size',), _AVG_KW, args[:1])})")
    for _kind, _title in (("avg", "Avg"), ("max", "Max")):
        lower(f"adaptive_{_kind}pool{_n}d",
              init=lambda a, ins, n=_n, t=_title: f"nn.Adaptive{t}Pool{n}d({a.output_size!r})",
              call=lambda a, ins, args, n=_n, k=_kind: f"F.adaptive_{k}_pool{n}d({args[0]}, {a.output_size!r})")

for _kind, _title in (("avg", "Avg"), ("max", "Max")):
    lower(f"global_{_kind}pool2d",
          init=lambda a, ins, t=_title: f"nn.Sequential(nn.Adaptive{t}Pool2d(1), nn.Flatten())",
          call=lambda a, ins, args, k=_kind: f"torch.flatten(F.adaptive_{k}_pool2d({args[0]}, 1), 1)")
