"""Layout ops: nn.Flatten or torch.flatten, Tensor.reshape, Tensor.permute, torch.flip; Tensor.to, F.one_hot,
torch.gather; the reductions Tensor.amax, Tensor.amin and Tensor.argmin."""
from __future__ import annotations

from ._source import atom, src_args
from .linalg import _reduce_call
from .table import lower

lower("flatten",
      init=lambda a, ins: f"nn.Flatten({src_args(a, (), {'start_dim': 1, 'end_dim': -1})})",
      call=lambda a, ins, args: f"torch.flatten({src_args(a, ('start_dim',), {'end_dim': -1}, args[:1])})")


def _reshape_call(a, ins, args):
    x = atom(args[0])
    return f"{x}.reshape({', '.join(f'{x}.shape[{i}]' if v == 0 else str(v) for i, v in enumerate(a.shape))})"


lower("reshape", call=_reshape_call)
lower("permute", call=lambda a, ins, args: f"{atom(args[0])}.permute({', '.join(map(str, a.dims))})")

lower("flip", call=lambda a, ins, args: f"torch.flip({args[0]}, {a.dims if isinstance(a.dims, tuple) else (a.dims,)})")
lower("cast", call=lambda a, ins, args: f"{atom(args[0])}.to(torch.{a.dtype})")
lower("one_hot", call=lambda a, ins, args: f"F.one_hot({args[0]}, {a.num_classes})")
lower("gather", call=lambda a, ins, args: f"torch.gather({args[0]}, {a.dim}, {args[1]})")
lower("reduce_max", call=_reduce_call("amax"))
lower("reduce_min", call=_reduce_call("amin"))
lower("argmin", call=lambda a, ins, args: f"{atom(args[0])}.argmin({a.dim}{', keepdim=True' if a.keepdim else ''})")
