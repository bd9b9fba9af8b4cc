"""Compare the statically inferred shape of every graph node with what PyTorch really produces.

The model is built with probes: leaf layers report through forward hooks, inline ops through a
`_probe` call wrapped around their expression in the generated forward.
"""
from __future__ import annotations

from collections import defaultdict

from ...dims import fmt_shape, substitute
from ...ir.graph import MODES, ModeChoice, flat_tensors
from ...passes.loops import LOOP_KINDS
from .lowerings import probed_call

_records: dict | None = None


def probe_function(module, index: int, value):
    if _records is not None:
        _records[(module._archdsl_path, index)].append(_shapes(value))
    return value


def _shapes(value):
    """A tensor's shape; for several outputs (a tuple structure), the list of their shapes in order."""
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in (_shapes(v) if isinstance(v, (tuple, list)) else [_shapes(v)])]
    return tuple(value.shape)


INT_DTYPES = ("int64", "int32")


def example_inputs(spec, model: str | None = None, dims: dict | None = None, seed: int = 0) -> list:
    """Random inputs for `model` with the declared shapes (symbols from `dims`) and dtypes: floats from a normal
    distribution, integers (token ids) uniform in [low, high), booleans with both values."""
    import torch

    model = model or spec.models[0]
    dims = dims or {}
    gen = torch.Generator().manual_seed(seed)
    out = []
    for n in spec.graph.inputs[model]:
        node = spec.graph.node(n)
        shape, dtype = concrete_shape(node.meta.shape, dims), node.dtype or "float32"
        if dtype in INT_DTYPES:
            low = substitute(node.low or 0, dims)
            high = substitute(node.high if node.high is not None else low + 2, dims)
            out.append(torch.randint(int(low), int(high), shape, generator=gen, dtype=getattr(torch, dtype)))
        elif dtype == "bool":
            out.append(torch.rand(shape, generator=gen) < 0.5)
        else:
            out.append(torch.randn(shape, generator=gen, dtype=getattr(torch, dtype)))
    return out


def meta_inputs(spec, model: str | None = None, dims: dict | None = None) -> list:
    """Inputs with the declared shapes and dtypes on the meta device (no data)."""
    import torch

    nodes = [spec.graph.node(n) for n in spec.graph.inputs[model or spec.models[0]]]
    return [torch.empty(concrete_shape(node.meta.shape, dims or {}), device="meta",
                        dtype=getattr(torch, node.dtype or "float32")) for node in nodes]


def concrete_shape(shape, dims: dict) -> tuple:
    out = tuple(substitute(d, dims) for d in shape)
    bad = [d for d in out if not isinstance(d, int)]
    if bad:
        raise ValueError(f"give a value for the symbolic dims in {fmt_shape(shape)}")
    return out


def runtime_shapes(spec, model: str | None = None, dims: dict | None = None, seed: int = 0,
                   device: str = "cpu") -> dict:
    """Run `model` on random inputs of the spec's shapes (symbols from `dims`); node id -> runtime shape.

    The model runs in eval mode; where it has nodes that run only in training mode (the training side of
    `a if training else b`, or of an output that differs by mode), it runs again in training mode for those,
    with only the modules that choose by mode in training mode (layers such as batch norm stay in eval mode,
    as the shapes do not depend on it).
    device="meta" builds and runs the model on PyTorch's meta device: shapes only, nothing allocated.
    """
    import torch

    model = model or spec.models[0]
    dims = dims or {}
    if model in spec.doc.objectives:
        return _objective_shapes(spec, model, dims, seed)
    place = torch.device(device)
    net = spec.build(model, probe=True, device=None if place.type == "cpu" else place.type).eval()
    for name, sub in net.named_modules():
        sub._archdsl_path = _graph_path(spec.graph, model, name)
    inputs = meta_inputs(spec, model, dims) if place.type == "meta" else \
        [x.to(place) for x in example_inputs(spec, model, dims, seed)]   # cpu, cuda
    train_only, eval_only = _mode_only(spec.graph, model)
    mine = list(_model_nodes(spec, model))
    out = _run(spec, model, net, inputs, place, [nid for nid in mine if nid not in train_only], dims)
    if train_only:
        deciding = _deciding(spec.graph, model)
        for sub in net.modules():
            sub.training = sub._archdsl_path in deciding
        ran = _run(spec, model, net, inputs, place, [nid for nid in mine if nid not in eval_only], dims)
        net.eval()
        out.update((nid, ran[nid]) for nid in train_only if nid in ran)
    return out


def _run(spec, model: str, net, inputs: list, place, nodes: list, dims: dict) -> dict:
    """Run the built model once; the runtime shapes of `nodes`, the graph nodes that this run executes."""
    import torch

    global _records
    graph = spec.graph
    layers = {m.path: m for r in _roots_used(graph, model) for m in r.walk() if m.kind == "op"}
    module_of: dict[str, tuple[str, int]] = {}
    n_calls: dict[str, int] = defaultdict(int)  # calls of each layer made by this model (not by others using it)
    first_call: dict[str, int] = {}  # per block scope: the index of its first call made by this model
    for nid in nodes:
        node = graph.node(nid)
        m = layers.get(node.module)
        if m is not None and not probed_call(m.op):  # probed layers report through `_probe`, like inline ops
            module_of[nid] = (m.path, n_calls[m.path])
            n_calls[m.path] += 1
        if node.call_index is not None:
            first_call[node.scope] = min(first_call.get(node.scope, node.call_index), node.call_index)
    leaf_paths = {path for path, _ in module_of.values()}
    hooked: dict[str, list] = defaultdict(list)
    handles = [sub.register_forward_hook(lambda mod, inp, out, path=sub._archdsl_path:
                                         hooked[path].append(tuple(out.shape)))
               for sub in net.modules() if sub._archdsl_path in leaf_paths]
    _records = defaultdict(list)
    try:
        with torch.no_grad(), place:
            net(*inputs)
        records = _records
    finally:
        _records = None
        for h in handles:
            h.remove()
    out = {}
    for nid in nodes:
        node = spec.graph.node(nid)
        kind = node.kind
        # which of this model's calls of the block made the node (other models may call it too)
        call = node.call_index - first_call[node.scope] if node.call_index is not None else None
        if node.step is not None:  # made in a `for` over a layer list: one record per iteration of each call
            call = call * node.step[1] + node.step[0]
        if kind == "input":
            out[nid] = [concrete_shape(node.meta.shape, dims)]
        elif kind == "loop_in":
            loop = spec.graph.node(node.loop)
            out[nid] = records[(node.scope, f"{loop.stmt_index}.p{loop.placeholders.index(nid)}")]
        elif kind in LOOP_KINDS:
            out[nid] = [tuple(records[(node.scope, f"{node.stmt_index}.o{j}")][call])
                        for j in range(node.n_outputs)]
        elif nid in module_of:
            path, k = module_of[nid]
            out[nid] = hooked[path][k::n_calls[path]] if node.meta.repeat != 1 else [hooked[path][k]]
        else:
            calls = records[(node.scope, node.stmt_index)]
            out[nid] = calls if node.meta.repeat != 1 else [calls[call]]
    return out


def _model_nodes(spec, model: str):
    """The nodes made by `model`'s forward, including those it makes in the layers of the models it uses
    (not those of its other methods: the probe runs `forward`)."""
    for nid, node in spec.graph.nodes():
        if node.model == model and node.method is None:
            yield nid


def _mode_only(graph, model: str) -> tuple[set, set]:
    """The nodes that run only in training mode, and those that run only in eval mode: used only on that side
    of `a if training else b` (the `if_training` op's input 0 or 1), or of `model`'s output that differs by
    mode."""
    output = graph.outputs.get(model)
    sides = [set(), set()]
    if isinstance(output, ModeChoice):
        sides = [{t.node for t in flat_tensors(output.side(mode))} for mode in MODES]
    only: tuple = (set(), set())
    for k in (0, 1):
        returned, other = sides[k] - sides[1 - k], sides[1 - k]
        for nid, _ in reversed(list(graph.nodes())):
            uses = [graph.node(s) for s in graph.g.successors(nid)]
            if nid not in other and (uses or nid in returned) and all(
                    u.id in only[k] or (u.op is not None and u.op.name == "if_training" and u.inputs[1 - k].node != nid)
                    for u in uses):
                only[k].add(nid)
    return only


def _deciding(graph, model: str) -> set:
    """The paths of the modules whose forward chooses by mode: `model`'s own, and every block instance with an
    `a if training else b`."""
    return {graph.roots[model].path} | {node.scope for _, node in graph.nodes()
                                        if node.op is not None and node.op.name == "if_training"}


def _roots_used(graph, model: str):
    """The root of `model` and of every model it uses, directly or through others."""
    yield graph.roots[model]
    for used in graph.uses.get(model, []):
        yield from _roots_used(graph, used)


def _graph_path(graph, model: str, name: str) -> str:
    """The graph path of the submodule `name` of the built `model`: a used model's layers keep its own paths."""
    head, _, rest = name.partition(".")
    if head in graph.uses.get(model, ()):
        return _graph_path(graph, head, rest)
    prefix = graph.roots[model].path
    return f"{prefix}.{name}" if prefix and name else (name or prefix)


def shape_mismatches(spec, model: str | None = None, dims: dict | None = None, device: str = "cpu") -> list[str]:
    """Every node whose static shape (with `dims` substituted) differs from a runtime shape. Nodes inside
    loops are compared at every step; loop nodes compare each of their outputs."""
    dims = dims or {}
    model = model or spec.models[0]
    real = runtime_shapes(spec, model, dims, device=device)
    bad = []
    for nid, seen in real.items():
        node = spec.graph.node(nid)
        if node.kind in LOOP_KINDS:
            pairs = list(zip(node.meta.outputs, seen))
        elif node.meta.outputs is not None:  # a multi-output op: every output at every call
            if not seen or any(len(shapes) != len(node.meta.outputs) for shapes in seen):
                bad.append(f"{node.call_span}: `{nid}` never ran or returned another number of outputs")
            pairs = [(s, r) for shapes in seen for s, r in zip(node.meta.outputs, shapes)]
        else:
            if not seen:
                bad.append(f"{node.call_span}: `{nid}` never ran")
            pairs = [(node.meta.shape, s) for s in seen]
        for static, shape in pairs:
            static = concrete_shape(static, dims)
            if static != tuple(shape):
                bad.append(f"{node.call_span}: `{nid}` static {fmt_shape(static)} != runtime {fmt_shape(shape)}")
                break
    return bad


class _Scope:
    """What an objective's probes report as `self`: the objective's scope, in eval mode."""

    def __init__(self, path: str):
        self._archdsl_path = path
        self.training = False


def _objective_shapes(spec, name: str, dims: dict, seed: int) -> dict:
    """Run the objective on random inputs of its shapes (probabilities: uniform in [0, 1)); node -> shapes."""
    import torch

    from ...elaborate.compose import root_nodes
    from .runtime import exec_source

    global _records

    graph = spec.graph
    source = spec._codegen(probe=True).generate()
    fn = exec_source(source, spec.doc.file, {"_probe": probe_function, "_objective_scope": _Scope})[name]
    gen = torch.Generator().manual_seed(seed)
    args = []
    for t in graph.objectives[name].inputs:
        node = graph.node(t.node)
        shape = concrete_shape(graph.shape(t), dims)
        dtype = node.dtype
        if dtype in ("int64", "int32"):
            low = substitute(node.low or 0, dims)
            high = substitute(node.high if node.high is not None else low + 2, dims)
            args.append(torch.randint(int(low), int(high), shape, generator=gen, dtype=getattr(torch, dtype)))
        else:
            args.append(torch.rand(shape, generator=gen))
    _records = defaultdict(list)
    try:
        with torch.no_grad():
            fn(*args)
        records = _records
    finally:
        _records = None
    out = {}
    for nid in root_nodes(graph, name):
        node = graph.node(nid)
        if node.kind == "input" or node.objective_input:
            out[nid] = [concrete_shape(node.meta.shape, dims)]
        else:
            out[nid] = [records[(node.scope, node.stmt_index)][node.call_index]]
    return out
