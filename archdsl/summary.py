"""Summary tables: per-layer rows and totals, as text or JSON."""
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
    return "\n".join(lines)


def summary_json(summary) -> str:
    return json.dumps({
        "rows": [{"name": r.name, "op": r.op, "shape": [str(d) if not isinstance(d, int) else d for d in r.shape],
                  "params": r.params, "macs": r.macs if isinstance(r.macs, int) else str(r.macs)} for r in summary.rows],
        "params": summary.params, "macs": summary.macs if isinstance(summary.macs, int) else str(summary.macs),
    }, indent=2)
