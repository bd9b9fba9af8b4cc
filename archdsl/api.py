"""The Python API: `archdsl.load(path, **params)` returns a Spec."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .dims import Shape
from .errors import UsageError
from .syntax.spec import SpecDoc, read_spec


def load(path: str, limits: dict | None = None, **params: Any) -> "Spec":
    """Read a spec file; keyword arguments override its parameters or fix its symbolic dims (N=8).

    `limits` raises (or lowers) archdsl's resource limits, e.g. `{"max_repeat": 10**6}`: see archdsl/limits.py.
    """
    from .limits import active, resolve

    limits = resolve(limits)
    with active(limits), _too_deep_is_a_limit(str(path)):
        return Spec(read_spec(str(path)), params, limits)


@contextmanager
def _too_deep_is_a_limit(file: str):
    """Python's own recursion limit, hit by a pathological spec, is reported like archdsl's limits."""
    try:
        yield
    except RecursionError:
        from .errors import LimitError, Span

        raise LimitError("the spec nests too deeply to process", Span(file, 1, 1),
                         hint="lower the nesting of blocks, lists or expressions (limits `max_depth`, "
                              "`max_expr_depth`)") from None


@contextmanager
def _no_context():
    yield


@dataclass
class SummaryRow:
    name: str
    op: str
    shape: Shape
    params: int
    macs: Any


@dataclass
class LoopCost:
    """The cost of one loop (scan, loop, decode): its step count and the MACs of one step of its body."""

    name: str
    kind: str
    steps: Any
    macs_per_step: Any


@dataclass
class Summary:
    rows: list
    params: int
    macs: Any
    loops: list = field(default_factory=list)   # LoopCost of every loop, outermost first

    def __iter__(self):
        return iter(self.rows)

    def macs_at(self, **dims) -> Any:
        """Total MACs with symbolic dims set: `summary.macs_at(N=1, T=20)`."""
        from .dims import substitute

        return substitute(self.macs, dims)

    def macs_per(self, dim: str) -> Any:
        """What one more unit of the dim `dim` adds to the total MACs, e.g. per time step: `macs_per('T')`
        (the coefficient of T where the total is linear in T, as for a scan over T)."""
        from .dims import as_static

        if isinstance(self.macs, int):
            return 0
        import sympy

        syms = {s.name: s for s in self.macs.free_symbols}
        return as_static(sympy.expand(sympy.diff(self.macs, syms[dim]))) if dim in syms else 0


class Spec:
    def __init__(self, doc: SpecDoc, params: dict | None = None, limits: dict | None = None):
        self.doc = doc
        from .limits import resolve

        self.overrides = dict(params or {})
        self.limits = resolve(limits)

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def models(self) -> list[str]:
        return list(self.doc.models)

    @property
    def objectives(self) -> list[str]:
        """The names of the spec's objectives (`objectives:`): see `objective`."""
        return list(self.doc.objectives)

    def objective(self, name: str):
        """The objective `name` as a plain function of tensors (the models' outputs and data) returning its
        loss(es), e.g. `spec.objective("neg_elbo")(x, x_hat, mu, logvar)`."""
        from .backends.torch.runtime import exec_source

        if name not in self.doc.objectives:
            raise UsageError(f"{self.doc.file} has no objective `{name}`; objectives: "
                             f"{', '.join(self.doc.objectives) or '(none)'}")
        return exec_source(self.source, self.doc.file)[name]

    @cached_property
    def _elaborated(self):
        from . import ops  # noqa: F401  (registers the ops)
        from .elaborate.build import Builder
        from .passes.cost import infer_costs
        from .passes.shapes import infer_shapes

        from .limits import active
        from .elaborate.compose import check_across

        with active(self.limits), _too_deep_is_a_limit(self.doc.file):
            builder = Builder(self.doc, self.overrides, self.limits)
            graph = builder.build()
            try:
                infer_shapes(graph)
            finally:  # shapes between models and objectives: a mismatch there is the cause of later errors
                check_across(graph)
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
        return {nid: node.meta.shape for nid, node in self.graph.nodes()}

    @cached_property
    def source(self) -> str:
        """The generated PyTorch source (imports only torch); it names the spec by its path as given."""
        return self._codegen().generate()

    def compile(self, output: str) -> str:
        """The generated source for the file `output`: it names the spec relative to that file, so the
        bytes do not depend on the working directory."""
        return self._codegen(output=output).generate()

    def _codegen(self, probe: bool = False, output: str | None = None):
        from .backends.torch.codegen import TorchCodegen

        return TorchCodegen(self.graph, self.doc.file, self.doc.name, self.doc.multi_model, probe=probe,
                            output=output)

    def build(self, name: str | None = None, probe: bool = False, *, device=None, dtype=None,
              channels_last: bool = False):
        """A fresh torch.nn.Module: the model `name`, or the only/all models.

        device: create the parameters there (`"cuda"`, `"meta"` for a weightless skeleton); weights are
        initialised by that device's generator, so build on CPU and `.to(device)` for CPU-identical weights.
        dtype: cast the floating-point parameters and buffers (`torch.bfloat16` or "bfloat16").
        channels_last: NHWC memory format, which speeds up 2d convolutions on CUDA.
        """
        from .backends.torch.runtime import exec_source

        if name is not None and name not in self.doc.models:
            raise UsageError(f"{self.doc.file} has no model `{name}`; models: {', '.join(self.doc.models)}"
                             + (f"; `{name}` is an objective: spec.objective({name!r})"
                                if name in self.doc.objectives else ""))
        if name is None and len(self.doc.models) == 1:
            name = next(iter(self.doc.models))
        from .limits import active
        from .passes.memory import check_memory

        if str(device) != "meta":  # the weights must fit the limit `max_memory` before they are allocated
            with active(self.limits):
                check_memory(self.graph, activations=False)
        gen = self._codegen(probe)
        source = self.source if not probe else gen.generate()
        if probe:
            from .runtime_shapes import probe_function
            extra = {"_probe": probe_function}
        else:
            gen.generate()
            extra = {}
        namespace = exec_source(source, self.doc.file, extra)
        cls = namespace[gen.top_class(name if self.doc.multi_model else None)]
        if device is None and dtype is None and not channels_last:
            return cls()
        import torch

        with torch.device(device) if device is not None else _no_context():
            net = cls()
        if dtype is not None:
            net = net.to(dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype)   # "bfloat16" too
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net

    def summary(self, depth: int | None = None) -> Summary:
        """One row per op; with `depth` K, one row per block instance or sequence nested deeper than K (0: top)."""
        rows, total_params, total_macs = [], 0, 0
        for nid, node in self.graph.nodes():
            if node.kind in ("input", "loop_in"):
                continue
            op = node.op.name if node.op is not None else node.kind
            rows.append(SummaryRow(nid, op, node.meta.shape, node.meta.params, node.meta.macs))
            total_params += node.meta.params
            total_macs = total_macs + node.meta.macs
        if depth is not None:
            from .backends.graphviz.containers import aggregate_rows

            rows = aggregate_rows(self.graph, rows, depth, SummaryRow)
        return Summary(rows, total_params, total_macs, self._loop_costs())

    def _loop_costs(self) -> list:
        from .dims import as_static
        from .passes.loops import LOOP_KINDS

        out = []
        for nid, node in self.graph.nodes():
            if node.kind in LOOP_KINDS and node.meta.count is not None:
                body = sum((self.graph.node(b).meta.macs or 0 for b in node.body_nodes), 0)
                count = node.meta.count
                if isinstance(body, int) and isinstance(count, int):
                    per_step = body // count if count else 0
                else:
                    import sympy

                    per_step = as_static(sympy.expand(sympy.cancel(body / count)))
                out.append(LoopCost(nid, node.kind, count, per_step))
        return out

    def to_dot(self, depth: int | None = None, direction: str = "TB", model: str | None = None,
               allow_errors: bool = False, fuse: bool = True) -> str:
        """The diagram as Graphviz DOT text (needs no Graphviz): see `draw`."""
        from .backends.graphviz import spec_dot

        return spec_dot(self, depth, direction, model, allow_errors, fuse=fuse)[0]

    def draw(self, path: str, depth: int | None = None, direction: str = "TB", model: str | None = None,
             allow_errors: bool = False, fuse: bool = True) -> list:
        """Write the diagram to `path`: .svg, .png, .pdf (these need Graphviz's `dot`) or .dot.

        depth: fold every block instance nested deeper than `depth` into one box (0: the top level);
        direction: 'TB' (top to bottom) or 'LR'; model: one model of a multi-model spec (default: all);
        allow_errors: draw a spec with shape errors, each failing input in red. Returns those errors.
        fuse: draw an activation that alone reads an op's output in that op's box (`conv2d 3x3, 64 + relu`).
        """
        from .backends.graphviz import draw_spec

        return draw_spec(self, str(path), depth, direction, model, allow_errors, fuse=fuse)

    def _repr_svg_(self):
        """Jupyter shows a Spec as its diagram (None, so the text repr is used, when it cannot be drawn)."""
        from .backends.graphviz import render, spec_dot
        from .errors import ArchDSLError

        try:
            return render(spec_dot(self, allow_errors=True)[0], "svg").decode("utf-8")
        except ArchDSLError:
            return None

    def memory(self, **dims):
        """Estimated bytes of the weights and of one float32 forward pass's activations (see passes/memory.py)."""
        from .passes.memory import estimate_memory

        return estimate_memory(self.graph, dims)

    def input_shapes(self, model: str | None = None) -> list[Shape]:
        model = model or next(iter(self.doc.models))
        return [self.graph.node(n).meta.shape for n in self.graph.inputs[model]]
