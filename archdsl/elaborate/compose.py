"""Models that use other models (`uses: [encoder, decoder]`), and the checks across models and objectives.

A model that uses another calls it in its forward like a layer: `mu, logvar = encoder(x)`. It is the
same module, not a copy (the used model's layers are called once more, as a layer called twice is),
so the weights are shared and shape inference runs the used model's layers on the caller's tensors.
Every graph node records the model (or objective) whose elaboration made it: `node.model`; a
node made by a caller inside a used model keeps the used model's module path and scope, so
`node.model != ` the model owning the layer marks the edges between models.
"""
from __future__ import annotations

from ..dims import fmt_shape, reasoning, same
from ..errors import ShapeError, ShapeRuleError, StructureError, TypeError_, did_you_mean
from ..ir.graph import Graph, Tensor, flat_tensors
from .values import LayerRef


def model_order(doc) -> list[str]:
    """The model names, each after the models it uses; declaration order otherwise."""
    for name, model in doc.models.items():
        for used, span in model.uses:
            if used not in doc.models:
                raise StructureError(f"`{used}` is not a model of this spec", span,
                                     hint=did_you_mean(used, list(doc.models)) or
                                     f"models: {', '.join(doc.models)}")
            if used == name:
                raise StructureError(f"the model `{name}` cannot use itself", span)
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str], span) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            raise StructureError(f"the models use each other in a cycle: {' -> '.join(chain)}", span,
                                 hint="a model can use only models that do not use it")
        state[name] = "active"
        for used, where in doc.models[name].uses:
            visit(used, chain + [used], where)
        state[name] = "done"
        order.append(name)

    for name, model in doc.models.items():
        visit(name, [name], model.span)
    return order


def use_models(builder, name: str, root) -> None:
    """Make the models that `name` uses callable in its forward, by their names."""
    model = builder.doc.models[name]
    refs = {}
    for used, span in model.uses:
        if used in root.children or used in root.disabled:
            raise StructureError(f"the model `{name}` has a layer named `{used}`, like the model it uses", span,
                                 hint="rename the layer: the used model is called by its name")
        if any(used == n for n, _, _ in model.inputs):
            raise StructureError(f"the model `{name}` has an input named `{used}`, like the model it uses", span,
                                 hint="rename the input")
        refs[used] = LayerRef(builder.graph.roots[used])
    builder.graph.uses[name] = list(refs)
    if refs:
        root.static_scope = root.static_scope.child(refs, "used models")


def tag_nodes(graph: Graph, first: int, owner: str) -> None:
    """Record `owner` (a model or objective) as the maker of the nodes added since node number `first`."""
    for nid in list(graph.g.nodes)[first:]:
        graph.node(nid).model = owner


def check_across(graph: Graph) -> None:
    """After shape inference (complete or stopped at an error): each call of a model by another passes
    tensors of the shapes the used model declares, and each objective ends with scalars."""
    with reasoning(graph.facts):
        _check_calls(graph)
    _check_objectives(graph)


def _check_calls(graph: Graph) -> None:
    for name, used in graph.uses.items():
        for st in graph.roots[name].program or []:
            if st.kind != "module" or st.callee not in used:
                continue
            callee = graph.roots[st.callee]
            for (in_name, _, _), nid, arg in zip(callee.block.inputs, graph.inputs[st.callee], st.args):
                got, want = graph.shape(arg) if isinstance(arg, Tensor) else None, graph.node(nid).meta.shape
                if got is None:
                    continue
                try:
                    fits = len(got) == len(want) and all(
                        same(p, q, f"`{name}` calls `{st.callee}` with `{in_name}`: it compares")
                        for p, q in zip(got, want))
                except ShapeRuleError as exc:
                    raise ShapeError(exc.message, st.span, hint=exc.hint) from None
                if not fits:
                    raise ShapeError(f"`{name}` calls the model `{st.callee}` with `{in_name}` of shape "
                                     f"{fmt_shape(got)}, but `{st.callee}` takes `{in_name}`: {fmt_shape(want)}",
                                     st.span, hint=f"the shapes must agree: `{st.callee}` is the same module, "
                                                   "not a copy").with_note(
                        f"`{st.callee}` declares its inputs at {callee.block.span}")


def _check_objectives(graph: Graph) -> None:
    for name, root in graph.objectives.items():
        outs = list(flat_tensors(root.output))
        for i, t in enumerate(outs):
            shape = graph.shape(t)
            if shape is not None and len(shape) != 0:
                which = f"output {i}" if len(outs) > 1 else "the result"
                raise ShapeError(f"an objective ends with scalar losses, but {which} of `{name}` has shape "
                                 f"{fmt_shape(shape)}", root.block.forward.stmts[-1].span,
                                 hint="reduce it: e.g. reduction='mean' or 'batchmean'")
        for nid in root_nodes(graph, name):
            node = graph.node(nid)
            checked = node.kind == "op" and node.meta.shape is not None
            if checked and node.op.depends_on_training(node.attrs):
                raise TypeError_(f"`{node.op.name}` depends on the training mode, so it cannot be used in the "
                                 f"objective `{name}`", node.call_span,
                                 hint="objectives are plain functions; sample or drop out inside a model")


def root_nodes(graph: Graph, owner: str):
    """The nodes made by the model or objective `owner`."""
    for nid, node in graph.nodes():
        if node.model == owner:
            yield nid
