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

from ..errors import TypeError_
from ..ir.graph import Module, Tensor
from ..syntax import ast as A


def elaborate_objectives(builder) -> None:
    from ..ops.registry import REGISTRY, Attrs, bind
    from .compose import tag_nodes
    from .scope import SymbolScope
    from .values import describe

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
