"""Layout ops: nn.Flatten or torch.flatten, Tensor.reshape, Tensor.permute, torch.flip, F.pad; Tensor.to, F.one_hot,
torch.gather; the reductions Tensor.amax, Tensor.amin and Tensor.argmin."""
from __future__ import annotations

import sympy

from ....ops.tensor import pad_in_sizes
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


def size_source(expr, x: str) -> str:
    """Python source of a size expression in x's dims (the symbols dim<k> of ops.tensor.pad_in_sizes): integers,
    x.shape[k], +, -, and * by integers, // and % by positive integers."""
    return _size(expr, x)[0]


def _size(e, x: str) -> tuple[str, int]:
    """(source, binding): 1 a sum, 2 a product (*, //, %), 3 an atom."""
    if e.is_Integer:
        return str(int(e)), 3 if e >= 0 else 1
    if e.is_Symbol:
        return f"{x}.shape[{e.name.removeprefix('dim')}]", 3
    if isinstance(e, sympy.Add):
        first, *rest = sorted(e.args, key=lambda t: t.is_number)  # the constant last
        out = _size(first, x)[0]
        for t in rest:
            minus = t.could_extract_minus_sign()
            out += (" - " if minus else " + ") + _bound(-t if minus else t, x, 2)
        return out, 1
    if isinstance(e, sympy.Mul):
        coeff, rest = e.as_coeff_Mul()
        if coeff == -1:
            return "-" + _bound(rest, x, 3), 2
        factors = ([str(int(coeff))] if coeff != 1 else []) + [_bound(f, x, 3) for f in rest.as_ordered_factors()]
        return " * ".join(factors), 2
    if isinstance(e, sympy.Mod):
        return f"{_bound(e.args[0], x, 2)} % {int(e.args[1])}", 2
    num, den = e.args[0].as_numer_denom()  # floor(num / den)
    return f"{_bound(num, x, 2)} // {int(den)}", 2


def _bound(e, x: str, binding: int) -> str:
    """`e`'s source, parenthesized where it binds more loosely than `binding` (the right operand of * is an atom:
    a * (b // 2) is not a * b // 2)."""
    text, own = _size(e, x)
    return text if own >= binding else f"({text})"


def _pad_call(a, ins, args) -> str:
    x = atom(args[0])
    amounts = ", ".join(str(v) if isinstance(v, int) else size_source(pad_in_sizes(v, ins[0]), x) for v in a.pad)
    extra = f", mode={a.mode!r}" if a.mode != "constant" else f", value={a.value!r}" if a.value else ""
    return f"F.pad({args[0]}, ({amounts}){extra})"


lower("pad", call=_pad_call)
lower("cast", call=lambda a, ins, args: f"{atom(args[0])}.to(torch.{a.dtype})")
lower("one_hot", call=lambda a, ins, args: f"F.one_hot({args[0]}, {a.num_classes})")
lower("gather", call=lambda a, ins, args: f"torch.gather({args[0]}, {a.dim}, {args[1]})")
lower("reduce_max", call=_reduce_call("amax"))
lower("reduce_min", call=_reduce_call("amin"))
lower("argmin", call=lambda a, ins, args: f"{atom(args[0])}.argmin({a.dim}{', keepdim=True' if a.keepdim else ''})")
