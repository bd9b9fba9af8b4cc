"""Summary tables: per-layer (or per-block) rows and totals, as text, Markdown, CSV or JSON."""
from __future__ import annotations

import json

from .dims import fmt_shape


def human(n) -> str:
    """4089184256 -> '4.089G'; symbolic counts are printed as expressions."""
    if not isinstance(n, int):
        coeff, rest = n.as_coeff_Mul() if hasattr(n, "as_coeff_Mul") else (None, None)
        if coeff is not None and coeff.is_Integer and coeff != 1:
            return f"{human(int(coeff))}*{rest}"
        return str(n)
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.3f}{unit}"
    return str(n)


def summary_text(summary, title: str) -> str:
    rows = [("layer", "op", "output shape", "params", "MACs")]
    rows += [(r.name, r.op, fmt_shape(r.shape), f"{r.params:,}" if r.params else "", human(r.macs) if r.macs else "")
             for r in summary.rows]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = [title]
    for k, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    mb = summary.params * 4 / 2**20
    lines.append(f"total: {summary.params:,} parameters ({mb:.2f} MB as float32), {human(summary.macs)} MACs")
    lines += loop_lines(summary)
    return "\n".join(lines)


def loop_lines(summary) -> list[str]:
    """One line per loop: its steps and the MACs of one step (the body's cost, shared weights run again)."""
    return [f"{c.kind} `{c.name}`: {c.steps} steps x {human(c.macs_per_step)} MACs per step"
            for c in getattr(summary, "loops", ())]


def summary_json(summary) -> str:
    return json.dumps({
        "rows": [{"name": r.name, "op": r.op, "shape": [str(d) if not isinstance(d, int) else d for d in r.shape],
                  "params": r.params, "macs": r.macs if isinstance(r.macs, int) else str(r.macs)} for r in summary.rows],
        "params": summary.params, "macs": summary.macs if isinstance(summary.macs, int) else str(summary.macs),
        "param_mb": round(param_mb(summary), 3),
        "loops": [{"name": c.name, "kind": c.kind, "steps": c.steps if isinstance(c.steps, int) else str(c.steps),
                   "macs_per_step": c.macs_per_step if isinstance(c.macs_per_step, int) else str(c.macs_per_step)}
                  for c in getattr(summary, "loops", ())],
    }, indent=2)


def param_mb(summary) -> float:
    """Parameter memory in MB (2^20 bytes) as float32."""
    return summary.params * 4 / 2**20


def summary_markdown(summary, title: str) -> str:
    lines = [f"**{title}**", "", "| layer | op | output shape | params | MACs |", "|---|---|---|---:|---:|"]
    for r in summary.rows:
        lines.append(f"| `{r.name}` | {r.op} | {fmt_shape(r.shape)} | {f'{r.params:,}' if r.params else ''} | "
                     f"{human(r.macs) if r.macs else ''} |")
    lines += ["", f"Total: {summary.params:,} parameters ({param_mb(summary):.2f} MB as float32), "
                  f"{human(summary.macs)} MACs."]
    return "\n".join(lines)


def summary_csv(summary, title: str = "") -> str:
    import csv
    import io

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["layer", "op", "output_shape", "params", "macs"])
    for r in summary.rows:
        out.writerow([r.name, r.op, fmt_shape(r.shape), r.params, r.macs])
    out.writerow(["total", "", "", summary.params, summary.macs])
    return buf.getvalue().rstrip("\n")


# --format NAME -> function(summary, title) -> text
FORMATS = {
    "text": summary_text,
    "markdown": summary_markdown,
    "csv": summary_csv,
    "json": lambda summary, title="": summary_json(summary),
}
