"""The Graphviz backend: architecture diagrams as DOT, SVG, PNG or PDF.

    dot_text, errors = spec_dot(spec, depth=1)             # DOT text; no Graphviz needed
    errors = draw_spec(spec, "resnet.svg", depth=2)          # the format comes from the suffix

Boxes are ops (`conv2d 3x3/2, 64`), arrows carry the statically inferred shape
(`N x 64 x 56 x 56`, with `dtypes` its dtype too: `N x T (int64)`), block instances are clusters, and with `depth` the blocks nested deeper
are folded into one box each (a chain of identical ones into one `x N` box).
"""
from __future__ import annotations

from ...errors import UsageError
from .checked_graph import graph_for_drawing
from .dot import esc, small, write_dot
from .labels import count_text
from .render import FORMATS, format_of, render, write
from .view import build_view

DIRECTIONS = ("TB", "LR")

__all__ = ["FORMATS", "DIRECTIONS", "spec_dot", "draw_spec", "format_of", "render"]


def spec_dot(spec, depth: int | None = None, direction: str = "TB", model: str | None = None,
             allow_errors: bool = False, title: bool = True, fuse: bool = True,
             dtypes: bool = False) -> tuple[str, list]:
    """The spec's diagram as DOT text, and the shape errors drawn in it (only with `allow_errors`).

    fuse: draw an activation that is the only reader of an op in that op's box (`conv2d 3x3, 64 + relu`).
    dtypes: label each arrow with its dtype too (`N x T (int64)`).
    """
    if direction not in DIRECTIONS:
        raise UsageError(f"the direction must be TB (top to bottom) or LR (left to right), got {direction!r}")
    graph, errors, failures = graph_for_drawing(spec, allow_errors)
    view = build_view(graph, depth, model, failures, fuse, dtypes)
    heading = _title(spec, view) if title else ""
    return write_dot(view, heading, direction), errors


def draw_spec(spec, path: str, depth: int | None = None, direction: str = "TB", model: str | None = None,
              allow_errors: bool = False, title: bool = True, fuse: bool = True, dtypes: bool = False) -> list:
    """Write the diagram to `path` (.svg, .png, .pdf or .dot); return the shape errors drawn in it."""
    fmt = format_of(path)
    text, errors = spec_dot(spec, depth, direction, model, allow_errors, title, fuse, dtypes)
    write(path, render(text, fmt))
    return errors


def _title(spec, view) -> str:
    """The spec's name and settings, its parameters and the MACs of one forward pass (the summary's headline:
    no methods, eval mode; of one model where one is drawn, the models it uses counted once)."""
    from ...reporting.summary import headline_text, summarize

    graph = view.index.graph
    one = view.models[0] if len(view.models) == 1 and len(graph.roots) > 1 else None
    s = summarize(graph, model=one)
    settings = " ".join(f"{k}={v}" for k, v in spec.overrides.items())
    name = spec.name + (f" ({one})" if one else "")
    facts = f"{count_text(s.params)} parameters · {headline_text(s, count_text)} MACs"
    return f"<b>{esc(name)}</b> {small(settings)}<br/>{small(facts)}" if settings else \
        f"<b>{esc(name)}</b><br/>{small(facts)}"
