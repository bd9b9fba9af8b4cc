"""Objectives: named losses written with ops, compiled to plain functions of the models' outputs.

    objectives:
      neg_elbo:
        doc: the negative evidence lower bound
        inputs:
          x: [N, 784]          # a tensor the caller passes: its shape
          x_hat: vae[0]        # one output of a model: checked across (an identity node, an edge from it)
          mu: vae[1]
          logvar: vae[2]
        forward: |
          bce(x_hat, x, reduction='batchmean') + kl_normal(mu, logvar, reduction='batchmean')

`Spec.objective("neg_elbo")` returns `neg_elbo(x, x_hat, mu, logvar)`; the generated source holds it as a
module-level function after the model classes. An objective has no layers (no weights) and ends with
scalar losses (one, or a tuple of them). It is elaborated like a model: its nodes are in the graph,
made by the objective (node.model is its name), and `graph.objectives[name]` is its root.
"""
from __future__ import annotations

from collections import defaultdict

from .errors import TypeError_
from .ir.graph import Module, Tensor
from .syntax import ast as A


def elaborate_objectives(builder) -> None:
    from .elaborate.compose import tag_nodes
    from .elaborate.scope import SymbolScope
    from .elaborate.values import describe
    from .ops.registry import REGISTRY, Attrs, bind

    identity = REGISTRY.get("identity")

    graph, doc = builder.graph, builder.doc
    outputs = builder.globals.child(dict(graph.outputs), "model outputs")
    for name, obj in doc.objectives.items():
        first = len(graph)
        root = Module(name, name, "block", obj.span, block=obj, args={})
        builder._fill_block(root, builder.globals)
        scope = SymbolScope(builder.globals, builder.dim_values)
        inputs = []
        for in_name, dims, span in obj.inputs:
            if isinstance(dims, list):
                shape = tuple(builder._dim(d, scope) for d in dims)
                nid = graph.unique_id(f"{name}.{in_name}")
                graph.add(nid, [], op=None, kind="input", attrs=Attrs(), scope=name, module=None, span=span,
                          call_span=span, shape=shape, name=in_name, **builder._input_type(obj, in_name, scope))
                inputs.append(Tensor(nid))
                continue
            value = builder.eval(dims, outputs) if isinstance(dims, (A.Name, A.Index)) else None
            if not isinstance(value, Tensor):
                raise TypeError_(f"the input `{in_name}` of the objective `{name}` must be one output of a model, "
                                 f"like `{next(iter(doc.models))}[0]`, got {describe(value)}", dims.span,
                                 hint=f"models: {', '.join(doc.models)}; a model with several outputs is indexed")
            # its own node (an identity of the model's output): the function's parameter, an edge across
            nid = graph.unique_id(f"{name}.{in_name}")
            graph.add(nid, [value], op=identity, kind="op", attrs=bind(identity, [], {}, span), scope=name,
                      module=None, span=span, call_span=span, name=in_name, objective_input=True)
            inputs.append(Tensor(nid))
        graph.objectives[name] = root
        builder.run_block(root, inputs, obj.span)
        tag_nodes(graph, first, name)


# --- code generation -----------------------------------------------------------------------------------

def objective_sources(gen) -> list[str]:
    """One function per objective, written like a forward (see backends/torch/forward.py) without `self`."""
    from .backends.torch.forward import ForwardWriter
    from .backends.torch.pysource import docstring

    out = []
    for name, root in gen.graph.objectives.items():
        lines = ForwardWriter(gen, root).write()
        params = ", ".join(n for n, _, _ in root.block.inputs)
        doc = str(root.block.doc or f"The objective `{name}`").strip()
        head = [f"def {name}({params}):", docstring(f"{doc} ({gen.file}, line {root.block.span.line})", "    ")]
        if gen.probe:  # probes report as `self`, the objective's scope
            head.append(f"    self = _objective_scope({name!r})")
        out.append("\n".join(head + [line[4:] for line in lines[1:]]) + "\n")
    return out


# --- runtime shapes ------------------------------------------------------------------------------------

class _Scope:
    def __init__(self, path: str):
        self._archdsl_path = path
        self.training = False


def runtime_shapes(spec, name: str, dims: dict, seed: int = 0) -> dict:
    """Run the objective on random inputs of its shapes (probabilities: uniform in [0, 1)); node -> shapes."""
    import torch

    from . import runtime_shapes as rs
    from .backends.torch.runtime import exec_source
    from .elaborate.compose import root_nodes

    graph = spec.graph
    source = spec._codegen(probe=True).generate()
    fn = exec_source(source, spec.doc.file, {"_probe": rs.probe_function, "_objective_scope": _Scope})[name]
    gen = torch.Generator().manual_seed(seed)
    args = []
    for t in graph.objectives[name].inputs:
        node = graph.node(t.node)
        shape = rs.concrete_shape(graph.shape(t),
                                  dims)
        dtype = node.dtype
        if dtype in ("int64", "int32"):
            low = rs.substitute(node.low or 0, dims)
            high = rs.substitute(node.high if node.high is not None else low + 2, dims)
            args.append(torch.randint(int(low), int(high), shape, generator=gen, dtype=getattr(torch, dtype)))
        else:
            args.append(torch.rand(shape, generator=gen))
    rs._records = defaultdict(list)
    try:
        with torch.no_grad():
            fn(*args)
        records = rs._records
    finally:
        rs._records = None
    out = {}
    for nid in root_nodes(graph, name):
        node = graph.node(nid)
        if node.kind == "input" or node.objective_input:
            out[nid] = [rs.concrete_shape(node.meta.shape, dims)]
        else:
            out[nid] = [records[(node.scope, node.stmt_index)][node.call_index]]
    return out
