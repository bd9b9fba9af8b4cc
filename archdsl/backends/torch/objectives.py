"""Objectives in the generated file: one plain function each, written like a forward without `self`."""
from __future__ import annotations

from .forward import ForwardWriter
from .pysource import docstring


def objective_sources(gen) -> list[str]:
    """One function per objective, written like a forward without `self`."""
    out = []
    for name, root in gen.graph.objectives.items():
        lines = ForwardWriter(gen, root).write()
        params = ", ".join(n for n, _, _ in root.block.inputs)
        doc = str(root.block.doc or f"The objective `{name}`").strip("\n")
        head = [f"def {name}({params}):", docstring(f"{doc} ({gen.file}, line {root.block.span.line})", "    ")]
        if gen.probe:  # probes report as `self`, the objective's scope
            head.append(f"    self = _objective_scope({name!r})")
        out.append("\n".join(head + [line[4:] for line in lines[1:]]) + "\n")
    return out
