"""Summary tables: per-layer (or per-block) rows and totals, as text, Markdown, CSV or JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..dims import Shape, as_static, fmt_dim, fmt_shape
from ..ir.containers import ContainerIndex, aggregate_rows
from ..ir.graph import Graph
from ..passes.loops import LOOP_KINDS
from .ties import tie_text, ties


@dataclass
class SummaryRow:
    name: str
    op: str
    shape: Shape
    params: int
    macs: Any
    dtype: str | None = None  # None for a folded block (summary depth)
    tied: tuple = ()          # the keys of other layers' parameters it reuses, counted there ('transformer.wte.weight')


@dataclass
class LoopCost:
    """The cost of one loop (scan, loop, decode): its step count and the MACs of one step of its body."""

    name: str
    kind: str
    steps: Any
    macs_per_step: Any


@dataclass
class Summary:
    rows: list
    params: int
    macs: Any
    loops: list = field(default_factory=list)   # LoopCost of every loop, outermost first

    def __iter__(self):
        return iter(self.rows)

    def macs_at(self, **dims) -> Any:
        """Total MACs with symbolic dims set: `summary.macs_at(N=1, T=20)`."""
        from ..dims import substitute

        return substitute(self.macs, dims)

    def macs_per(self, dim: str) -> Any:
        """What one more unit of the dim `dim` adds to the total MACs, e.g. per time step: `macs_per('T')`
        (the coefficient of T where the total is linear in T, as for a scan over T)."""
        if isinstance(self.macs, int):
            return 0
        import sympy

        syms = {s.name: s for s in self.macs.free_symbols}
        return as_static(sympy.expand(sympy.diff(self.macs, syms[dim]))) if dim in syms else 0


def summarize(graph: Graph, depth: int | None = None) -> Summary:
    """One row per op; with `depth` K, one row per block instance or sequence nested deeper than K (0: top).
    A tied layer's row counts none of the parameter it reuses (its source's row does) and names its key."""
    rows, total_params, total_macs = [], 0, 0
    tied = ties(graph)
    for nid, node in graph.nodes():
        if node.kind in ("input", "loop_in"):
            continue
        op = node.op.name if node.op is not None else node.kind
        rows.append(SummaryRow(nid, op, node.meta.shape, node.meta.params, node.meta.macs, node.meta.dtype,
                               (tied[nid].key,) if nid in tied else ()))
        total_params += node.meta.params
        total_macs = total_macs + node.meta.macs
    if depth is not None:
        rows = fold_rows(graph, rows, depth)
    return Summary(rows, total_params, total_macs, _loop_costs(graph))


def fold_rows(graph: Graph, rows: list, depth: int) -> list:
    """`rows` with each unit at `depth` folded into one row (aggregate_rows); a folded row names the
    parameters that the tied layers folded into it reuse."""
    folded = aggregate_rows(graph, rows, depth, SummaryRow)
    index = ContainerIndex(graph)
    keys: dict[str, tuple] = {}     # folded container path -> the keys its tied layers reuse
    for r in rows:
        if r.tied:
            outer = index.collapsed_at(index.container_of(graph.node(r.name)), depth)
            if outer is not None:
                keys[outer.path] = tuple(dict.fromkeys(keys.get(outer.path, ()) + r.tied))
    kept = {id(r) for r in rows}
    for r in folded:
        if id(r) not in kept:                   # a folded row: its name is the container's path (`path@k`)
            r.tied = keys.get(r.name.partition("@")[0], ())
    return folded


def tied_keys(summary) -> list[str]:
    """The reused parameters of a summary's rows, each once, in order."""
    return list(dict.fromkeys(k for r in summary.rows for k in r.tied))


def params_cell(row: SummaryRow, code: str = "") -> str:
    """A row's parameters as a table shows them: '1,536', 'tied to transformer.wte.weight', or both joined
    by ' + ' (a tied layer's own bias); `code`: a mark around each key (Markdown's backtick)."""
    own = [f"{row.params:,}"] if row.params else []
    return " + ".join(own + ([tie_text(f"{code}{k}{code}" for k in row.tied)] if row.tied else []))


def tied_note(summary, code: str = "") -> str:
    """After the totals: the tied parameters, counted once."""
    keys = tied_keys(summary)
    return f"; {len(keys)} tied weight{'s' if len(keys) > 1 else ''} counted once " \
           f"({', '.join(f'{code}{k}{code}' for k in keys)})" if keys else ""


def _loop_costs(graph: Graph) -> list:
    out = []
    for nid, node in graph.nodes():
        if node.kind in LOOP_KINDS and node.meta.count is not None:
            body = sum((graph.node(b).meta.macs or 0 for b in node.body_nodes), 0)
            count = node.meta.count
            if isinstance(body, int) and isinstance(count, int):
                per_step = body // count if count else 0
            else:
                import sympy

                per_step = as_static(sympy.expand(sympy.cancel(body / count)))
            out.append(LoopCost(nid, node.kind, count, per_step))
    return out


def human(n) -> str:
    """4089184256 -> '4.089G'; symbolic counts are printed as expressions, simplified as shapes are
    (`ceil(H/2)` for `floor(H/2 - 1/2) + 1`: archdsl.dims.fmt_dim)."""
    if not isinstance(n, int):
        coeff, rest = n.as_coeff_Mul() if hasattr(n, "as_coeff_Mul") else (None, None)
        if coeff is not None and coeff.is_Integer and coeff != 1:
            return f"{human(int(coeff))}*{_factor(rest)}"
        return fmt_dim(n)
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.3f}{unit}"
    return str(n)


def _factor(d) -> str:
    """A symbolic factor after a coefficient: parenthesized where it is a sum (`2*(H + 1)`)."""
    text = fmt_dim(d)
    return f"({text})" if getattr(d, "is_Add", False) else text


def _with_dtype(cells: tuple, dtype: str, dtypes: bool) -> tuple:
    """`cells` (layer, op, shape, params, MACs) with the dtype after the shape when `dtypes` is asked for."""
    return (*cells[:3], dtype or "", *cells[3:]) if dtypes else cells


def summary_text(summary, title: str, dtypes: bool = False) -> str:
    rows = [_with_dtype(("layer", "op", "output shape", "params", "MACs"), "dtype", dtypes)]
    rows += [_with_dtype((r.name, r.op, fmt_shape(r.shape), params_cell(r), human(r.macs) if r.macs else ""),
                         r.dtype, dtypes) for r in summary.rows]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    left = len(rows[0]) - 2  # the counts are right-aligned
    lines = [title]
    for k, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    mb = summary.params * 4 / 2**20
    lines.append(f"total: {summary.params:,} parameters ({mb:.2f} MB as float32), {human(summary.macs)} MACs"
                 + tied_note(summary))
    lines += loop_lines(summary)
    return "\n".join(lines)


def loop_lines(summary) -> list[str]:
    """One line per loop: its steps and the MACs of one step (the body's cost, shared weights run again)."""
    return [f"{c.kind} `{c.name}`: {c.steps} steps x {human(c.macs_per_step)} MACs per step"
            for c in getattr(summary, "loops", ())]


def summary_json(summary, dtypes: bool = False) -> str:
    return json.dumps({
        "rows": [{"name": r.name, "op": r.op, "shape": [str(d) if not isinstance(d, int) else d for d in r.shape],
                  **({"dtype": r.dtype} if dtypes else {}),
                  "params": r.params, **({"tied": list(r.tied)} if r.tied else {}),
                  "macs": r.macs if isinstance(r.macs, int) else str(r.macs)} for r in summary.rows],
        "params": summary.params, "macs": summary.macs if isinstance(summary.macs, int) else str(summary.macs),
        "param_mb": round(param_mb(summary), 3),
        "loops": [{"name": c.name, "kind": c.kind, "steps": c.steps if isinstance(c.steps, int) else str(c.steps),
                   "macs_per_step": c.macs_per_step if isinstance(c.macs_per_step, int) else str(c.macs_per_step)}
                  for c in getattr(summary, "loops", ())],
    }, indent=2)


def param_mb(summary) -> float:
    """Parameter memory in MB (2^20 bytes) as float32."""
    return summary.params * 4 / 2**20


def summary_markdown(summary, title: str, dtypes: bool = False) -> str:
    head = _with_dtype(("layer", "op", "output shape", "params", "MACs"), "dtype", dtypes)
    rule = _with_dtype(("---", "---", "---", "---:", "---:"), "---", dtypes)
    lines = [f"**{title}**", "", f"| {' | '.join(head)} |", f"|{'|'.join(rule)}|"]
    for r in summary.rows:
        cells = _with_dtype((f"`{r.name}`", r.op, fmt_shape(r.shape), params_cell(r, "`"),
                             human(r.macs) if r.macs else ""), r.dtype, dtypes)
        lines.append(f"| {' | '.join(cells)} |")
    lines += ["", f"Total: {summary.params:,} parameters ({param_mb(summary):.2f} MB as float32), "
                  f"{human(summary.macs)} MACs{tied_note(summary, '`')}."]
    return "\n".join(lines)


def summary_csv(summary, title: str = "", dtypes: bool = False) -> str:
    import csv
    import io

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    tied = bool(tied_keys(summary))   # a last column `tied` (the reused keys, space-separated) where any row has one
    out.writerow(_with_dtype(("layer", "op", "output_shape", "params", "macs"), "dtype", dtypes) + ("tied",) * tied)
    for r in summary.rows:
        out.writerow(_with_dtype((r.name, r.op, fmt_shape(r.shape), r.params, r.macs), r.dtype, dtypes)
                     + (" ".join(r.tied),) * tied)
    out.writerow(_with_dtype(("total", "", "", summary.params, summary.macs), "", dtypes) + ("",) * tied)
    return buf.getvalue().rstrip("\n")


# --format NAME -> function(summary, title, dtypes=False) -> text; dtypes: a column of the output dtypes
FORMATS = {
    "text": summary_text,
    "markdown": summary_markdown,
    "csv": summary_csv,
    "json": lambda summary, title="", dtypes=False: summary_json(summary, dtypes),
}
