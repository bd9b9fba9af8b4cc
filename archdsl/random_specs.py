"""`specs()`: a hypothesis strategy of random valid spec texts.

A spec is drawn as a pipeline of stages over an image tensor [N, C, H, W], then a transition to
features [N, F], then stages over features and a linear head. Each stage knows the shape it receives and
only draws ops that accept it, so every spec checks statically. The stages use the language's
constructs: layer chains, inline ops, skip connections, concatenated branches, blocks with parameters,
repeats (`[Block(c)] * 2`), comprehensions, conditional layers and scalar arithmetic. With symbolic H and
W the spec is valid for large enough sizes, which `archdsl.testing.dims` finds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu(0.2)", "identity")


@dataclass
class Draft:
    """The spec being written, and the shape of the tensor `x` at the end of the forward so far."""

    symbolic: bool
    input_channels: int
    input_size: tuple  # (H, W) of the input, ints; unused when symbolic
    channels: int
    size: tuple        # (H, W) of `x` now
    features: int | None = None  # set after the transition to [N, F]
    params: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)   # header -> YAML body lines
    layers: list = field(default_factory=list)   # (name, expression)
    forward: list = field(default_factory=list)  # statements
    count: int = 0
    div: int = 1       # H and W (symbolic) are known to be multiples of this: declared, or `4 * h` inputs
    dims: dict = field(default_factory=dict)     # declared dims: name -> {min, multiple_of}
    scaled: int = 1    # inputs written as `[N, C, scaled * h, scaled * w]` when > 1
    risky: bool = False  # draw the down/up/concat stage where equal sizes are not proven (a condition)

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def layer(self, stem: str, expr: str) -> str:
        name = self.name(stem)
        self.layers.append((name, expr))
        return name


def _window(size: int, k: int, s: int, p: int, ceil: bool = False) -> int:
    span = size + 2 * p - k
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


def _fits(d: Draft, k: int, s: int, p: int, ceil: bool = False) -> bool:
    return d.symbolic or all(_window(n, k, s, p, ceil) >= 1 for n in d.size)


def _shrink(d: Draft, k: int, s: int, p: int, ceil: bool = False) -> None:
    if s == 1 and k - 2 * p == 1:
        pass                           # the size is kept
    elif s == 2 and k - 2 * p in (1, 2) and not (ceil and k - 2 * p == 1) and d.div >= 2:
        d.div //= 2                    # an even size is halved exactly
    else:
        d.div = 1
    if not d.symbolic:
        d.size = tuple(_window(n, k, s, p, ceil) for n in d.size)


# --- image stages ------------------------------------------------------------------------------------------

def conv_stage(draw, d: Draft) -> None:
    c = draw(st.integers(1, 8))
    k = draw(st.sampled_from([1, 3, 5]))
    s = draw(st.sampled_from([1, 1, 2]))
    p = draw(st.integers(0, k // 2))
    if not _fits(d, k, s, p):
        k, s, p = 1, 1, 0
    groups = draw(st.sampled_from([1, 1, 2])) if d.channels % 2 == 0 and c % 2 == 0 else 1
    extra = "".join([f", stride={s}" if s != 1 else "", f", padding={p}" if p else "",
                     f", groups={groups}" if groups != 1 else "", draw(st.sampled_from(["", ", bias=false"]))])
    name = d.layer("conv", f"conv2d({c}, {k}{extra})")
    act = draw(st.sampled_from(ACTIVATIONS))
    d.forward.append(f"x = x >> {name} >> {act}" if draw(st.booleans()) else f"x = {name}(x)")
    d.channels = c
    _shrink(d, k, s, p)


def norm_stage(draw, d: Draft) -> None:
    if draw(st.booleans()):
        d.params.setdefault("use_bn", draw(st.booleans()))
        name = d.layer("bn", "\"batchnorm2d() if use_bn\"")
        d.forward.append(f"x = {name}(x) if use_bn else x")
    else:
        name = d.layer("bn", "batchnorm2d()")
        d.forward.append(f"x = x >> {name}")


def pool_stage(draw, d: Draft) -> None:
    kind = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))
    ceil = draw(st.booleans())
    if not _fits(d, k, s, p, ceil):
        return
    args = f"{k}" + (f", stride={s}" if s != k else "") + (f", padding={p}" if p else "") + \
        (", ceil_mode=true" if ceil else "")
    d.forward.append(f"x = {kind}({args})(x)" if draw(st.booleans()) else f"x = x >> {kind}({args})")
    _shrink(d, k, s, p, ceil)


def residual_stage(draw, d: Draft) -> None:
    header = "Basic(planes, stride=1, project=false)"
    d.blocks[header] = [
        "layers:",
        "  conv1: conv2d(planes, 3, stride=stride, padding=1, bias=false)",
        "  bn1: batchnorm2d()",
        "  conv2: conv2d(planes, 3, padding=1, bias=false)",
        "  downsample: \"[conv2d(planes, 1, stride=stride, bias=false), batchnorm2d()] if project\"",
        "forward: |",
        "  y = x >> conv1 >> bn1 >> relu >> conv2",
        "  relu(y + (downsample(x) if project else x))",
    ]
    c = draw(st.integers(1, 8))
    stride = 2 if draw(st.booleans()) and _fits(d, 3, 2, 1) else 1
    first = f"Basic({c}" + (f", stride={stride}" if stride != 1 else "") + \
        (", project=true" if stride != 1 or c != d.channels else "") + ")"
    repeat = draw(st.integers(0, 2))
    expr = f"\"[{first}]" + (f" + [Basic({c})] * {repeat}\"" if repeat else "\"")
    name = d.layer("stage", expr)
    d.forward.append(f"x = x >> {name}")
    d.channels = c
    _shrink(d, 3, stride, 1)


def branch_stage(draw, d: Draft) -> None:
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=3))
    names = []
    for i, w in enumerate(widths):
        k = 1 if i == 0 else draw(st.sampled_from([3, 5]))
        names.append(d.layer("branch", f"conv2d({w}, {k}" + (f", padding={k // 2})" if k > 1 else ")")))
    d.forward.append(f"x = concat([{', '.join(f'{n}(x)' for n in names)}], dim=1)")
    d.channels = sum(widths)


def updown_stage(draw, d: Draft) -> None:
    """Down with a stride-2 convolution, up with a stride-2 transposed one, concatenated with the input (a
    U-Net skip): the sizes agree only for even H and W, which the spec's declarations must prove."""
    even = d.div >= 2 if d.symbolic else all(n % 2 == 0 for n in d.size)
    if not even and not d.risky:
        return
    c, u = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    k, p = draw(st.sampled_from([(1, 0), (3, 1), (2, 0)]))
    down = d.layer("down", f"conv2d({c}, {k}, stride=2" + (f", padding={p})" if p else ")"))
    up = d.layer("up", f"conv_transpose2d({u}, 2, stride=2)")
    act = draw(st.sampled_from(ACTIVATIONS))
    if draw(st.booleans()):
        d.forward.append(f"y = x >> {down} >> {act} >> {up}")
        d.forward.append("x = concat([x, y], dim=1)")
    else:
        d.forward.append(f"x = concat([x, {up}({down}(x))], dim=1)")
    d.channels += u
    if not even:
        d.div = 1


def comprehension_stage(draw, d: Draft) -> None:
    widths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    d.params.setdefault("widths", widths)
    act = draw(st.sampled_from(["relu", "tanh"]))
    name = d.layer("seq", f"\"[m for w in widths for m in [conv2d(w, 3, padding=1), {act}]]\"")
    d.forward.append(f"x = x >> {name}")
    d.channels = d.params["widths"][-1]


def elementwise_stage(draw, d: Draft) -> None:
    choice = draw(st.sampled_from(["scale", "shift", "skip", "dropout" if d.features is None else "shift"]))
    if choice == "scale":
        d.forward.append(f"x = x * {draw(st.sampled_from(['0.5', '2', '-1']))}")
    elif choice == "shift":
        d.forward.append("x = 1 - x")
    elif choice == "skip":
        d.forward.append("x = x + relu(x)")
    else:
        d.forward.append(f"x = dropout{draw(st.sampled_from(['', '2d']))}(0.1)(x)")


IMAGE_STAGES = (conv_stage, norm_stage, pool_stage, residual_stage, branch_stage, comprehension_stage,
                elementwise_stage)


# --- transition and feature stages --------------------------------------------------------------------------

def transition(draw, d: Draft) -> None:
    options = ["global", "adaptive"] + ([] if d.symbolic else ["flatten"])
    kind = draw(st.sampled_from(options))
    if kind == "global":
        d.forward.append(f"x = x >> {draw(st.sampled_from(['global_avgpool2d', 'global_maxpool2d']))}")
        d.features = d.channels
    elif kind == "adaptive":
        k = draw(st.integers(1, 2))
        d.forward.append(f"x = x >> adaptive_avgpool2d({k}) >> flatten")
        d.features = d.channels * k * k
    else:
        d.forward.append("x = flatten(x)")
        d.features = d.channels * d.size[0] * d.size[1]


def linear_stage(draw, d: Draft) -> None:
    f = draw(st.integers(1, 16))
    name = d.layer("fc", f"linear({f}" + draw(st.sampled_from(["", ", bias=false"])) + ")")
    d.forward.append(f"x = x >> {name} >> {draw(st.sampled_from(ACTIVATIONS))}")
    d.features = f


def feature_residual_stage(draw, d: Draft) -> None:
    name = d.layer("fc", f"linear({d.features})")
    norm = d.layer("norm", draw(st.sampled_from(["batchnorm1d()", "layernorm()"])))
    d.forward.append(f"y = x >> {name} >> {norm} >> relu")
    d.forward.append("x = y + x")


def feature_concat_stage(draw, d: Draft) -> None:
    a, b = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    na, nb = d.layer("fc", f"linear({a})"), d.layer("fc", f"linear({b})")
    d.forward.append(f"x = concat([{na}(x), {nb}(x)])")
    d.features = a + b


FEATURE_STAGES = (linear_stage, feature_residual_stage, feature_concat_stage, elementwise_stage)


# --- the whole spec ------------------------------------------------------------------------------------------

@st.composite
def specs(draw, max_stages: int = 6, symbolic: bool | None = None, constraints: bool = False,
          risky: bool = False) -> str:
    """A random spec (YAML text) that checks statically; its symbolic dims are N, and H, W when symbolic.

    constraints: symbolic H and W may be declared (`dims: {H: {min: 4, multiple_of: 4}}`) or written as
    `4 * h`, and the stages include a U-Net skip (a stride-2 convolution, a stride-2 transposed one,
    `concat` with the input), drawn where the sizes are proven even. risky: that skip is drawn anywhere
    too, so a spec may be rejected with a condition (`H must be even`) or hold only under assumptions."""
    symbolic = draw(st.booleans()) if symbolic is None else symbolic
    channels = draw(st.integers(1, 4))
    size = (draw(st.integers(4, 16)), draw(st.integers(4, 16)))
    d = Draft(symbolic, channels, size, channels, size, risky=risky)
    stages = IMAGE_STAGES + ((updown_stage, updown_stage) if constraints or risky else ())
    if symbolic and constraints:
        how = draw(st.sampled_from(["declared", "declared", "scaled", "none"]))
        if how == "declared":
            for name in ("H", "W"):
                decl = {}
                k = draw(st.sampled_from([1, 2, 4, 8]))
                if k > 1:
                    decl["multiple_of"] = k
                low = draw(st.sampled_from([1, 1, 4, 8]))
                if low > 1:
                    decl["min"] = low
                if draw(st.integers(0, 3)) == 0:
                    decl["max"] = max(low, k) + draw(st.sampled_from([0, 8, 16, 32]))
                d.dims[name] = decl
            d.div = min(d.dims[n].get("multiple_of", 1) for n in ("H", "W"))
        elif how == "scaled":
            d.scaled = d.div = draw(st.sampled_from([2, 4, 8]))
    for _ in range(draw(st.integers(0, max_stages))):
        draw(st.sampled_from(stages))(draw, d)
    transition(draw, d)
    for _ in range(draw(st.integers(0, max(1, max_stages // 2)))):
        draw(st.sampled_from(FEATURE_STAGES))(draw, d)
    d.params["num_classes"] = draw(st.integers(1, 10))
    head = d.layer("head", "linear(num_classes)")
    d.forward.append(f"x >> {head}" if not draw(st.booleans()) else f"{head}(x)")
    return render(d)


def render(d: Draft) -> str:
    h, w = ("H", "W") if d.symbolic else d.input_size
    if d.symbolic and d.scaled > 1:
        h, w = f"{d.scaled} * h", f"{d.scaled} * w"
    out = ["name: random", "doc: \"a random spec drawn by archdsl.testing.specs()\"", "params:"]
    for key, value in d.params.items():
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f"  {key}: {shown}")
    declared = {n: c for n, c in d.dims.items() if c}
    if declared:
        out.append("dims:")
        out += [f"  {n}: {{{', '.join(f'{k}: {v}' for k, v in c.items())}}}" for n, c in declared.items()]
    out += ["inputs:", f"  x: [N, {d.input_channels}, {h}, {w}]"]
    if d.blocks:
        out.append("blocks:")
        for header, body in d.blocks.items():
            out.append(f"  {header}:")
            out += [f"    {line}" for line in body]
    out.append("layers:")
    out += [f"  {name}: {expr}" for name, expr in d.layers]
    out.append("forward: |")
    out += [f"  {stmt}" for stmt in d.forward]
    return "\n".join(out) + "\n"
