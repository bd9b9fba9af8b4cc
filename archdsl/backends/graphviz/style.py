"""The look of a diagram: one fixed colour per op family, soft cluster fills, fonts and sizes."""
from __future__ import annotations

FONT = "Helvetica,Arial,sans-serif"
FONT_SIZE = 11
SMALL = 9            # layer names, parameter counts, shapes on the arrows
TEXT = "#1f2937"
MUTED = "#6b7280"    # secondary text and shapes on the arrows
EDGE = "#94a3b8"
ERROR = "#dc2626"
ERROR_FILL = "#fee2e2"
LOOP = "#0d9488"     # loop frames, step inputs and the back edges of carried state
TIE = "#7c3aed"      # a tied weight: the dashed edge from its source layer to the layer that reuses it

# (fill, border) per op family (Op.family in the registry); fixed, so diagrams diff cleanly.
FAMILY_COLOURS = {
    "conv": ("#dbeafe", "#3b82f6"),
    "linear": ("#ede9fe", "#7c3aed"),
    "pool": ("#dcfce7", "#16a34a"),
    "norm": ("#fef9c3", "#ca8a04"),
    "activation": ("#ffedd5", "#ea580c"),
    "dropout": ("#f3f4f6", "#9ca3af"),
    "merge": ("#fce7f3", "#db2777"),
    "tensor": ("#e0f2fe", "#0284c7"),
    "recurrent": ("#ccfbf1", "#0d9488"),
    "attention": ("#fae8ff", "#c026d3"),
    "stochastic": ("#ecfccb", "#65a30d"),
    "loss": ("#f5f5f4", "#57534e"),
    "resize": ("#e0e7ff", "#4f46e5"),
    "other": ("#f8fafc", "#64748b"),
}
IO_COLOURS = ("#334155", "#334155")           # inputs and outputs: dark, white text
UNIT_COLOURS = ("#ffffff", "#475569")         # a collapsed block

# Soft fills for block clusters, one per block type in the order the spec defines them.
CLUSTER_FILLS = ("#eff6ff", "#f5f3ff", "#f0fdf4", "#fff7ed", "#fdf2f8", "#ecfeff", "#fefce8", "#f8fafc")
CLUSTER_BORDERS = ("#bfdbfe", "#ddd6fe", "#bbf7d0", "#fed7aa", "#fbcfe8", "#a5f3fc", "#fef08a", "#cbd5e1")
SEQ_BORDER = "#cbd5e1"


def family_colours(family: str) -> tuple[str, str]:
    return FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"])


def cluster_colours(block_rank: int) -> tuple[str, str]:
    k = block_rank % len(CLUSTER_FILLS)
    return CLUSTER_FILLS[k], CLUSTER_BORDERS[k]


GRAPH_ATTRS = {
    "fontname": FONT, "fontsize": str(FONT_SIZE + 2), "fontcolor": TEXT,
    "nodesep": "0.25", "ranksep": "0.3", "newrank": "true", "pad": "0.2",
}
NODE_ATTRS = {
    "shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": str(FONT_SIZE),
    "fontcolor": TEXT, "penwidth": "1.2", "margin": "0.14,0.06", "height": "0.32",
}
JUNCTION_ATTRS = {"shape": "point", "width": "0.07", "height": "0.07", "color": EDGE, "fillcolor": EDGE}
EDGE_ATTRS = {
    "fontname": FONT, "fontsize": str(SMALL), "fontcolor": MUTED, "color": EDGE,
    "arrowsize": "0.6", "penwidth": "1.1",
}
