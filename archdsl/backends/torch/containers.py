"""Layer lists and maps: nn.Sequential, with an OrderedDict of names for a map of named layers, or `_Chain`
for a list of layers that take several inputs (the first threads through, the others go to every layer)."""
from __future__ import annotations

from ...ir.graph import Module

CHAIN = '''
class _Chain(nn.Sequential):
    """nn.Sequential over layers taking several inputs: the first threads through, the rest go to each."""

    def forward(self, x, *rest):
        for layer in self:
            x = layer(x, *rest)
        return x
'''


def threads(m: Module) -> bool:
    """A list whose layers take several inputs."""
    return any((c.kind == "block" and len(c.block.inputs) > 1) or (c.kind == "seq" and threads(c))
               for c in m.children.values())


def named(m: Module) -> bool:
    return list(m.children) != [str(k) for k in range(len(m.children))]


def container_source(m: Module, items: list[str], indent: int) -> str:
    """`nn.Sequential(...)` over the layers' sources; names as an OrderedDict where they are not 0, 1, ..."""
    pad, close = "    " * (indent + 1), "    " * indent
    cls = "_Chain" if threads(m) else "nn.Sequential"
    if not named(m):
        return f"{cls}(\n" + "".join(f"{pad}{i},\n" for i in items) + f"{close})"
    pairs = "".join(f"{pad}    ({name!r}, {i}),\n" for name, i in zip(m.children, items))
    return f"{cls}(OrderedDict([\n{pairs}{pad}]))"
