"""Write a View as DOT text: styled boxes, shape-labelled arrows, nested clusters. Same view, same bytes."""
from __future__ import annotations

import html
import textwrap

from . import style as S
from .labels import SYMBOLS, count_text, op_caption, path_range, shape_text
from .view import Item, View


class Html(str):
    """A label in Graphviz's HTML-like syntax: written between < and >, not quoted."""


def quote(v) -> str:
    if isinstance(v, Html):
        return f"<{v}>"
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def attr_list(attrs: dict) -> str:
    return "[" + " ".join(f"{k}={quote(v)}" for k, v in attrs.items()) + "]"


def esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def small(text: str, colour: str = S.MUTED) -> str:
    return f'<font point-size="{S.SMALL}" color="{colour}">{esc(text)}</font>'


def write_dot(view: View, title: str = "", direction: str = "TB") -> str:
    graph = view.index.graph
    block_rank = _block_ranks(view)
    lines = ["digraph archdsl {"]
    graph_attrs = dict(S.GRAPH_ATTRS, rankdir=direction)
    if title:
        graph_attrs.update(label=Html(title), labelloc="t")
    lines.append(f"  graph {attr_list(graph_attrs)}")
    lines.append(f"  node {attr_list(S.NODE_ATTRS)}")
    lines.append(f"  edge {attr_list(S.EDGE_ATTRS)}")

    out_shapes: dict[str, list] = {}
    for e in view.edges:
        shapes = out_shapes.setdefault(e.tail.id, [])
        text = shape_text(e.shape)
        if text not in shapes:
            shapes.append(text)

    inside: dict[int, list] = {}
    for item in view.items:
        inside.setdefault(id(item.container), []).append(item)
    children: dict[int, list] = {}
    for c in view.clusters:
        if c.parent is not None:
            children.setdefault(id(c.parent), []).append(c)

    def emit_container(c, indent: str) -> None:
        for item in inside.get(id(c), []):
            lines.append(f"{indent}{quote(item.id)} {attr_list(_node_attrs(graph, item, out_shapes))}")
        for child in children.get(id(c), []):
            lines.append(f"{indent}subgraph {quote('cluster_' + child.path)} {{")
            lines.append(f"{indent}  graph {attr_list(_cluster_attrs(child, block_rank))}")
            emit_container(child, indent + "  ")
            lines.append(f"{indent}}}")

    for name in view.models:
        root = view.index.roots[name]
        if view.model_clusters:
            lines.append(f"  subgraph {quote('cluster_model_' + name)} {{")
            lines.append(f"    graph {attr_list(_model_cluster_attrs(name))}")
            emit_container(root, "    ")
            lines.append("  }")
        else:
            emit_container(root, "  ")
    for e in view.edges:
        lines.append(f"  {quote(e.tail.id)} -> {quote(e.head.id)} {attr_list(_edge_attrs(e))}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _block_ranks(view: View) -> dict:
    """Block name -> its place among the spec's block types, for a stable cluster colour per type."""
    names: list[str] = []
    for c in view.clusters:
        if c.kind == "block" and c.level > 0 and c.title not in names:
            names.append(c.title)
    return {n: k for k, n in enumerate(names)}


def _node_attrs(graph, item: Item, out_shapes: dict) -> dict:
    if item.kind == "input":
        node = graph.node(item.nodes[0])
        fill, border = S.IO_COLOURS
        return {"label": Html(f'<b>{esc(node.get("name", item.id))}</b>'), "fillcolor": fill, "color": border,
                "fontcolor": "white", "tooltip": f"input {item.id}"}
    if item.kind == "output":
        fill, border = S.IO_COLOURS
        name = "output" if not item.id.partition("#")[2] else f"output {item.id.partition('#')[2]}"
        return {"label": Html(f"<b>{name}</b>"), "fillcolor": fill, "color": border, "fontcolor": "white",
                "tooltip": item.id}
    if item.kind == "unit":
        return _unit_attrs(graph, item, out_shapes)
    node = graph.node(item.nodes[0])
    op = node.get("op")
    if op is None:
        attrs = {"label": Html(f"<b>{esc(node.get('kind') or item.id)}</b>"), "fillcolor": S.FAMILY_COLOURS["other"][0],
                 "color": S.FAMILY_COLOURS["other"][1], "tooltip": item.id}
        return _with_error(attrs, item)
    fill, border = S.family_colours(op.family)
    attrs = {"fillcolor": fill, "color": border, "tooltip": item.id}
    if op.name in SYMBOLS:
        attrs.update(label=SYMBOLS[op.name], shape="circle", width="0.3", height="0.3", fixedsize="true",
                     fontsize=str(S.FONT_SIZE + 2), margin="0")
        if item.error:
            attrs.update(fixedsize="false", shape="box", label=Html(f"<b>{op.name}</b>"))
        return _with_error(attrs, item)
    name, details = op_caption(op, node.get("attrs") or {})
    head = f"<b>{esc(name)}</b> {esc(details)}".strip() if name else f"<b>{esc(details)}</b>"
    extra = []
    module = node.get("module")
    if module:
        extra.append(module.rpartition(".")[2])
    if node.get("params"):
        extra.append(count_text(node["params"]))
    label = head + (f"<br/>{small(' · '.join(extra))}" if extra else "")
    attrs["label"] = Html(label)
    if op.family == "activation" and not extra:
        attrs.update(fontsize=str(S.FONT_SIZE - 1), height="0.26", margin="0.1,0.03")
    return _with_error(attrs, item)


def _unit_attrs(graph, item: Item, out_shapes: dict) -> dict:
    first, last = item.units[0].container, item.units[-1].container
    head = f"<b>{esc(first.title)}</b>"
    if item.count > 1:
        head += f" x {item.count}"
    where = path_range(first.path, last.path)
    params = sum(graph.node(n).get("params", 0) or 0 for n in item.nodes)
    shapes = out_shapes.get(item.id) or [shape_text(graph.node(item.nodes[-1]).get("shape"))]
    facts = ", ".join(shapes) + (f" · {count_text(params)} params" if params else "")
    fill, border = S.UNIT_COLOURS
    attrs = {"label": Html(f"{head}<br/>{small(where)}<br/>{small(facts)}"), "fillcolor": fill, "color": border,
             "penwidth": "1.6", "tooltip": where}
    return _with_error(attrs, item)


def _with_error(attrs: dict, item: Item) -> dict:
    if not item.error:
        return attrs
    lines = textwrap.wrap(item.error, 52) or [item.error]
    message = "<br/>".join(small(line, S.ERROR) for line in lines)
    label = attrs["label"] if isinstance(attrs["label"], Html) else esc(attrs["label"])
    attrs.update(label=Html(f"{label}<br/>{message}"), fillcolor=S.ERROR_FILL, color=S.ERROR, penwidth="2")
    return attrs


def _cluster_attrs(c, block_rank: dict) -> dict:
    name = c.module.name
    if name.isdigit() and c.parent is not None and c.parent.level > 0:
        name = f"{c.parent.module.name}.{name}"
    elif c.level == 1 or name.isdigit():
        name = c.path
    if c.kind == "seq":
        return {"label": Html(f"<b>{esc(name)}</b>"), "style": "rounded,dashed", "color": S.SEQ_BORDER,
                "fontsize": str(S.FONT_SIZE), "margin": "10"}
    fill, border = S.cluster_colours(block_rank.get(c.title, 0))
    label = f"<b>{esc(name)}</b> {small(c.title)}"
    return {"label": Html(label), "style": "rounded,filled", "fillcolor": fill, "color": border,
            "fontsize": str(S.FONT_SIZE), "margin": "10"}


def _model_cluster_attrs(name: str) -> dict:
    return {"label": Html(f"<b>{esc(name)}</b>"), "style": "rounded", "color": S.MUTED,
            "fontsize": str(S.FONT_SIZE + 1), "margin": "14"}


def _edge_attrs(e) -> dict:
    attrs = {"label": shape_text(e.shape)}
    if e.error:
        attrs.update(color=S.ERROR, fontcolor=S.ERROR, penwidth="2")
    elif e.shape is None:
        attrs.update(style="dashed")
    return attrs
