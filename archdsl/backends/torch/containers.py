"""Layer lists and maps: nn.Sequential, with an OrderedDict of names for a map of named layers, or `_Chain<n>`
for layers that take n inputs (the first threads through, the others go to every layer) where a forward calls
the list as a whole; a list of such layers that is only indexed or looped over is an nn.ModuleList (no forward
that could not run, which TorchScript would still compile)."""
from __future__ import annotations

import re

from ...ir.graph import Graph, Module


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
    """How many inputs the layers of a list take when more than one, else 0."""
    return max([len(c.block.inputs) for c in m.children.values() if c.kind == "block" and len(c.block.inputs) > 1]
               + [arity(c) for c in m.children.values() if c.kind == "seq"], default=0)


def named(m: Module) -> bool:
    return list(m.children) != [str(k) for k in range(len(m.children))]


def called_whole(graph: Graph) -> dict[int, Module]:
    """The layer lists that some forward calls as a whole, or a slice of (`layers(x, m)`, `layers[1:](y, m)`),
    by id; a list only indexed (`layers[0](x, m)`) or looped over (`for layer in layers:`) is not."""
    out: dict[int, Module] = {}
    for root in graph.roots.values():
        for m in [*root.walk(), *root.methods.values()]:
            if m.kind == "block" and m.program:
                _calls(m, m.program, {}, out)
    return out


def container_class(m: Module, whole: dict) -> str:
    """`_Chain<n>` for n-input layers called as a whole (or named), nn.ModuleList for a list of them that is
    not, else nn.Sequential."""
    n = arity(m)
    if n and id(m) not in whole and not named(m):
        return "nn.ModuleList"
    return f"_Chain{n}" if n else "nn.Sequential"


def chains_used(graph: Graph, whole: dict) -> set[int]:
    """The n of each `_Chain<n>` the layer lists are written with."""
    return {arity(m) for root in graph.roots.values() for m in root.walk()
            if m.kind == "seq" and container_class(m, whole).startswith("_Chain")}


def container_source(m: Module, items: list[str], indent: int, whole: dict) -> str:
    """`nn.Sequential(...)` over the layers' sources; names as an OrderedDict where they are not 0, 1, ..."""
    pad, close = "    " * (indent + 1), "    " * indent
    cls = container_class(m, whole)
    if not named(m):
        body = "".join(f"{pad}{i},\n" for i in items)
        return f"{cls}([\n{body}{close}])" if cls == "nn.ModuleList" else f"{cls}(\n{body}{close})"
    pairs = "".join(f"{pad}    ({name!r}, {i}),\n" for name, i in zip(m.children, items))
    return f"{cls}(OrderedDict([\n{pairs}{pad}]))"


def spread(m: Module, whole: dict, layers: str) -> str:
    """The container of `m` over a list source: `nn.Sequential(*layers)`, `nn.ModuleList(layers)`."""
    cls = container_class(m, whole)
    return f"{cls}({layers})" if cls == "nn.ModuleList" else f"{cls}(*{layers})"


_CALLEE = re.compile(r"[A-Za-z_]\w*|\[[^\]]*\]|\.[A-Za-z_][\w-]*")


def _calls(m: Module, stmts: list, loops: dict, out: dict) -> None:
    """Mark in `out` the lists that the statements call whole; `loops`: loop variable -> the layers it takes."""
    for st in stmts:
        if st.kind == "for":
            over = _resolve(m, st.callee, loops)
            elements = [c for s in over or [] for c in s.children.values()]
            _calls(m, st.options["iterations"][0][0], {**loops, st.options["var"]: elements}, out)
        elif st.kind in ("module", "scan", "loop", "decode"):
            for target in _resolve(m, st.callee, loops, whole=out) or []:
                if target.kind == "seq":
                    out[id(target)] = target


def _resolve(m: Module, callee: str, loops: dict, whole: dict | None = None) -> list[Module] | None:
    """The layers a callee source names (`layers[0]`, `blocks.a`, a loop variable); a sliced list is marked in
    `whole` as called. None for a callee that is not a layer of `m` (a model it uses)."""
    parts = _CALLEE.findall(callee)
    if not parts or "".join(parts) != callee:
        return None
    head, rest = parts[0], parts[1:]
    here = list(loops[head]) if head in loops else [m.children[head]] if head in m.children else None
    if here is None:
        return None
    for part in rest:
        key = part[1:] if part.startswith(".") else part[1:-1]
        if ":" in key:  # a slice: a list of the same kind, called as a whole
            if whole is not None:
                whole.update({id(s): s for s in here if s.kind == "seq"})
            return []
        here = [_child(s, key) for s in here]
        if None in here:
            return None
    return here


def _child(m: Module, key: str) -> Module | None:
    kids = list(m.children.values())
    if key.lstrip("-").isdigit() and -len(kids) <= int(key) < len(kids):
        return kids[int(key)]
    return m.children.get(key.strip("'\""))
