"""Compare the statically inferred shape of every graph node with what PyTorch really produces.

The model is built with probes: leaf layers report through forward hooks, inline ops through a
`_probe` call wrapped around their expression in the generated forward.
"""
from __future__ import annotations

from collections import defaultdict

from .dims import fmt_shape, substitute
from .passes.loops import LOOP_KINDS

_records: dict | None = None


def probe_function(module, index: int, value):
    if _records is not None:
        _records[(module._archdsl_path, index)].append(tuple(value.shape))
    return value


def concrete_shape(shape, dims: dict) -> tuple:
    out = tuple(substitute(d, dims) for d in shape)
    bad = [d for d in out if not isinstance(d, int)]
    if bad:
        raise ValueError(f"give a value for the symbolic dims in {fmt_shape(shape)}")
    return out


def runtime_shapes(spec, model: str | None = None, dims: dict | None = None, seed: int = 0) -> dict:
    """Run `model` on random inputs of the spec's shapes (symbols from `dims`); node id -> runtime shape."""
    import torch

    global _records
    model = model or spec.models[0]
    dims = dims or {}
    net = spec.build(model, probe=True).eval()
    prefix = model if spec.doc.multi_model else ""
    module_of: dict[str, tuple[str, int]] = {}
    for m in spec.graph.roots[model].walk():
        if m.kind == "op":
            for k, nid in enumerate(m.calls):
                module_of[nid] = (m.path, k)
    leaf_paths = {path for path, _ in module_of.values()}
    hooked: dict[str, list] = defaultdict(list)
    handles = []
    for name, sub in net.named_modules():
        path = f"{prefix}.{name}" if prefix and name else (name or prefix)
        sub._archdsl_path = path
        if path in leaf_paths:
            handles.append(sub.register_forward_hook(
                lambda mod, inp, out, path=path: hooked[path].append(tuple(out.shape))))
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(concrete_shape(spec.graph.node(n)["shape"], dims), generator=gen)
              for n in spec.graph.inputs[model]]
    _records = defaultdict(list)
    try:
        with torch.no_grad():
            net(*inputs)
        records = _records
    finally:
        _records = None
        for h in handles:
            h.remove()
    out = {}
    for nid in _model_nodes(spec, model):
        node = spec.graph.node(nid)
        kind = node["kind"]
        if kind == "input":
            out[nid] = [concrete_shape(node["shape"], dims)]
        elif kind == "loop_in":
            loop = spec.graph.node(node["loop"])
            out[nid] = records[(node["scope"], f"{loop['stmt_index']}.p{loop['placeholders'].index(nid)}")]
        elif kind in LOOP_KINDS:
            out[nid] = [tuple(records[(node["scope"], f"{node['stmt_index']}.o{j}")][node["call_index"]])
                        for j in range(node["n_outputs"])]
        elif nid in module_of:
            path, k = module_of[nid]
            out[nid] = hooked[path][k::len(spec.graph.module_at(path).calls)] if node["repeat"] != 1 else [hooked[path][k]]
        else:
            calls = records[(node["scope"], node["stmt_index"])]
            out[nid] = calls if node["repeat"] != 1 else [calls[node["call_index"]]]
    return out


def _model_nodes(spec, model: str):
    prefix = spec.graph.roots[model].path
    for nid, node in spec.graph.nodes():
        scope = node["scope"]
        if not prefix or scope == prefix or scope.startswith(prefix + "."):
            yield nid


def shape_mismatches(spec, model: str | None = None, dims: dict | None = None) -> list[str]:
    """Every node whose static shape (with `dims` substituted) differs from a runtime shape. Nodes inside
    loops are compared at every step; loop nodes compare each of their outputs."""
    dims = dims or {}
    model = model or spec.models[0]
    real = runtime_shapes(spec, model, dims)
    bad = []
    for nid, seen in real.items():
        node = spec.graph.node(nid)
        if node["kind"] in LOOP_KINDS:
            pairs = list(zip(node["outputs"], seen))
        else:
            if not seen:
                bad.append(f"{node['call_span']}: `{nid}` never ran")
            pairs = [(node["shape"], s) for s in seen]
        for static, shape in pairs:
            static = concrete_shape(static, dims)
            if static != tuple(shape):
                bad.append(f"{node['call_span']}: `{nid}` static {fmt_shape(static)} != runtime {fmt_shape(shape)}")
                break
    return bad
