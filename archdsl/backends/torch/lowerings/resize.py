"""Resizing: `interpolate` as F.interpolate, to a static size or to another tensor's spatial size."""
from __future__ import annotations

from ....ops.resize import INTERPOLATING
from ._source import atom
from .table import lower


def _interpolate(a, ins, args) -> str:
    size = f"{atom(args[1])}.shape[2:]" if len(args) == 2 else repr(a.size)
    corners = f", align_corners={a.align_corners}" if a.mode in INTERPOLATING else ""
    return f"F.interpolate({args[0]}, size={size}, mode={a.mode!r}{corners})"


lower("interpolate", call=_interpolate)
