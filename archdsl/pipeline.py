"""The pipeline every front end runs (API, CLI, drawing, tests): spec file -> SpecDoc -> Graph -> shapes -> costs.

    read()       syntax/: YAML with positions, the expression language, names checked   -> SpecDoc
    elaborate()  elaborate/: parameters bound, layers made, forwards run into the IR     -> Graph (ir/)
                 passes/: shapes (and the checks across models), dtypes, then parameters and MACs -> Node.meta

The backends (backends/torch, backends/graphviz) and the reports (reporting/) read the checked graph.
This is the one place that puts the limits in force and turns Python's recursion limit into a located error.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import ArchDSLError, LimitError, ShapeError, Span, StructureError
from .ir.graph import Graph
from .limits import active
from .syntax.imports import resolve_imports
from .syntax.spec import SpecDoc, parse_spec, read_spec


@dataclass
class Elaborated:
    graph: Graph
    warnings: list                              # (code, span, message)
    errors: list = field(default_factory=list)  # shape errors, when collected instead of raised


@contextmanager
def limited(limits: dict, file: str, origins: dict | None = None):
    """`limits` in force; Python's own recursion limit, hit by a pathological spec, reported like them.
    `origins` (SpecDoc.origins): an error inside an imported file notes where the spec imports it."""
    with active(limits):
        try:
            yield
        except RecursionError:
            raise LimitError("the spec nests too deeply to process", Span(file, 1, 1),
                             hint="lower the nesting of blocks, lists or expressions (limits `max_depth`, "
                                  "`max_expr_depth`)") from None
        except ArchDSLError as exc:
            if exc.span is not None and exc.span.file in (origins or {}):
                exc.with_note(f"`{exc.span.file}` is imported at {origins[exc.span.file]}")
            raise


def read(path: str, limits: dict, text: str | None = None) -> SpecDoc:
    """The spec file at `path`, or `text` as if it were that file, with the blocks it imports."""
    with limited(limits, path):
        return resolve_imports(read_spec(path) if text is None else parse_spec(text, path))


def elaborate(doc: SpecDoc, overrides: dict, limits: dict, collect_errors: bool = False,
              assume: bool = False, blocks=None, carry=None) -> Elaborated:
    """The checked graph. `collect_errors`: shape errors are listed (for drawing them) instead of raised.
    `assume`: a dim equality that holds only under a condition is recorded (graph.facts) instead of an error.
    `blocks`: an incremental.BlockCache and `carry` a passes.carry.Carry, both kept across the checks of one
    document (the language server's): unchanged block instances and nodes reuse their earlier results."""
    from . import ops  # noqa: F401  (registers the ops)
    from .elaborate.build import Builder
    from .elaborate.compose import check_across
    from .passes.cost import infer_costs
    from .passes.dtypes import infer_dtypes
    from .passes.shapes import infer_shapes

    if doc.library:
        raise StructureError(f"{doc.file} holds blocks only (a block library): it has no model", Span(doc.file, 1, 1),
                             hint="import its blocks from a spec (`imports:`); `archdsl check` checks that it reads")
    with limited(limits, doc.file, doc.origins):
        builder = (blocks.builder if blocks is not None else Builder)(doc, overrides, limits, assume)
        graph = builder.build()
        carried = carry.start(graph) if carry is not None else None
        errors = []
        try:
            errors = infer_shapes(graph, collect_errors, carried)
        finally:  # shapes between models and objectives: a mismatch there is the cause of later errors
            try:
                check_across(graph)
            except ShapeError as err:
                if not collect_errors:
                    raise
                errors.append(err)
        errors += infer_dtypes(graph, collect_errors)
        infer_costs(graph, carried)
        if carry is not None:
            carry.keep(graph)
    return Elaborated(graph, builder.warnings, errors)
