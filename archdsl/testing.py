"""Property-based shape testing for specs (needs hypothesis: `pip install hypothesis`).

The property: for every valid value of a spec's symbolic dims, the shape archdsl infers statically at
every node is the shape PyTorch produces. Copy this into your own test suite:

    import archdsl
    from hypothesis import given, settings
    from archdsl.testing import assert_shapes_match, dims

    SPEC = archdsl.load("specs/my_net.yaml")

    @settings(max_examples=25, deadline=None)
    @given(dims(SPEC))
    def test_static_shapes_are_pytorch_shapes(values):
        assert_shapes_match(SPEC, **values)

`specs()` draws whole random specs (for testing archdsl itself, or tools built on it); `run_property`
is what `archdsl test SPEC` runs. See docs/testing.md.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from .dims import DimDecl, fmt_shape, substitute
from .errors import UsageError, did_you_mean

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - hypothesis is a dev/test dependency
    raise ImportError("archdsl.testing needs hypothesis: pip install hypothesis") from exc

from .random_specs import specs  # noqa: E402,F401  (re-exported: archdsl.testing.specs)

__all__ = ["ShapeMismatch", "NodeShapes", "assert_shapes_match", "dims", "from_text", "run_property",
           "shape_report", "specs", "symbols"]

BATCH_SPAN = 2       # a batch-like dim (first dim of an input) is drawn from lo .. lo + BATCH_SPAN
MIN_SPAN = 8         # other dims from lo .. lo + max(MIN_SPAN, lo), or up to max_size
SEARCH_LIMIT = 4096  # the largest value tried when looking for the smallest valid one


class ShapeMismatch(AssertionError):
    """A static shape differs from PyTorch's, or PyTorch fails on a spec that checks statically."""

    def __init__(self, message: str, dims: dict, nodes: list):
        super().__init__(message)
        self.dims, self.nodes = dict(dims), nodes


@dataclass
class NodeShapes:
    """One graph node under one assignment of the symbolic dims."""

    node: str
    op: str
    static: list          # the static shape(s), symbolic
    expected: list        # ... with the dims substituted
    runtime: list         # the shapes PyTorch produced (one per call or loop step)
    span: object          # where the node is written in the spec
    ok: bool


# --- symbolic dims and the values they may take ----------------------------------------------------------

def symbols(spec, model: str | None = None) -> list[str]:
    """The symbolic dims of a model's inputs (shapes and integer value bounds), sorted by name."""
    names: set[str] = set()
    for m in _models(spec, model):
        for nid in spec.graph.inputs[m]:
            node = spec.graph.node(nid)
            for d in tuple(node.meta.shape) + tuple(b for b in (node.low, node.high) if b is not None):
                names |= {s.name for s in getattr(d, "free_symbols", ())}
    return sorted(names)


def _batch_like(spec, model: str | None) -> set[str]:
    out = set()
    for m in _models(spec, model):
        for nid in spec.graph.inputs[m]:
            first = spec.graph.node(nid).meta.shape[0]
            if not isinstance(first, int) and len(first.free_symbols) == 1 and first == next(iter(first.free_symbols)):
                out.add(str(first))
    return out


_DIM_EXPRS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _dim_exprs(spec) -> list:
    """Every distinct symbolic dim of the graph (shapes, loop outputs, step counts), computed once per spec."""
    if spec not in _DIM_EXPRS:
        exprs = set()
        for _, node in spec.graph.nodes():
            shapes = list(node.meta.outputs or ()) + [node.meta.shape]
            for shape in shapes:
                for d in shape or ():
                    if not isinstance(d, int):
                        exprs.add(d)
            if not isinstance((node.meta.repeat or 1), int):
                exprs.add(node.meta.repeat)
        _DIM_EXPRS[spec] = sorted(exprs, key=str)
    return _DIM_EXPRS[spec]


def valid(spec, values: dict) -> bool:
    """Whether every static dim of the spec is a positive integer once `values` are substituted."""
    for d in _dim_exprs(spec):
        v = substitute(d, values)
        if not isinstance(v, int) or v < 1:
            return False
    return True


def _smallest(spec, name: str, others: dict) -> int | None:
    """The smallest value of `name` that keeps every dim positive with the other symbols at `others`."""
    hi = others[name]
    if not valid(spec, others):
        return None
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if valid(spec, {**others, name: mid}):
            hi = mid
        else:
            lo = mid + 1
    return lo


def dims(spec, model: str | None = None, *, max_size: int | None = None, **fixed: int):
    """A hypothesis strategy of {symbol: value} for the spec's symbolic dims.

    Values keep every static shape positive (a dim `floor((H - 7) / 2) + 1` needs H >= 7) and satisfy the
    declared dims (`dims: {H: {multiple_of: 16}}`) and the assumptions of the check; a batch-like dim
    (the first dim of an input) stays small. Keyword arguments fix dims: `dims(spec, N=1)`. `max_size`
    bounds every other dim (default: twice its smallest valid value, at least that plus 8).
    """
    names = symbols(spec, model)
    for key in fixed:
        if key not in names:
            raise UsageError(f"`{key}` is not a symbolic dim of {spec.doc.file}",
                             hint=did_you_mean(key, names) or f"symbolic dims: {', '.join(names) or '(none)'}")
    free = [n for n in names if n not in fixed]
    top = 64
    while True:
        at_top = {**{n: top for n in free}, **fixed}
        if valid(spec, at_top) or top >= SEARCH_LIMIT:
            break
        top *= 2
    if not valid(spec, at_top):
        raise UsageError(f"no values up to {SEARCH_LIMIT} for the symbolic dims {', '.join(free)} of "
                         f"{spec.doc.file} give every node a positive shape")
    batch = _batch_like(spec, model)
    parts = {}
    for n in names:
        if n in fixed:
            parts[n] = st.just(fixed[n])
            continue
        lo = _smallest(spec, n, at_top) or 1
        hi = lo + (BATCH_SPAN if n in batch else max(MIN_SPAN, lo))
        if max_size is not None:
            hi = max(lo, min(hi, max_size))
        parts[n] = _allowed(spec, n, lo, hi)
    facts = spec.graph.facts
    return st.fixed_dictionaries(parts).filter(lambda values: valid(spec, values) and facts.admits(values))


def _allowed(spec, name: str, lo: int, hi: int):
    """Values of `name` from about lo .. hi that its declaration and the assumptions allow (multiples of 16,
    within min and max): residue classes r mod k, drawn as k*q + r."""
    facts = spec.graph.facts
    decl = facts.decls.get(name, DimDecl())
    k, residues = facts.residues(name)
    lo = max(lo, decl.min)
    hi = max(hi, lo + 2 * k) if decl.max is None else min(max(hi, lo + 2 * k), decl.max)
    if not any(r % k in residues for r in range(lo, min(hi, lo + k) + 1)):
        raise UsageError(f"no value of the dim `{name}` from {lo} to {hi} fits its declaration and the "
                         "assumptions of the check")
    return st.tuples(st.integers(lo // k, hi // k), st.sampled_from(sorted(residues))).map(
        lambda qr: qr[0] * k + qr[1]).filter(lambda v: lo <= v <= hi)


# --- running the model and comparing ---------------------------------------------------------------------

def shape_report(spec, model: str | None = None, device: str | None = None, **values) -> list[NodeShapes]:
    """Run `model` with the symbolic dims set to `values`; the static and runtime shapes of every node.

    device: "meta" (shapes only, nothing allocated), "cpu", or None: meta, and CPU where an op has no
    meta kernel. Before running on CPU the memory estimate is checked against the limit `max_memory`.
    """
    from .backends.torch.probes import runtime_shapes

    model = model or spec.models[0]
    missing = [n for n in symbols(spec, model) if n not in values]
    if missing:
        raise UsageError(f"give a value for the symbolic dims {', '.join(missing)}")
    _check_loop_counts(spec)
    seen = None
    if device in (None, "meta"):
        try:
            seen = runtime_shapes(spec, model, values, device="meta")
        except Exception as exc:  # noqa: BLE001 - an op without a meta kernel, or a real failure: CPU tells which
            if device == "meta":
                raise _pytorch_failed(exc, values, "meta") from exc
    if seen is None:
        from .passes.memory import check_memory
        from .pipeline import limited

        with limited(spec.limits, spec.doc.file):
            check_memory(spec.graph, values)
        try:
            seen = runtime_shapes(spec, model, values, device=device or "cpu")
        except Exception as exc:  # noqa: BLE001 - PyTorch rejected a spec that checks statically
            raise _pytorch_failed(exc, values, device or "cpu") from exc
    return [_compare(spec, nid, runtime, values) for nid, runtime in seen.items()]


_LOOP_COUNTS = {"loop": "count", "decode": "max_len"}


def _check_loop_counts(spec) -> None:
    """Running a `loop` or `decode` takes as many steps as its count, even on the meta device: bound them by
    `max_repeat` before running anything."""
    from .errors import LimitError
    from .limits import current, exceeded
    from .pipeline import limited

    with limited(spec.limits, spec.doc.file):
        limit = current("max_repeat")
        for _, node in spec.graph.nodes():
            arg = _LOOP_COUNTS.get(node.kind)
            steps = (node.attrs or {}).get(arg, 0) if arg else 0
            if steps > limit:
                raise LimitError(f"`{node.kind}` runs {steps:,} steps, more than the limit `max_repeat`",
                                 node.call_span or node.span, hint=exceeded("max_repeat"))


def _pytorch_failed(exc: Exception, values: dict, device: str) -> ShapeMismatch:
    """PyTorch rejected a spec that checks statically: say where, from the generated line that failed."""
    import linecache
    import traceback

    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<archdsl "):
            line = linecache.getline(frame.filename, frame.lineno).strip()
            code, _, spec_line = line.partition("  # ")
            where = f"{spec_line}: " if spec_line else ""
            where += f"in the generated `{code}`: " if code else ""
            break
    return ShapeMismatch(f"{where}PyTorch raised {type(exc).__name__} with {_fmt_dims(values)} on the {device} "
                         f"device, although every static check passed: {str(exc).strip()[:500]}", values, [])


def _compare(spec, nid: str, runtime: list, values: dict) -> NodeShapes:
    node = spec.graph.node(nid)
    op = node.op.name if node.op is not None else node.kind or "input"
    multi = node.meta.outputs is not None
    static = list(node.meta.outputs) if multi else [node.meta.shape]
    expected = [tuple(substitute(d, values) for d in s) for s in static]
    flat = [tuple(s) for r in runtime for s in (r if multi and isinstance(r, list) else [r])]
    if multi:
        ok = bool(flat) and all(flat[i] == expected[i % len(expected)] for i in range(len(flat)))
        ok = ok and len(flat) % len(expected) == 0
    else:
        ok = bool(flat) and all(s == expected[0] for s in flat)
    return NodeShapes(nid, op, static, expected, flat, node.call_span or node.span, ok)


def assert_shapes_match(spec, model: str | None = None, *, device: str | None = None, **values) -> list:
    """Assert that at every node the static shape, with `values` for the symbolic dims, is PyTorch's shape.

    Checks every model of a multi-model spec unless `model` is given. Raises ShapeMismatch listing each
    disagreeing node with its path and spec location; returns the per-node report otherwise.
    """
    report = []
    for m in _models(spec, model):
        rows = shape_report(spec, m, device, **{k: v for k, v in values.items() if k in symbols(spec, m)})
        bad = [r for r in rows if not r.ok]
        if bad:
            lines = [f"static and PyTorch shapes differ with {_fmt_dims(values)}:"]
            lines += [f"  {r.span}: `{r.node}` ({r.op}) static {_fmt_shapes(r.expected)}, PyTorch "
                      f"{_fmt_shapes(r.runtime) if r.runtime else 'never ran'}" for r in bad[:20]]
            raise ShapeMismatch("\n".join(lines), values, bad)
        report += rows
    return report


# --- the property, as `archdsl test` runs it --------------------------------------------------------------

@dataclass
class PropertyResult:
    examples: list = field(default_factory=list)       # the dims tried, in order
    nodes: dict = field(default_factory=dict)          # node -> (op, static shapes, set of runtime shapes, span)
    failure: ShapeMismatch | None = None               # the shrunk counterexample, if any

    @property
    def ok(self) -> bool:
        return self.failure is None


def run_property(spec, examples: int = 20, model: str | None = None, device: str | None = None,
                 seed: int = 0, **fixed) -> PropertyResult:
    """Draw up to `examples` assignments of the symbolic dims and check every node's shape for each.

    On a failure hypothesis shrinks the dims to a minimal counterexample, which `failure` holds.
    """
    from hypothesis import HealthCheck, Verbosity, given, seed as hseed, settings

    result = PropertyResult()
    strategy = dims(spec, model, **fixed)
    last: list = [None]

    @hseed(seed)
    @settings(max_examples=examples, deadline=None, database=None, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False)
    @given(strategy)
    def prop(values):
        result.examples.append(dict(values))
        try:
            rows = check_example(spec, model, device, values)
        except ShapeMismatch as exc:
            last[0] = exc
            raise
        for r in rows:
            entry = result.nodes.setdefault(r.node, (r.op, r.static, set(), r.span))
            entry[2].update(r.runtime)

    try:
        prop()
    except ShapeMismatch:
        result.failure = last[0]
    return result


def check_example(spec, model: str | None, device: str | None, values: dict) -> list:
    """One example of the property. A failure is raised afresh, without PyTorch's exception as its context:
    hypothesis tells failures apart by their origin, context included, and that exception's last frame is in
    the generated file, whose name changes with every build; a replay would look like a flaky failure."""
    try:
        return assert_shapes_match(spec, model, device=device, **values)
    except ShapeMismatch as exc:
        failure = exc
    raise ShapeMismatch(str(failure), failure.dims, failure.nodes)


def format_report(spec, result: PropertyResult) -> str:
    """The per-node report `archdsl test` prints."""
    rows = [("node", "op", "static shape", "PyTorch shapes seen", "")]
    for nid, (op, static, seen, _) in result.nodes.items():
        shown = ", ".join(fmt_shape(s) for s in sorted(seen, key=str)[:3]) + (" ..." if len(seen) > 3 else "")
        rows.append((nid, op, _fmt_shapes(static), shown, "ok"))
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    tried = len(result.examples)
    lines.append(f"{len(result.nodes)} nodes, {tried} example{'s' * (tried != 1)}: "
                 + ("; ".join(_fmt_dims(e) for e in result.examples[:6]) + (" ..." if tried > 6 else "")
                    if any(result.examples) else "no symbolic dims"))
    return "\n".join(lines)


# --- helpers ----------------------------------------------------------------------------------------------

def from_text(text: str, file: str = "<spec>", limits: dict | None = None, assume: bool = False, **params):
    """A Spec from YAML text (as `archdsl.load` reads files); errors are located in `file`. `assume`: as
    `archdsl.load(..., assume=True)`, conditions on dims are recorded as assumptions, not errors."""
    from . import pipeline
    from .api import Spec
    from .limits import resolve

    limits = resolve(limits)
    return Spec(pipeline.read(file, limits, text), params, limits, assume)


def _models(spec, model: str | None) -> list[str]:
    return [model] if model else list(spec.models)


def _fmt_dims(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "no symbolic dims"


def _fmt_shapes(shapes) -> str:
    return ", ".join(fmt_shape(s) for s in shapes)
