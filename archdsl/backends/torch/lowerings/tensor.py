"""Layout ops: nn.Flatten or torch.flatten, Tensor.reshape, Tensor.permute."""
from __future__ import annotations

from ._source import atom, src_args
from .table import lower

lower("flatten",
      init=lambda a, ins: f"nn.Flatten({src_args(a, (), {'start_dim': 1, 'end_dim': -1})})",
      call=lambda a, ins, args: f"torch.flatten({src_args(a, ('start_dim',), {'end_dim': -1}, args[:1])})")


def _reshape_call(a, ins, args):
    x = atom(args[0])
    return f"{x}.reshape({', '.join(f'{x}.shape[{i}]' if v == 0 else str(v) for i, v in enumerate(a.shape))})"


lower("reshape", call=_reshape_call)
lower("permute", call=lambda a, ins, args: f"{atom(args[0])}.permute({', '.join(map(str, a.dims))})")
