"""Write a View as DOT text: styled boxes, shape-labelled arrows, nested clusters. Same view, same bytes.

Every tensor's shape is written once, on the arrow leaving its producer; a tensor read by several
boxes first goes to a small junction point, from which unlabelled arrows fan out. Labelled arrows
carry `id="tensor:NODE"` (NODE: the graph node that makes the tensor), so tools and tests can find
the shape of each tensor in the DOT text or in the SVG.
"""
from __future__ import annotations

import html
import textwrap

from . import style as S
from ...ir.graph import ModeChoice
from ...reporting.ties import tie_text
from .labels import SYMBOLS, contents, count_text, local_name, op_caption, path_range, shape_text, tensor_text
from .view import Edge, Item, TieEdge, View


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


def tensor_id(t) -> str:
    return f"tensor:{t.node}" + (f":{t.index}" if t.index else "")


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

    fans = _fan_outs(view.edges)
    out_shapes: dict[str, list] = {}
    for e in view.edges:
        shapes = out_shapes.setdefault(e.tail.id, [])
        if tensor_text(e.shape, e.dtype) not in shapes:
            shapes.append(tensor_text(e.shape, e.dtype))

    # What each container holds, in order of appearance: its boxes, junctions, child clusters and loop frames.
    entries: dict = {}
    frame_of = {}
    for frame in view.loops:
        for member in [frame.item, *frame.inputs, frame.body, frame.body_item]:
            if member is not None:
                frame_of.setdefault(id(member), frame)
    placed: set[int] = set()

    def put(parent, entry, member) -> None:
        frame = frame_of.get(id(member))
        if frame is not None:
            if id(frame) not in placed:
                placed.add(id(frame))
                entries.setdefault(id(parent), []).append(("frame", frame))
            parent = frame
        entries.setdefault(id(parent), []).append(entry)

    for item in view.items:
        chain, c = [], item.container
        while c is not None:
            chain.append(c)
            c = c.parent
        for outer, inner in zip(reversed(chain), list(reversed(chain))[1:]):
            if id(inner) not in placed:
                placed.add(id(inner))
                put(outer, ("cluster", inner), inner)
        put(item.container, ("item", item), item)
        for key in fans.get(item.id, ()):
            put(item.container, ("junction", key), item)

    def emit(c, indent: str) -> None:
        for kind, what in entries.get(id(c), []):
            if kind == "item":
                lines.append(f"{indent}{quote(what.id)} {attr_list(_node_attrs(graph, what, out_shapes, view.tied))}")
            elif kind == "junction":
                lines.append(f"{indent}{quote(_junction_id(what))} {attr_list(S.JUNCTION_ATTRS)}")
            elif kind == "frame":
                lines.append(f"{indent}subgraph {quote('cluster_loop_' + what.item.id)} {{")
                lines.append(f"{indent}  graph {attr_list(_frame_attrs(graph, what))}")
                emit(what, indent + "  ")
                if len(what.inputs) > 1:      # the step inputs side by side at the top of the frame
                    lines.append(f"{indent}  {{rank=same; {'; '.join(quote(i.id) for i in what.inputs)}}}")
                lines.append(f"{indent}}}")
            else:
                lines.append(f"{indent}subgraph {quote('cluster_' + what.path)} {{")
                lines.append(f"{indent}  graph {attr_list(_cluster_attrs(what, block_rank))}")
                emit(what, indent + "  ")
                lines.append(f"{indent}}}")

    for name in view.models:
        root = view.index.roots[name]
        if view.model_clusters:
            lines.append(f"  subgraph {quote('cluster_model_' + name)} {{")
            lines.append(f"    graph {attr_list(_model_cluster_attrs(name, name in view.index.objectives))}")
            emit(root, "    ")
            lines.append("  }")
        else:
            emit(root, "  ")

    done: set = set()
    for e in view.edges:
        key = (e.tail.id, e.tensor)
        if key in fans.get(e.tail.id, ()):
            junction = _junction_id(key)
            if key not in done:
                done.add(key)
                lines.append(f"  {quote(e.tail.id)} -> {quote(junction)} {attr_list(_edge_attrs(e, to_junction=True))}")
            lines.append(f"  {quote(junction)} -> {quote(e.head.id)} {attr_list(_branch_attrs(e))}")
        else:
            lines.append(f"  {quote(e.tail.id)} -> {quote(e.head.id)} {attr_list(_edge_attrs(e))}")
    for frame in view.loops:
        for back in frame.back_edges:
            lines.append(f"  {quote(back.tail.id)} -> {quote(back.head.id)} {attr_list(_back_edge_attrs(back))}")
    for tie in view.ties:
        lines.append(f"  {quote(tie.tail.id)} -> {quote(tie.head.id)} {attr_list(_tie_attrs(tie))}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _fan_outs(edges: list) -> dict:
    """Box id -> the (box id, tensor) keys of its tensors that go to several boxes, in order."""
    heads: dict = {}
    for e in edges:
        heads.setdefault((e.tail.id, e.tensor), []).append(e.head.id)
    fans: dict = {}
    for key, hs in heads.items():
        if len(hs) > 1:
            fans.setdefault(key[0], []).append(key)
    return fans


def _junction_id(key) -> str:
    return "split:" + tensor_id(key[1])[len("tensor:"):]


def _block_ranks(view: View) -> dict:
    """Block name -> its place among the block types drawn, for a stable cluster colour per type."""
    names: list[str] = []
    for c in view.clusters:
        if c.kind == "block" and c.level > 0 and c.title not in names:
            names.append(c.title)
    return {n: k for k, n in enumerate(names)}


def _node_attrs(graph, item: Item, out_shapes: dict, tied: dict) -> dict:
    if item.kind in ("input", "output"):
        fill, border = S.IO_COLOURS
        if item.kind == "input":
            name = (graph.node(item.nodes[0]).name or item.id)
        else:
            k = item.id.partition("#")[2]
            name = f"output {k}" if k else "output"
            result = graph.outputs.get(item.id[len("output:"):].partition("#")[0])
            if isinstance(result, ModeChoice) and result.only_in(item.output_of):  # `(y, aux) if training else y`
                name += f" ({result.only_in(item.output_of)})"
        return {"label": Html(f"<b>{esc(name)}</b>"), "fillcolor": fill, "color": border, "fontcolor": "white",
                "tooltip": item.id}
    if item.kind == "unit":
        return _unit_attrs(graph, item, out_shapes, tied)
    if item.kind == "loop_in":
        node = graph.node(item.nodes[0])
        name = item.id[len((node.loop or "")) + 1:] if node.loop else item.id
        return {"label": Html(f"<i>{esc(name)}</i>"), "fillcolor": "white", "color": S.LOOP,
                "style": "rounded,filled,dashed", "fontsize": str(S.FONT_SIZE - 1), "height": "0.26",
                "margin": "0.1,0.03", "tooltip": f"step input {item.id}"}
    if item.kind == "loop":
        node = graph.node(item.nodes[0])
        body = (node.body or "").rpartition(".")[2]
        fill, border = S.family_colours("recurrent")
        attrs = {"label": Html(f"<b>{esc(node.kind)}</b> {esc(body)}"),
                 "fillcolor": fill, "color": border, "tooltip": item.id}
        return _with_error(attrs, item)
    node = graph.node(item.nodes[0])
    op = node.op
    if op is None:
        fill, border = S.FAMILY_COLOURS["other"]
        label = Html(f"<b>{esc(node.kind or 'node')}</b>")
        return _with_error({"label": label, "fillcolor": fill, "color": border, "tooltip": item.id}, item)
    fill, border = S.family_colours(op.family)
    attrs = {"fillcolor": fill, "color": border, "tooltip": item.id}
    if op.name in SYMBOLS and not item.error:
        attrs.update(label=SYMBOLS[op.name], shape="circle", width="0.3", height="0.3", fixedsize="true",
                     fontsize=str(S.FONT_SIZE + 2), margin="0")
        if node.meta.shape is None:
            attrs.update(style="filled,dashed", fillcolor="white")
        return attrs
    name, details = op_caption(op, node.attrs or {})
    head = f"<b>{esc(name)}</b> {esc(details)}".strip() if name else f"<b>{esc(details)}</b>"
    for fused in item.nodes[1:]:            # activations drawn in this box
        act = graph.node(fused)
        act_name, act_details = op_caption(act.op, act.attrs or {})
        colour = S.family_colours(act.op.family)[1]
        head += f' + <font color="{colour}"><b>{esc(act_name)}</b></font>' + (f" {esc(act_details)}" if act_details
                                                                               else "")
    extra = []
    layer = (node.module or "").rpartition(".")[2]
    if layer and not layer.isdigit():
        extra.append(layer)
    if node.meta.params:
        extra.append(count_text(node.meta.params))
    if item.nodes[0] in tied:                # its weight is another layer's, counted there
        extra.append(tie_text([tied[item.nodes[0]].key]))
    attrs["label"] = Html(head + (f"<br/>{small(' · '.join(extra))}" if extra else ""))
    if op.family == "activation" and not extra:
        attrs.update(fontsize=str(S.FONT_SIZE - 1), height="0.26", margin="0.1,0.03")
    if node.meta.shape is None and not item.error:
        attrs.update(style="rounded,filled,dashed", fillcolor="white")   # after a shape error: not checked
    return _with_error(attrs, item)


def _unit_attrs(graph, item: Item, out_shapes: dict, tied: dict) -> dict:
    first, last = item.units[0].container, item.units[-1].container
    where = path_range(local_name(first), local_name(last))
    if first.level == 0:                    # a model used by another (`uses:`)
        head, sub = f"<b>{esc(first.path)}</b>", "model"
    elif first.kind == "block":
        head, sub = f"<b>{esc(first.title)}</b>", where
    else:
        head, sub = f"<b>{esc(where)}</b>", contents(first.module)
    if item.count > 1:
        head += f" x {item.count}"
    params = sum((graph.node(n).meta.params or 0) or 0 for n in item.nodes)
    shapes = out_shapes.get(item.id) or [shape_text(graph.node(item.nodes[-1]).meta.shape)]
    facts = ", ".join(shapes) + (f" · {count_text(params)} params" if params else "")
    keys = list(dict.fromkeys(tied[n].key for n in item.nodes if n in tied))
    if keys:                                 # a tied layer folded in: its weight is counted once, at its source
        facts += f" · {tie_text(keys)}"
    fill, border = S.UNIT_COLOURS
    attrs = {"label": Html(f"{head}<br/>{small(sub)}<br/>{small(facts)}"), "fillcolor": fill, "color": border,
             "penwidth": "1.6", "tooltip": path_range(first.path, last.path)}
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
    name = local_name(c)
    common = {"fontsize": str(S.FONT_SIZE), "labeljust": "l", "margin": "10", "tooltip": c.path}
    if c.kind == "seq":
        return {"label": Html(f"<b>{esc(name)}</b>"), "style": "rounded,dashed", "color": S.SEQ_BORDER, **common}
    fill, border = S.cluster_colours(block_rank.get(c.title, 0))
    return {"label": Html(f"<b>{esc(name)}</b> {small(c.title)}"), "style": "rounded,filled", "fillcolor": fill,
            "color": border, **common}


def _frame_attrs(graph, frame) -> dict:
    body = (graph.node(frame.item.nodes[0]).body or "").rpartition(".")[2]
    label = f"<b>{esc(frame.kind)}</b> {esc(body)} {small(frame.steps, S.LOOP)}"
    return {"label": Html(label), "style": "rounded,dashed", "color": S.LOOP, "penwidth": "1.4",
            "fontsize": str(S.FONT_SIZE), "labeljust": "l", "margin": "12", "tooltip": frame.item.id}


def _back_edge_attrs(back) -> dict:
    return {**({"label": back.label} if back.label else {}), "style": "dashed", "color": S.LOOP, "fontcolor": S.LOOP, "constraint": "false",
            "penwidth": "1.3"}


def _tie_attrs(tie: TieEdge) -> dict:
    """A tie: dashed, labelled, not pulling the layout (the source is often far above)."""
    return {"id": f"tie:{tie.head.id}", "label": "tied weight", "tooltip": tie.key, "style": "dashed",
            "color": S.TIE, "fontcolor": S.TIE, "constraint": "false", "penwidth": "1.3"}


def _model_cluster_attrs(name: str, objective: bool = False) -> dict:
    label = f"<b>{esc(name)}</b>" + (f" {small('objective')}" if objective else "")
    return {"label": Html(label), "style": "rounded" + (",dashed" if objective else ""), "color": S.MUTED,
            "labeljust": "l", "fontsize": str(S.FONT_SIZE + 1), "margin": "14"}


def _edge_attrs(e: Edge, to_junction: bool = False) -> dict:
    attrs = {"id": tensor_id(e.tensor), "label": tensor_text(e.shape, e.dtype)}
    if to_junction:
        attrs["arrowhead"] = "none"
    if e.error and not to_junction:
        attrs.update(color=S.ERROR, fontcolor=S.ERROR, penwidth="2")
    elif e.shape is None:
        attrs["style"] = "dashed"
    return attrs


def _branch_attrs(e: Edge) -> dict:
    """From a junction to one reader; an input its reader rejects is red and repeats its shape."""
    if e.error:
        return {"label": tensor_text(e.shape, e.dtype), "color": S.ERROR, "fontcolor": S.ERROR, "penwidth": "2"}
    return {"style": "dashed"} if e.shape is None else {}
