"""Summary tables: per-layer (or per-block) rows and totals, as text, Markdown, CSV or JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..dims import Shape, as_static, fmt_dim, fmt_shape
from ..ir.containers import ContainerIndex, aggregate_rows
from ..ir.graph import Graph, ModeChoice, flat_tensors
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
class EntryCost:
    """The cost of one call of an entry point: a model's forward, one of its methods, or an objective. A model
    that uses others (`uses:`) counts their layers inside it, once."""

    kind: str                # 'model' (its forward), 'method' or 'objective'
    model: str               # the model (or the objective)
    method: str | None       # the method's name; None for a forward or an objective
    params: int              # the parameters of the layers it calls (those of the models it uses too), each once
    macs: Any                # multiply-adds in eval mode (inference)
    training_macs: Any       # in training mode: differs where the output does (`(y, aux) if training else y`)
    uses: tuple = ()         # the models its forward calls

    @property
    def name(self) -> str:
        """'encoder', 'lstm_classifier.classify_padded', 'neg_elbo'."""
        return f"{self.model}.{self.method}" if self.method else self.model


@dataclass
class Summary:
    rows: list
    params: int
    macs: Any        # the headline: one forward pass of the spec's model in eval mode; None with several (`top`)
    loops: list = field(default_factory=list)     # LoopCost of every loop, outermost first
    entries: list = field(default_factory=list)   # EntryCost of every forward, method and objective

    def __iter__(self):
        return iter(self.rows)

    def entry(self, model: str | None = None, method: str | None = None) -> EntryCost:
        """The cost of `model`'s forward (default: the spec's model) or of its method `method`."""
        model = model if model is not None else _only(self.top(), "a spec of several models names one")
        for e in self.entries:
            if e.kind != "objective" and (e.model, e.method) == (model, method):
                return e
        raise KeyError(f"no entry point {model}{'.' + method if method else ''}; "
                       f"entry points: {', '.join(e.name for e in self.entries)}")

    def top(self) -> list:
        """The forwards of the models that no other model uses: the spec's model, or each of several (as
        rnn.yaml's `elman` and `fused`); a model that uses others (vae) is top and they are not."""
        used = {u for e in self.entries for u in e.uses}
        return [e for e in self.entries if e.kind == "model" and e.model not in used]

    def macs_at(self, **dims) -> Any:
        """Headline MACs with symbolic dims set: `summary.macs_at(N=1, T=20)`."""
        from ..dims import substitute

        return substitute(self._headline(), dims)

    def macs_per(self, dim: str) -> Any:
        """What one more unit of the dim `dim` adds to the headline MACs, e.g. per time step: `macs_per('T')`
        (the coefficient of T where the total is linear in T, as for a scan over T)."""
        macs = self._headline()
        if isinstance(macs, int):
            return 0
        import sympy

        syms = {s.name: s for s in macs.free_symbols}
        return as_static(sympy.expand(sympy.diff(macs, syms[dim]))) if dim in syms else 0

    def _headline(self) -> Any:
        if self.macs is None:
            raise ValueError(f"no one figure for the models {', '.join(e.model for e in self.top())}: "
                             f"summary.entry(model).macs gives each")
        return self.macs


def _only(entries: list, why: str) -> str:
    if len(entries) != 1:
        raise ValueError(f"{why}: {', '.join(e.model for e in entries)}")
    return entries[0].model


def summarize(graph: Graph, depth: int | None = None, model: str | None = None) -> Summary:
    """One row per op; with `depth` K, one row per block instance or sequence nested deeper than K (0: top).
    A tied layer's row counts none of the parameter it reuses (its source's row does) and names its key.
    `model`: only the rows of that model (its forward and methods; a layer's parameters at its first row).
    The headline MACs are one forward pass in eval mode; each entry point's are in `entries`."""
    rows, total_params = [], 0
    tied = ties(graph)
    layer_params, counted = _module_params(graph) if model is not None else {}, set()
    for nid, node in graph.nodes():
        if node.kind in ("input", "loop_in") or (model is not None and node.model != model):
            continue
        op = node.op.name if node.op is not None else node.kind
        params = node.meta.params
        if model is not None:   # the model's own first call of the layer holds its parameters
            params = layer_params.get(node.module, 0) if node.module not in counted else 0
            counted.add(node.module)
        rows.append(SummaryRow(nid, op, node.meta.shape, params, node.meta.macs, node.meta.dtype,
                               (tied[nid].key,) if nid in tied else ()))
        total_params += params
    if depth is not None:
        rows = fold_rows(graph, rows, depth)
    entries = [e for e in entry_costs(graph) if model is None or e.model == model]
    loops = [c for c in _loop_costs(graph) if model is None or graph.node(c.name).model == model]
    summary = Summary(rows, total_params, None, loops, entries)
    top = summary.top()
    summary.macs = top[0].macs if len(top) == 1 else None
    return summary


def _module_params(graph: Graph) -> dict:
    """Each layer's path -> its parameters (counted at its first call)."""
    return {n.module: n.meta.params for _, n in graph.nodes() if n.module and n.meta.params}


def entry_costs(graph: Graph) -> list[EntryCost]:
    """The cost of each model's forward and methods, then of each objective: the MACs of the nodes it makes
    (a used model's nodes are made again inside the model that uses it), in eval and in training mode."""
    groups: dict[tuple, list] = {}
    for nid, node in graph.nodes():
        groups.setdefault((node.model, node.method), []).append(nid)
    params_of = _module_params(graph)
    out = []
    for name in [*graph.roots, *graph.objectives]:
        root = graph.roots.get(name)
        views = [(None, graph.outputs.get(name))] + [(m, v.output) for m, v in (root.methods if root else {}).items()]
        for method, output in views:
            nids = groups.get((name, method), [])
            train_only, eval_only = _mode_only(graph, nids, output)
            macs = _sum_macs(graph, nids)
            params = sum(params_of.get(m, 0) for m in {graph.node(n).module for n in nids} - {None})
            kind = "objective" if root is None else "method" if method else "model"
            out.append(EntryCost(kind, name, method, params, as_static(macs - _sum_macs(graph, train_only)),
                                 as_static(macs - _sum_macs(graph, eval_only)),
                                 tuple(graph.uses.get(name, ())) if kind == "model" else ()))
    return out


def _sum_macs(graph: Graph, nids) -> Any:
    """The nodes' MACs added up; a symbolic sum expanded (`256*S*T`, not `128*S*T + T*(128*S)`)."""
    total = sum((graph.node(n).meta.macs or 0 for n in nids), 0)
    if isinstance(total, int):
        return total
    import sympy

    return as_static(sympy.expand(total))


def _mode_only(graph: Graph, nids: list, output) -> tuple[set, set]:
    """The nodes of an entry point that run in training mode only, and in eval mode only: those that only one
    side of an output `(y, aux) if training else y` needs (what nothing returned reads runs in both modes)."""
    if not isinstance(output, ModeChoice):
        return set(), set()
    members = set(nids)

    def needed(roots) -> set:
        out = set(roots)
        for r in roots:
            out |= nx.ancestors(graph.g, r)
        return out & members

    train = needed({t.node for t in flat_tensors(output.train)})
    eval_ = needed({t.node for t in flat_tensors(output.eval)})
    both = needed(members - train - eval_)
    return train - eval_ - both, eval_ - train - both


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


def totals(summary, code: str = "", memory: bool = True) -> tuple[str, list[str]]:
    """The totals (the text after `total:`) and a line per entry point after them where there are several.
    The MACs are one call's: of the forward pass (in eval mode, where training mode differs, as torchvision
    publishes them), then of each method and objective; in a spec of several models each model's, those of
    the models it uses counted inside it once, and no sum over the models. `code`: a mark around a tied key."""
    head = f"{summary.params:,} parameters" + (f" ({param_mb(summary):.2f} MB as float32)" if memory else "")
    if _one_figure(summary):
        return f"{head}, {human(summary.macs)} MACs{tied_note(summary, code)}", []
    models = [e for e in summary.entries if e.kind == "model"]
    lines = []
    for e in summary.entries:
        if e.kind == "model" and len(models) > 1:
            uses = f" (uses {', '.join(f'`{u}`' for u in e.uses)})" if e.uses else ""
            lines.append(f"model `{e.name}`{uses}: {e.params:,} parameters, {_entry_macs(e, 'per forward pass')}")
        elif e.kind != "model":
            lines.append(f"{e.kind} `{e.name}`: {_entry_macs(e, 'per call')}")
    if len(models) != 1:   # several models (or none: a graph without entry points)
        return f"{head}{tied_note(summary, code)}" + ("; each model's MACs below" if models else ""), lines
    return f"{head}, {_entry_macs(models[0], 'per forward pass')}{tied_note(summary, code)}", lines


def headline_text(summary, write=None) -> str:
    """The headline MACs as `write` writes a count (default: human); a spec of several models that no model
    uses gives each model's: 'elman 6.144K*N*T, fused 6.144K*N*T'."""
    write = write or human
    if summary.macs is not None:
        return write(summary.macs)
    return ", ".join(f"{e.model} {write(e.macs)}" for e in summary.top())


def _one_figure(summary) -> bool:
    """Whether one figure is the whole cost: one entry point, the same in both modes."""
    return len(summary.entries) == 1 and summary.entries[0].macs == summary.entries[0].training_macs


def _entry_macs(e: EntryCost, per: str) -> str:
    """'5.713G*N MACs per forward pass in eval mode (training mode: 5.719G*N, +5.683M*N)'; the modes' figures
    where they differ (the outputs that one mode returns only)."""
    text = f"{human(e.macs)} MACs {per}"
    if e.macs == e.training_macs:
        return text
    import sympy

    more = human(as_static(sympy.expand(e.training_macs - e.macs)))
    return f"{text} in eval mode (training mode: {human(e.training_macs)}, " \
           f"{more if more.startswith('-') else '+' + more})"


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
    head, entries = totals(summary)
    lines += [f"total: {head}", *entries, *loop_lines(summary)]
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
                  "macs": _json_count(r.macs)} for r in summary.rows],
        "params": summary.params, "macs": _json_count(summary.macs),   # null in a spec of several models
        "param_mb": round(param_mb(summary), 3),
        "entries": [{"kind": e.kind, "name": e.name, "params": e.params, "macs": _json_count(e.macs),
                     "training_macs": _json_count(e.training_macs), **({"uses": list(e.uses)} if e.uses else {})}
                    for e in summary.entries],
        "loops": [{"name": c.name, "kind": c.kind, "steps": _json_count(c.steps),
                   "macs_per_step": _json_count(c.macs_per_step)} for c in getattr(summary, "loops", ())],
    }, indent=2)


def _json_count(n):
    """An int (or null) as itself, a symbolic count as its text."""
    return n if n is None or isinstance(n, int) else str(n)


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
    head, entries = totals(summary, "`")
    lines += ["", f"Total: {head}."] + (["", *(f"- {line}" for line in entries)] if entries else [])
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
    out.writerow(_with_dtype(("total", "", "", summary.params, "" if summary.macs is None else summary.macs), "", dtypes) + ("",) * tied)
    for e in [] if _one_figure(summary) else summary.entries:   # after the total, a row per entry point and mode
        out.writerow(_with_dtype((f"{e.kind} {e.name}", "", "", e.params, e.macs), "", dtypes) + ("",) * tied)
        if e.training_macs != e.macs:
            out.writerow(_with_dtype((f"{e.kind} {e.name} (training mode)", "", "", e.params, e.training_macs), "",
                                     dtypes) + ("",) * tied)
    return buf.getvalue().rstrip("\n")


# --format NAME -> function(summary, title, dtypes=False) -> text; dtypes: a column of the output dtypes
FORMATS = {
    "text": summary_text,
    "markdown": summary_markdown,
    "csv": summary_csv,
    "json": lambda summary, title="", dtypes=False: summary_json(summary, dtypes),
}
