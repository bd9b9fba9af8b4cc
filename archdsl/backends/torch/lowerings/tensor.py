"""Layout ops: nn.Flatten or torch.flatten, Tensor.reshape, Tensor.permute, torch.flip, F.pad; Tensor.to, F.one_hot,
torch.gather; the reductions Tensor.amax, Tensor.amin and Tensor.argmin."""
from __future__ import annotations

from ....ops.tensor import pad_in_sizes
from ..pysource import sympy_source
from ._source import atom, src_args
from .linalg import _reduce_call
from .table import lower

lower("flatten",
      init=lambda a, ins: f"nn.Flatten({src_args(a, (), {'start_dim': 1, 'end_dim': -1})})",
      call=lambda a, ins, args: f"torch.flatten({src_args(a, ('start_dim',), {'end_dim': -1}, args[:1])})")


def _reshape_call(a, ins, args):
    x = atom(args[0])
    return f"{x}.reshape({', '.join(f'{x}.shape[{i}]' if v == 0 else str(v) for i, v in enumerate(a.shape))})"


lower("reshape", call=_reshape_call, sequences=("shape",))
lower("permute", call=lambda a, ins, args: f"{atom(args[0])}.permute({', '.join(map(str, a.dims))})",
      sequences=("dims",))

lower("flip", call=lambda a, ins, args: f"torch.flip({args[0]}, {a.dims if isinstance(a.dims, tuple) else (a.dims,)})")


def _pad_call(a, ins, args) -> str:
    x = atom(args[0])

    def dim(d) -> str:  # the symbol dim<k> of ops.tensor.pad_in_sizes
        return f"{x}.shape[{d.name.removeprefix('dim')}]"

    amounts = ", ".join(str(v) if isinstance(v, int) else sympy_source(pad_in_sizes(v, ins[0]), dim) for v in a.pad)
    extra = f", mode={a.mode!r}" if a.mode != "constant" else f", value={a.value!r}" if a.value else ""
    return f"F.pad({args[0]}, ({amounts}){extra})"


lower("pad", call=_pad_call)
lower("cast", call=lambda a, ins, args: f"{atom(args[0])}.to(torch.{a.dtype})")
lower("one_hot", call=lambda a, ins, args: f"F.one_hot({args[0]}, {a.num_classes})")
lower("gather", call=lambda a, ins, args: f"torch.gather({args[0]}, {a.dim}, {args[1]})")
lower("reduce_max", call=_reduce_call("amax"))
lower("reduce_min", call=_reduce_call("amin"))
lower("argmin", call=lambda a, ins, args: f"{atom(args[0])}.argmin({a.dim}{', keepdim=True' if a.keepdim else ''})")
