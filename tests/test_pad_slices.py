"""`pad` (F.pad) and strided slices on symbolic dims, against torch: the static shapes are PyTorch's, the check
accepts only what PyTorch runs, and Swin's patch merging pads an odd map as torchvision does (written out here
with torch's functions)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import archdsl
from archdsl.dims import fmt_dim, substitute
from archdsl.errors import ShapeRuleError, Span
from archdsl.ops import REGISTRY, bind
from archdsl.testing import from_text
from tests.helpers import assert_static_equals_runtime, spec_path

SPAN = Span("t", 1, 1)


def output_shape(spec) -> tuple:
    return list(spec.check().values())[-1]


# --- slices: exact lengths on a symbolic dim ---------------------------------------------------------------

SLICED = """\
inputs: {x: [N, T, 3]}
DIMS
forward: |
  x[:, SLICE]
layers: {}
"""


def sliced(part: str, low: int | None = None):
    dims = f"dims: {{T: {{min: {low}}}}}" if low else ""
    return from_text(SLICED.replace("SLICE", part).replace("DIMS", dims), "s.yaml")


def slice_source(start, stop, step) -> str:
    return ":".join("" if v is None else str(v) for v in (start, stop, step))


@settings(max_examples=150, deadline=None)
@given(start=st.none() | st.integers(-7, 7), stop=st.none() | st.integers(-7, 7),
       step=st.none() | st.integers(1, 4), low=st.sampled_from([None, 4, 7]))
def test_symbolic_slice_lengths_are_torchs_for_every_size(start, stop, step, low):
    """For T from its declared min to 24, the static length with T set is the length torch gives wherever that
    is positive, and not positive exactly where torch's slice is empty (no size then passes the check's filter:
    archdsl.testing.dims keeps every shape positive)."""
    try:
        length = output_shape(sliced(slice_source(start, stop, step), low))[1]
    except archdsl.ArchDSLError as err:  # a slice that is empty for every size (`:0`, `3:1`)
        assert err.code == "E009" and "is empty" in err.message, err.render()
        length = 0
    for t in range(low or 1, 25):
        want = torch.zeros(1, t, 3)[:, start:stop:step].shape[1]
        assert max(substitute(length, {"T": t}), 0) == want, (t, fmt_dim(length))


@pytest.mark.parametrize("part, low, text", [
    ("0::2", None, "ceil(T/2)"), ("1::2", None, "floor(T/2)"), ("2:-1:3", None, "ceil(T/3) - 1"),
    (":8", None, "Min(8, T)"), (":8", 8, "8"), ("-4:", None, "T - Max(0, T - 4)"), ("-4:", 4, "4"),
    ("-1:", None, "1"),
])
def test_symbolic_slice_shapes_read_as_written(part, low, text):
    """Bounds that may fall outside T are clamped as Python clamps them, unless T's declared min makes them fit."""
    assert fmt_dim(output_shape(sliced(part, low))[1]) == text


@pytest.mark.parametrize("part", ["1::2", "-5::3", ":6:2", "2:-1:3"])
def test_generated_slices_match_the_static_shapes(part):
    spec = sliced(part)
    for t in (5, 6, 7, 12):  # from 5, every one of these slices is non-empty
        assert_static_equals_runtime(spec, N=2, T=t)


# --- pad: the shape rule against F.pad --------------------------------------------------------------------

MODES = ("constant", "reflect", "replicate", "circular")


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(MODES), shape=st.lists(st.integers(1, 4), min_size=1, max_size=5),
       amounts=st.integers(1, 3).flatmap(lambda n: st.lists(st.integers(-5, 5), min_size=2 * n, max_size=2 * n)),
       value=st.sampled_from([0.0, 1.5]))
def test_pad_shape_rule_agrees_with_torch(mode, shape, amounts, value):
    """Sound: what the rule accepts, F.pad runs, to the rule's shape. In mode 'constant' also complete: it
    rejects only what torch rejects or empties (this language has no empty dims)."""
    op = REGISTRY.get("pad")
    a = bind(op, [], {"pad": (amounts, SPAN), "mode": (mode, SPAN), "value": (value, SPAN)}, SPAN)
    try:
        static = op.shape(a, [tuple(shape)])
    except ShapeRuleError:
        static = None
    try:
        runtime = tuple(F.pad(torch.zeros(shape), amounts, mode=mode, value=value).shape)
    except (RuntimeError, NotImplementedError, ValueError):
        runtime = None
    if static is not None:
        assert static == runtime
    if mode == "constant" and runtime is not None and 0 not in runtime:
        assert static == runtime


# --- pad with sizes of the input: odd maps, as Swin's patch merging ------------------------------------------

MERGE = """\
inputs: {x: [N, H, W, 4]}
blocks:
  Merge():
    let:
      padding: "[0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2]"
    forward: |
      x = pad(x, PADDING)
      concat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
layers:
  a: Merge()
  b: Merge()
forward: |
  x >> a >> b
"""


def test_padding_odd_maps_makes_the_neighbour_concat_check_for_every_size():
    spec = from_text(MERGE.replace("PADDING", "padding"), "m.yaml")
    assert not spec.assumptions and len(output_shape(spec)) == 4
    assert "F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))" in spec.source
    for h, w in [(1, 1), (2, 3), (5, 4), (7, 7), (8, 9)]:
        assert_static_equals_runtime(spec, N=1, H=h, W=w)


def test_size_dependent_amounts_are_computed_from_the_tensor():
    """Remainders, floor divisions and products written out with Python's precedence: the generated amounts give
    the static shapes for every size."""
    text = ("inputs: {x: [N, H, W]}\nblocks:\n  P():\n    let:\n      p: \"[2 * (x.shape[2] // 3), -x.shape[2] % 4, "
            "x.shape[1] // 2 % 3, (x.shape[1] + 1) % 2 * 3]\"\n    forward: |\n      pad(x, p)\n"
            "layers: {p: P()}\nforward: |\n  p(x)\n")
    spec = from_text(text, "p.yaml")
    for h, w in [(1, 1), (4, 3), (5, 6), (11, 13)]:
        assert_static_equals_runtime(spec, N=1, H=h, W=w)


def test_without_the_padding_odd_maps_are_named():
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(MERGE.replace("PADDING", "[0, 0]"), "m.yaml").check()
    assert info.value.code == "E009" and "H must be even" in info.value.message, info.value.render()


@pytest.mark.parametrize("amounts, dims, words", [
    ("[0, -(x.shape[1] % 2)]", "", "may be negative"),
    ("[0, x.shape[1] ** 2]", "", "is not written in the sizes"),
    ("[-2, 3]", "", "which may be more than there are"),
    ("[2, 0]", "", None),  # padding never shrinks
    ("[-2, 3]", "dims: {T: {min: 2}}", None),  # the crop fits every allowed T
    ("[1, 1]", "", "mode 'reflect' by 1 needs dim 1"),
])
def test_pad_on_symbolic_dims_checks_what_torch_needs(amounts, dims, words):
    mode = ", mode='reflect'" if "reflect" in (words or "") else ""
    text = (f"inputs: {{x: [N, T]}}\n{dims}\nblocks:\n  P():\n    let: {{p: \"{amounts}\"}}\n"
            f"    forward: |\n      pad(x, p{mode})\nlayers: {{p: P()}}\nforward: |\n  p(x)\n")
    spec = from_text(text, "p.yaml")
    if words is None:
        spec.check()
        for t in (2, 3, 6):
            assert_static_equals_runtime(spec, N=1, T=t)
        return
    with pytest.raises(archdsl.ArchDSLError) as info:
        spec.check()
    err = info.value
    assert err.code == "E009" and words in err.message and err.span.file == "p.yaml", err.render()


def test_pad_amounts_are_bounded():
    text = "inputs: {x: [1, 3]}\nforward: |\n  pad(x, [0, AMOUNT])\n"
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(text.replace("AMOUNT", str(2**41)), "b.yaml").check()
    assert info.value.code == "E007" and info.value.span.line == 3, info.value.render()
    from archdsl.testing import assert_shapes_match
    with pytest.raises(archdsl.ArchDSLError) as info:  # 10**12 entries: the memory limit, before allocating
        assert_shapes_match(from_text(text.replace("AMOUNT", str(10**12)), "b.yaml"), device="cpu")
    assert "max_memory" in info.value.message, info.value.render()


# --- Swin at an odd size: torchvision's PatchMerging written out -----------------------------------------

def patch_merging_by_hand(x, merging, version: int):
    """torchvision's PatchMerging (v1) and PatchMergingV2 in torch's functions, with the spec's weights: pad an
    odd map at the bottom and right, the 2 x 2 neighbours side by side (x0: even rows and columns, x1: odd rows,
    x2: odd columns, x3: both odd), then LayerNorm and the linear reduction (v2: the other way round)."""
    h, w = x.shape[1], x.shape[2]
    x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    norm = merging.norm

    def layer_norm(t):
        return F.layer_norm(t, t.shape[-1:], norm.weight, norm.bias, norm.eps)

    weight = merging.reduction.weight
    return F.linear(layer_norm(x), weight) if version == 1 else layer_norm(F.linear(x, weight))


@pytest.mark.parametrize("version", [1, 2])
def test_swin_at_an_odd_image_size_merges_patches_as_torchvision(version):
    """image_size 200: the stages' maps are 50, 25 and 13 pixels high (200 / 4, then rounded up by each merge),
    so two of the three patch mergings pad. Each one's output in a forward pass equals the computation written
    by hand on its input, and every static shape is the runtime one."""
    spec = archdsl.load(spec_path("swin"), version=version, image_size=200, N=1)
    torch.manual_seed(0)
    net = spec.build().eval()
    seen = []
    for k in (2, 4, 6):  # features.2, .4, .6: the patch mergings after stages 1 to 3
        net.features[k].register_forward_hook(lambda m, args, out: seen.append((m, args[0], out)))
    with torch.no_grad():
        net(torch.randn(1, 3, 200, 200))
        assert [x.shape[1] for _, x, _ in seen] == [50, 25, 13]
        for merging, x, out in seen:
            torch.testing.assert_close(out, patch_merging_by_hand(x, merging, version))
    assert_static_equals_runtime(spec)
