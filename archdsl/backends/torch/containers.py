"""Layer lists and maps: nn.Sequential, with an OrderedDict of names for a map of named layers, or `_Chain<n>`
for a list of layers that take n inputs (the first threads through, the others go to every layer)."""
from __future__ import annotations

from ...ir.graph import Module

def chain_source(n: int) -> str:
    """`_Chain<n>`: nn.Sequential over layers taking `n` inputs: the first threads through, the rest go to each
    (written out, not `*rest`, so that TorchScript compiles it)."""
    rest = ", ".join(f"a{k}" for k in range(1, n))
    return (f"class _Chain{n}(nn.Sequential):\n"
            f'    """nn.Sequential over layers taking {n} inputs: the first threads through, the rest go to each."""\n\n'
            f"    def forward(self, x, {rest}):\n"
            f"        for layer in self:\n"
            f"            x = layer(x, {rest})\n"
            f"        return x\n")


def arity(m: Module) -> int:
    """How many inputs the layers of a list take when more than one (a `_Chain`), else 0."""
    return max([len(c.block.inputs) for c in m.children.values() if c.kind == "block" and len(c.block.inputs) > 1]
               + [arity(c) for c in m.children.values() if c.kind == "seq"], default=0)


def named(m: Module) -> bool:
    return list(m.children) != [str(k) for k in range(len(m.children))]


def container_source(m: Module, items: list[str], indent: int) -> str:
    """`nn.Sequential(...)` over the layers' sources; names as an OrderedDict where they are not 0, 1, ..."""
    pad, close = "    " * (indent + 1), "    " * indent
    cls = f"_Chain{arity(m)}" if arity(m) else "nn.Sequential"
    if not named(m):
        return f"{cls}(\n" + "".join(f"{pad}{i},\n" for i in items) + f"{close})"
    pairs = "".join(f"{pad}    ({name!r}, {i}),\n" for name, i in zip(m.children, items))
    return f"{cls}(OrderedDict([\n{pairs}{pad}]))"
