"""The Python API: `archdsl.load(path, **params)` returns a Spec."""
from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import Any

from . import pipeline
from .dims import Shape
from .errors import UsageError
from .limits import resolve
from .reporting.summary import Summary, summarize
from .syntax.spec import SpecDoc


def load(path: str, limits: dict | None = None, assume: bool = False, **params: Any) -> "Spec":
    """Read a spec file; keyword arguments override its parameters or fix its symbolic dims (N=8).

    `limits` raises (or lowers) archdsl's resource limits, e.g. `{"max_repeat": 10**6}`: see archdsl/limits.py.
    `assume`: dims equal only under a condition (`H % 2 == 0`) are accepted, and the conditions recorded
    (`spec.assumptions`), instead of being an error.
    """
    limits = resolve(limits)
    return Spec(pipeline.read(str(path), limits), params, limits, assume)


@contextmanager
def _no_context():
    yield


class Spec:
    def __init__(self, doc: SpecDoc, params: dict | None = None, limits: dict | None = None,
                 assume: bool = False):
        self.doc = doc
        self.overrides = dict(params or {})
        self.limits = resolve(limits)
        self.assume = assume

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
    def _elaborated(self) -> pipeline.Elaborated:
        return pipeline.elaborate(self.doc, self.overrides, self.limits, assume=self.assume)

    @property
    def graph(self):
        return self._elaborated.graph

    @property
    def assumptions(self) -> list[str]:
        """The conditions the static check assumed (with `assume=True`), e.g. ['H % 2 == 0']."""
        return [c.text for c in self.graph.facts.assumed]

    @property
    def warnings(self) -> list:
        return self._elaborated.warnings

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
        from .passes.memory import check_memory

        # the weights must fit the limit `max_memory` before they are allocated; on the meta device nothing is,
        # but torch's sizes stop at 2**63 bytes
        limits = self.limits if str(device) != "meta" else {**self.limits, "max_memory": 2**62}
        with pipeline.limited(limits, self.doc.file):
            check_memory(self.graph, activations=False)
        gen = self._codegen(probe)
        source = self.source if not probe else gen.generate()
        if probe:
            from .backends.torch.probes import probe_function
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
        return summarize(self.graph, depth)

    def to_dot(self, depth: int | None = None, direction: str = "TB", model: str | None = None,
               allow_errors: bool = False, fuse: bool = True, dtypes: bool = False) -> str:
        """The diagram as Graphviz DOT text (needs no Graphviz): see `draw`."""
        from .backends.graphviz import spec_dot

        return spec_dot(self, depth, direction, model, allow_errors, fuse=fuse, dtypes=dtypes)[0]

    def draw(self, path: str, depth: int | None = None, direction: str = "TB", model: str | None = None,
             allow_errors: bool = False, fuse: bool = True, dtypes: bool = False) -> list:
        """Write the diagram to `path`: .svg, .png, .pdf (these need Graphviz's `dot`) or .dot.

        depth: fold every block instance nested deeper than `depth` into one box (0: the top level);
        direction: 'TB' (top to bottom) or 'LR'; model: one model of a multi-model spec (default: all);
        allow_errors: draw a spec with shape errors, each failing input in red. Returns those errors.
        fuse: draw an activation that alone reads an op's output in that op's box (`conv2d 3x3, 64 + relu`).
        dtypes: each arrow says its dtype too (`N x T (int64)`).
        """
        from .backends.graphviz import draw_spec

        return draw_spec(self, str(path), depth, direction, model, allow_errors, fuse=fuse, dtypes=dtypes)

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
