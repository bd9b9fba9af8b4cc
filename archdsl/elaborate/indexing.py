"""Subscripts in `forward`: an element or a part of a layer list (`layers[0]`, `layers[1:]`, `features['conv0']`),
and tensor subscripts (`x[:, :8]`, `x[..., 0]`), which become the `index` op."""
from __future__ import annotations

from ..errors import TypeError_
from ..ir.graph import Module
from ..ops.indexing import slice_text
from ..syntax import ast as A
from .values import LayerRef, describe


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def layer_item(ev, ref: LayerRef, node: A.Index, scope) -> LayerRef:
    """`layers[k]` (a negative k counts from the end), `layers[a:b]` (a sub-list) or `features['name']`."""
    module = ref.module
    if module.kind != "seq" or len(node.items) != 1:
        raise TypeError_(f"{_what(ref)} cannot be indexed", node.span,
                         hint="only layer lists (and maps of named layers) can be indexed, with one index")
    item, owners = node.items[0], ref.owners + (module,)
    children = list(module.children.items())
    if isinstance(item, A.Slice):
        parts = ev.slice_bounds(item, scope)
        text = slice_text(*parts)
        view = Module(f"{module.path}[{text}]", module.name, "seq", node.span,
                      children=dict(children[slice(*parts)]))
        return LayerRef(view, f"{ref.source}[{text}]", owners)
    key = ev.static(item, scope, "index")
    if isinstance(key, str):
        if key not in module.children:
            raise TypeError_(f"{_what(ref)} has no layer named {key!r}", item.span,
                             hint=f"its layers: {', '.join(module.children) or '(none)'}")
        # a key that is no identifier (`block1-0`) by its position: nn.Sequential takes integer indices
        source = f"{ref.source}.{key}" if key.isidentifier() else f"{ref.source}[{list(module.children).index(key)}]"
        return LayerRef(module.children[key], source, owners)
    if not _is_int(key):
        raise TypeError_(f"{_what(ref)} cannot be indexed by {describe(key)}", item.span)
    if not -len(children) <= key < len(children):
        raise TypeError_(f"index {key} is out of range for {_what(ref)}, which has {len(children)} layers",
                         item.span)
    return LayerRef(children[key][1], f"{ref.source}[{key}]", owners)


def _what(ref: LayerRef) -> str:
    return f"the layer `{ref.source}`"


def subscript_entries(ev, node: A.Index, scope) -> tuple:
    """The `subscript` attribute of the `index` op (see archdsl/ops/indexing.py) for a tensor subscript."""
    out = []
    for item in node.items:
        if isinstance(item, A.Slice):
            bounds = ev.slice_bounds(item, scope)
            if bounds[2] is not None and bounds[2] < 0:
                raise TypeError_(f"a tensor slice needs a positive step, got {bounds[2]}", item.span,
                                 hint="torch slices tensors forward only: `flip` reverses them")
            out.append(("s", *bounds))
            continue
        v = ev.static(item, scope, "index")
        if v is Ellipsis:
            out.append(("e",))
        elif v is None:
            out.append(("n",))
        elif _is_int(v):
            out.append(("i", v))
        else:
            raise TypeError_(f"a tensor index must be an integer, a slice, `...` or None, got {describe(v)}",
                             item.span, hint="indices are static: tensors cannot index tensors (use `gather`)")
    if sum(1 for e in out if e[0] == "e") > 1:
        raise TypeError_("a subscript can have only one `...`", node.span)
    return tuple(out)
