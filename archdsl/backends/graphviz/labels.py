"""Words on the diagram: op captions (`conv2d 3x3/2, 64`), shapes (`N x 64 x 56 x 56`), counts (`11.7M`)."""
from __future__ import annotations

from ...dims import fmt_dim
from ...ops.indexing import subscript_text


def shape_text(shape) -> str:
    """(N, 64, 56, 56) -> 'N x 64 x 56 x 56'; symbols stay symbolic; '?' when unknown."""
    if shape is None:
        return "?"
    if not shape:
        return "scalar"
    return " x ".join(fmt_dim(d) for d in shape)


def tensor_text(shape, dtype: str | None = None) -> str:
    """An arrow's label: the shape, and the dtype when given: 'N x T (int64)'."""
    return shape_text(shape) + (f" ({dtype})" if dtype else "")


def count_text(n) -> str:
    """25557032 -> '25.6M', 9408 -> '9.41K', 120 -> '120'; a symbolic count as its expression."""
    if getattr(n, "is_Integer", False):
        n = int(n)
    if getattr(n, "free_symbols", None):
        import sympy

        n = sympy.expand(n)
    if getattr(n, "is_Add", False):
        return " + ".join(count_text(term) for term in n.as_ordered_terms())
    if not isinstance(n, int):
        coeff, rest = n.as_coeff_Mul() if hasattr(n, "as_coeff_Mul") else (None, None)
        if coeff is not None and coeff.is_Integer and coeff != 1:
            return f"{count_text(int(coeff))}*{fmt_dim(rest)}"
        return fmt_dim(n)
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            x = n / size
            digits = 2 if abs(x) < 9.995 else 1 if abs(x) < 99.95 else 0
            return f"{x:.{digits}f}{unit}"
    return str(n)


def _window(v, n: int) -> str:
    """A kernel or output size: 3 -> '3x3' (n=2), (1, 7) -> '1x7', 5 -> '5' (n=1)."""
    items = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    return "x".join(str(x) for x in items)


def _uniform(v):
    """A per-dim value written once when it is the same along every dim: (2, 2) -> 2."""
    if isinstance(v, (list, tuple)) and len(set(v)) == 1:
        return v[0]
    return v


def _spatial(name: str) -> int:
    """The number of spatial dims an op name ends with: conv3d -> 3."""
    return int(name[-2])


def _conv(name, a) -> str:
    n = _spatial(name)
    text = _window(a["kernel_size"], n)
    if _uniform(a["stride"]) != 1:
        text += f"/{_window(_uniform(a['stride']), 1)}"
    text += f", {a['out_channels']}"
    if _uniform(a.get("dilation", 1)) != 1:
        text += f", dilation {_window(_uniform(a['dilation']), 1)}"
    if a.get("groups", 1) != 1:
        text += f", groups {a['groups']}"
    return text


def _pool(name, a) -> str:
    n = _spatial(name)
    stride = a["kernel_size"] if a["stride"] is None else a["stride"]
    return f"{_window(a['kernel_size'], n)}/{_window(_uniform(stride), 1)}"


def _recurrent(a) -> str:
    text = str(a["hidden_size"])
    if a.get("num_layers", 1) != 1:
        text += f", {a['num_layers']} layers"
    if a.get("bidirectional"):
        text += ", bidirectional"
    return text


def _window_attention(name, a) -> str:
    """'7x7, 3 heads, shift 3'; the shift only where there is one."""
    text = f"{_window(a['window_size'], 2)}, {a['num_heads']} heads"
    shift = _uniform(a.get("shift_size", 0))
    return text if shift == 0 else f"{text}, shift {_window(shift, 1)}"


def _scalar(name, a) -> str:
    sym = {"*": "x", "/": "/", "+": "+", "-": "-"}[a["op"]]
    value = f"{a['value']:g}"
    return f"{value} {sym} t" if a.get("reverse") else f"{sym} {value}"


CAPTIONS = {  # caption rules per op name: the details after the name
    "conv_transpose2d": _conv,
    **{f"conv{d}d": _conv for d in (1, 2, 3)},
    **{f"{kind}pool{d}d": _pool for kind in ("max", "avg") for d in (1, 2, 3)},
    **{f"adaptive_{kind}pool{d}d": lambda n, a: f"to {_window(a['output_size'], _spatial(n))}"
       for kind in ("max", "avg") for d in (1, 2, 3)},
    "linear": lambda n, a: str(a["out_features"]),
    "tied_linear": lambda n, a: str(a["num_embeddings"]),
    "dropout": lambda n, a: f"{a['p']:g}",
    "dropout2d": lambda n, a: f"{a['p']:g}",
    "local_response_norm": lambda n, a: f"size {a['size']}",
    "concat": lambda n, a: "" if a["dim"] == 1 else f"dim {a['dim']}",
    "flatten": lambda n, a: "" if (a["start_dim"], a["end_dim"]) == (1, -1) else f"{a['start_dim']}..{a['end_dim']}",
    "reshape": lambda n, a: "to [" + ", ".join(str(d) for d in a["shape"]) + "]",
    "permute": lambda n, a: "(" + ", ".join(str(d) for d in a["dims"]) + ")",
    "leaky_relu": lambda n, a: f"{a['negative_slope']:g}",
    "lstm": lambda n, a: _recurrent(a), "gru": lambda n, a: _recurrent(a), "rnn": lambda n, a: _recurrent(a),
    "lstm_cell": lambda n, a: str(a["hidden_size"]), "gru_cell": lambda n, a: str(a["hidden_size"]),
    "rnn_cell": lambda n, a: str(a["hidden_size"]),
    "embedding": lambda n, a: f"{a['num_embeddings']}, {a['embedding_dim']}",
    "einsum": lambda n, a: str(a["equation"]),
    "caps_transform": lambda n, a: f"{a['out_caps']} x {a['out_dim']}",
    "elu": lambda n, a: f"{a['alpha']:g}",
    "softmax": lambda n, a: "" if a["dim"] == -1 else f"dim {a['dim']}",
    "log_softmax": lambda n, a: "" if a["dim"] == -1 else f"dim {a['dim']}",
    "shifted_window_attention": _window_attention, "shifted_window_attention_v2": _window_attention,
    "index": lambda n, a: f"[{subscript_text(a['subscript'])}]",
}

# Elementwise arithmetic is drawn as a small circle with its sign.
SYMBOLS = {"add": "+", "sub": "-", "mul": "x"}


def op_caption(op, attrs) -> tuple[str, str]:
    """(name, details): ('conv2d', '3x3/2, 64'). Ops without a caption rule show their non-default arguments."""
    try:
        if op.name == "scalar_arith":
            return "", _scalar(op.name, attrs)
        rule = CAPTIONS.get(op.name)
        if rule is not None:
            return op.name, rule(op.name, attrs)
    except (KeyError, TypeError, ValueError):   # an op whose arguments changed: fall back to the generic caption
        pass
    shown = [f"{p.name}={attrs[p.name]!r}" for p in op.params if p.name in attrs and attrs[p.name] != p.default]
    return op.name, ", ".join(shown)


def caption_text(op, attrs) -> str:
    """One line: 'conv2d 3x3/2, 64'."""
    name, details = op_caption(op, attrs)
    return f"{name} {details}".strip()


def path_range(first: str, last: str) -> str:
    """'layer1.1', 'layer1.2' -> 'layer1.1-2'; different parents -> 'a.1 - b.0'."""
    if first == last:
        return first
    head, _, a = first.rpartition(".")
    head2, _, b = last.rpartition(".")
    if head == head2:
        return f"{first}-{b}"
    return f"{first} - {last}"


def local_name(container) -> str:
    """How a block instance or sequence is named inside its parent: `branch2`, `layer1.0`; top level: its path."""
    name = container.module.name
    parent = container.parent
    if container.level == 1 and not name.isdigit():
        return name
    if container.level <= 1 or parent is None:
        return container.path or name
    return f"{local_name(parent)}.{name}" if name.isdigit() else name


def contents(module, limit: int = 3) -> str:
    """What a sequence holds, in order: 'maxpool2d, BasicConv2d', '4 Bottleneck', 'conv2d, relu, 29 more'."""
    names = []
    for child in module.children.values():
        if child.kind == "op":
            names.append(child.op.name)
        elif child.kind == "block":
            names.append(child.block.name)
        else:
            names.append("Sequential")
    runs: list = []
    for name in names:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    words = [name if n == 1 else f"{n} {name}" for name, n in runs]
    if len(words) > limit:
        return ", ".join(words[:limit - 1]) + f", {len(names) - sum(n for _, n in runs[:limit - 1])} more"
    return ", ".join(words) or "empty"
