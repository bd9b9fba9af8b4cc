"""Dropout: nn.Dropout as a layer, F.dropout inline (reading the module's training mode)."""
from __future__ import annotations

from ._source import src_args
from .table import lower

for _name, _cls in (("dropout", "Dropout"), ("dropout2d", "Dropout2d")):
    lower(_name, init=lambda a, ins, c=_cls: f"nn.{c}({src_args(a, (), {'p': 0.5})})",
          call=lambda a, ins, args, f=_name: f"F.{f}({args[0]}, p={a.p!r}, training=self.training)")
