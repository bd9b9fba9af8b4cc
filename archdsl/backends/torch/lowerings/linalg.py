"""Tensor algebra: torch.einsum, broadcasting products, F.cosine_similarity, reductions, selection, constants."""
from __future__ import annotations

from ._source import atom, src_args
from .table import lower


def _einsum_call(a, ins, args):
    operands = args[0][1:-1] if args[0].startswith("[") and args[0].endswith("]") else f"*{args[0]}"
    return f"torch.einsum({a.equation!r}, {operands})"


lower("einsum", call=_einsum_call)
lower("outer", call=lambda a, ins, args: f"{atom(args[0])}.unsqueeze(-1) * {atom(args[1])}.unsqueeze(-2)")
lower("cosine_similarity",
      call=lambda a, ins, args: f"F.cosine_similarity({src_args(a, (), {'dim': 1, 'eps': 1e-8}, args)})")
lower("vector_norm", call=lambda a, ins, args: f"torch.linalg.vector_norm({args[0]}, dim={a.dim!r}"
                                               f"{', keepdim=True' if a.keepdim else ''})")


def _reduce_call(method: str):
    def call(a, ins, args):
        x, keep = atom(args[0]), ", keepdim=True" if a.keepdim else ""
        if a.dim is not None:
            return f"{x}.{method}({a.dim!r}{keep})"
        if a.keepdim and ins[0]:
            return f"{x}.{method}().reshape({', '.join(['1'] * len(ins[0]))})"
        return f"{x}.{method}()"

    return call


lower("reduce_sum", call=_reduce_call("sum"))
lower("reduce_mean", call=_reduce_call("mean"))
lower("argmax", call=lambda a, ins, args: f"{atom(args[0])}.argmax({a.dim}{', keepdim=True' if a.keepdim else ''})")


def _topk_call(a, ins, args):
    x = atom(args[0])
    index = f"{x}.argmax({a.dim}, keepdim=True)" if a.k == 1 else f"{x}.topk({a.k}, {a.dim}).indices"
    return f"torch.zeros_like({x}).scatter({a.dim}, {index}, 1.0)"


lower("topk_mask", call=_topk_call)
lower("select", call=lambda a, ins, args: f"{atom(args[0])}.select({a.dim}, {a.index})")
lower("roll", call=lambda a, ins, args: f"torch.roll({args[0]}, {a.shifts}, {a.dim})")


def _zeros_call(a, ins, args):
    x = atom(args[0])
    sizes = ", ".join(f"{x}.shape[{i}]" if v == 0 else str(v) for i, v in enumerate(a.shape))
    return f"{x}.new_zeros(({sizes}{',' if len(a.shape) == 1 else ''}))"


lower("new_zeros", call=_zeros_call)
lower("new_eye",
      call=lambda a, ins, args: f"torch.eye({a.n}, dtype={atom(args[0])}.dtype, device={atom(args[0])}.device)")
lower("softplus",
      init=lambda a, ins: f"nn.Softplus({src_args(a, (), {'beta': 1.0, 'threshold': 20.0})})",
      call=lambda a, ins, args: f"F.softplus({src_args(a, (), {'beta': 1.0, 'threshold': 20.0}, args[:1])})")
