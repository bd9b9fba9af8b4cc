"""The Python API: `archdsl.load(path, **params)` returns a Spec."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .dims import Shape
from .errors import UsageError
from .syntax.spec import SpecDoc, read_spec


def load(path: str, **params: Any) -> "Spec":
    """Read a spec file; keyword arguments override its parameters or fix its symbolic dims (N=8)."""
    return Spec(read_spec(str(path)), params)


@dataclass
class SummaryRow:
    name: str
    op: str
    shape: Shape
    params: int
    macs: Any


@dataclass
class Summary:
    rows: list
    params: int
    macs: Any

    def __iter__(self):
        return iter(self.rows)


class Spec:
    def __init__(self, doc: SpecDoc, params: dict | None = None, limits: dict | None = None):
        self.doc = doc
        self.overrides = dict(params or {})
        self.limits = limits

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def models(self) -> list[str]:
        return list(self.doc.models)

    @cached_property
    def _elaborated(self):
        from . import ops  # noqa: F401  (registers the ops)
        from .elaborate.build import Builder
        from .passes.cost import infer_costs
        from .passes.shapes import infer_shapes

        builder = Builder(self.doc, self.overrides, self.limits)
        graph = builder.build()
        infer_shapes(graph)
        infer_costs(graph)
        return graph, builder.warnings

    @property
    def graph(self):
        return self._elaborated[0]

    @property
    def warnings(self) -> list:
        return self._elaborated[1]

    def check(self) -> dict[str, Shape]:
        """Run every static check; return the output shape of every graph node."""
        return {nid: node["shape"] for nid, node in self.graph.nodes()}

    @cached_property
    def source(self) -> str:
        """The generated PyTorch source (imports only torch)."""
        return self._codegen().generate()

    def _codegen(self, probe: bool = False):
        from .backends.torch_codegen import TorchCodegen

        return TorchCodegen(self.graph, self.doc.file, self.doc.name, self.doc.multi_model, probe=probe)

    def build(self, name: str | None = None, probe: bool = False):
        """A fresh torch.nn.Module: the model `name`, or the only/all models."""
        from .backends.torch_runtime import exec_source

        if name is not None and name not in self.doc.models:
            raise UsageError(f"{self.doc.file} has no model `{name}`; models: {', '.join(self.doc.models)}")
        if name is None and len(self.doc.models) == 1:
            name = next(iter(self.doc.models))
        gen = self._codegen(probe)
        source = self.source if not probe else gen.generate()
        if probe:
            from .runtime_shapes import probe_function
            extra = {"_probe": probe_function}
        else:
            gen.generate()
            extra = {}
        namespace = exec_source(source, self.doc.file, extra)
        return namespace[gen.top_class(name if self.doc.multi_model else None)]()

    def summary(self) -> Summary:
        rows, total_params, total_macs = [], 0, 0
        for nid, node in self.graph.nodes():
            if node["kind"] in ("input", "loop_in"):
                continue
            op = node["op"].name if node["op"] is not None else node["kind"]
            rows.append(SummaryRow(nid, op, node["shape"], node["params"], node["macs"]))
            total_params += node["params"]
            total_macs = total_macs + node["macs"]
        return Summary(rows, total_params, total_macs)

    def input_shapes(self, model: str | None = None) -> list[Shape]:
        model = model or next(iter(self.doc.models))
        return [self.graph.node(n)["shape"] for n in self.graph.inputs[model]]
