"""The memory and routing ops (archdsl/ops/linalg.py, capsule.py, memory.py): static rules, clear errors, the
math of each op against a direct computation, and helper sources (Lowering.support) in the generated file."""
import math

import pytest
import torch
import torch.nn.functional as F

import archdsl
from archdsl.backends.torch.lowerings import lowering
from archdsl.dims import symbol
from archdsl.errors import ShapeRuleError, Span
from archdsl.ops import REGISTRY, bind

SPAN = Span("t", 1, 1)
N = symbol("N")


def shape(name, ins, **kw):
    op = REGISTRY.get(name)
    return op.shape(bind(op, [], {k: (v, SPAN) for k, v in kw.items()}, SPAN), ins)


def run(name, *xs, **kw):
    """Evaluate the op's generated call on tensors, with its helper source."""
    op = REGISTRY.get(name)
    a = bind(op, [], {k: (v, SPAN) for k, v in kw.items()}, SPAN)
    env = {"torch": torch, "nn": torch.nn, "F": F}
    exec(lowering(op).support, env)
    names = [f"x{i}" for i in range(len(xs))]
    env.update(zip(names, xs))
    args = [f"[{', '.join(names)}]"] if op.inputs is None else names
    return eval(lowering(op).call(a, [tuple(x.shape) for x in xs], args), env)


# --- einsum: equations checked statically -----------------------------------------------------------------

# 1152, 10, 16: CapsNet's 32 * 6 * 6 primary capsules, 10 digit capsules of 16D (Sabour et al. 2017, Section 4)
@pytest.mark.parametrize("eq, ins, out", [
    ("nij,nijd->njd", [(N, 1152, 10), (N, 1152, 10, 16)], (N, 10, 16)),
    ("nijd,njd->nij", [(N, 1152, 10, 16), (N, 10, 16)], (N, 1152, 10)),
    ("ij,jk", [(2, 3), (3, 4)], (2, 4)),                   # implicit output: letters used once, sorted
    ("ba", [(2, 3)], (3, 2)),
    ("...ij,...jk->...ik", [(N, 5, 2, 3), (5, 3, 4)], (N, 5, 2, 4)),
    ("i j , j k -> i k", [(2, 3), (3, 4)], (2, 4)),
    ("ii->i", [(3, 3)], (3,)),
    ("ij->", [(2, 3)], ()),
])
def test_einsum_shapes(eq, ins, out):
    assert shape("einsum", ins, equation=eq) == out


@pytest.mark.parametrize("eq, ins, words", [
    ("nij,nijd->njd", [(2, 1152, 10), (2, 1152, 8, 16)], r"subscript `j` is 10 in operand 0 \[2, 1152, 10\] \(dim 2\) "
                                                          r"but 8 in operand 1"),
    ("nij,njd->nid", [(2, 3, 4), (2, 4)], r"operand 1 `njd` has 3 subscript\(s\), but the input \[2, 4\] has rank 2"),
    ("ij,jk->il", [(2, 3), (3, 4)], r"output subscript `l` does not appear"),
    ("ij,jk->ii", [(2, 3), (3, 4)], r"repeats a subscript"),
    ("ij,jk->ik", [(2, 3)], r"has 2 operand\(s\), but 1 tensor\(s\) are given"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], r"one or two operands"),
    ("i2,jk->ik", [(2, 3), (3, 4)], r"'2' is not a subscript"),
    ("ij->i->j", [(2, 3)], r"more than one `->`"),
    ("...ijk->i", [(2, 3)], r"names 3 dims"),
])
def test_einsum_errors_say_what_is_wrong(eq, ins, words):
    with pytest.raises(ShapeRuleError, match=words):
        shape("einsum", ins, equation=eq)


def test_einsum_error_in_a_spec_points_at_the_call(write_spec):
    text = """\
inputs: {a: [N, 4, 5], b: [N, 6, 7]}
forward: |
  y = relu(a)
  einsum([y, b], 'nij,njk->nik')
"""
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    assert "subscript `j` is 5 in operand 0" in info.value.message and info.value.span.line == 4


def test_einsum_counts_its_multiply_adds(write_spec):
    text = "inputs: {a: [N, 4, 5], b: [N, 5, 6]}\nforward: |\n  einsum([a, b], 'nij,njk->nik')\n"
    assert archdsl.load(write_spec(text)).summary().macs == 4 * 5 * 6 * N


# --- the math of each op --------------------------------------------------------------------------------------

def test_squash_keeps_direction_and_maps_lengths_below_one():
    torch.manual_seed(0)
    s = torch.randn(5, 7, 8) * torch.tensor([0.01, 1.0, 10.0, 100.0, 3.0]).reshape(5, 1, 1)
    v = run("squash", s)
    n = s.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(v, n ** 2 / (1 + n ** 2) * s / n)   # Sabour et al. 2017, eq. 1
    # |v| = |s|^2 / (1 + |s|^2): about 1e-3 for |s| ~ 0.01 * sqrt(8), above 0.999 for |s| ~ 100 * sqrt(8)
    assert (v.norm(dim=-1) < 1).all() and v[0].norm(dim=-1).max() < 1e-2 and v[3].norm(dim=-1).min() > 0.999
    torch.testing.assert_close(run("squash", s.transpose(1, 2), dim=1), v.transpose(1, 2))


def test_caps_transform_is_one_matrix_per_capsule_pair():
    op = REGISTRY.get("caps_transform")
    a = bind(op, [(3, SPAN), (4, SPAN)], {}, SPAN)
    env = {"torch": torch, "nn": torch.nn}
    exec(lowering(op).support, env)
    layer = eval(lowering(op).init(a, [(2, 5, 6)]), env)
    assert tuple(layer.weight.shape) == (5, 3, 4, 6)      # [in_caps, out_caps, out_dim, in_dim]
    u = torch.randn(2, 5, 6)
    want = torch.stack([torch.stack([torch.stack([layer.weight[i, j] @ u[n, i] for j in range(3)])
                                     for i in range(5)]) for n in range(2)])
    torch.testing.assert_close(layer(u), want)


def test_circular_conv_rotates_with_wraparound():
    w = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0]])
    forward = run("circular_conv", w, torch.tensor([[0.0, 0.0, 1.0]]))   # all weight on shift +1
    torch.testing.assert_close(forward, torch.roll(w, 1, -1))
    back = run("circular_conv", w, torch.tensor([[1.0, 0.0, 0.0]]))       # shift -1
    torch.testing.assert_close(back, torch.roll(w, -1, -1))
    s = torch.tensor([[0.2, 0.5, 0.3]])
    want = [sum(s[0, k] * w[0, (i - (k - 1)) % 5] for k in range(3)) for i in range(5)]   # Graves et al., eq. 8
    torch.testing.assert_close(run("circular_conv", w, s)[0], torch.stack(want))


def test_circular_conv_needs_an_odd_static_shift_count():
    with pytest.raises(ShapeRuleError, match="odd, static number of shift weights"):
        shape("circular_conv", [(2, 8), (2, 2)])
    with pytest.raises(ShapeRuleError, match="has only 3 locations"):
        shape("circular_conv", [(2, 3), (2, 5)])


def test_sharpen_focuses_a_weighting():
    w = torch.softmax(torch.randn(4, 10), -1)
    gamma = torch.tensor([[1.0], [2.0], [5.0], [20.0]])
    out = run("sharpen", w, gamma)
    torch.testing.assert_close(out.sum(-1), torch.ones(4))
    torch.testing.assert_close(out, w ** gamma / (w ** gamma).sum(-1, keepdim=True))
    assert torch.equal(out.argmax(-1), w.argmax(-1))
    peaks = out.max(-1).values
    assert torch.allclose(peaks[0], w[0].max()) and (peaks[1:] > w[1:].max(-1).values).all()


def test_cosine_similarity_broadcasts_a_key_over_the_memory():
    memory, key = torch.randn(2, 7, 5), torch.randn(2, 1, 5)
    assert shape("cosine_similarity", [(N, 128, 20), (N, 1, 20)]) == (N, 128)   # the NTM's 128 x 20 memory
    want = (memory * key).sum(-1) / (memory.norm(dim=-1) * key.norm(dim=-1))
    torch.testing.assert_close(run("cosine_similarity", memory, key), want)


def test_outer_product_and_memory_write():
    w, e = torch.rand(2, 6), torch.rand(2, 4)
    assert shape("outer", [(N, 6), (N, 4)]) == (N, 6, 4)
    torch.testing.assert_close(run("outer", w, e), torch.einsum("ni,nm->nim", w, e))


def test_position_encoding_weights_follow_the_paper():
    J, d = 4, 3
    x = torch.ones(1, J, d)
    got = run("position_encode", x, dim=1)[0]
    want = torch.tensor([[(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)] for j in range(1, J + 1)])
    torch.testing.assert_close(got, want)
    stacked = run("position_encode", torch.ones(2, 5, J, 7, d), dim=2)     # words at dim 2, tables between
    torch.testing.assert_close(stacked[1, 3, :, 6], want)
    with pytest.raises(ShapeRuleError, match="embedding \\(last\\) dim"):
        shape("position_encode", [(2, 4, 3)], dim=-1)


def test_topk_mask_and_argmax_select_the_best():
    x = torch.tensor([[0.1, 0.9, 0.3, 0.9], [4.0, 1.0, 2.0, 3.0]])
    torch.testing.assert_close(run("topk_mask", x), torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0]]))  # first on ties
    torch.testing.assert_close(run("topk_mask", x, k=2), torch.tensor([[0.0, 1, 0, 1], [1, 0, 0, 1]]))
    assert run("argmax", x).tolist() == [1, 0] and shape("argmax", [(N, 7, 3)], dim=1) == (N, 3)
    with pytest.raises(ShapeRuleError, match="k=5 is more than the 4 values"):
        shape("topk_mask", [(2, 4)], k=5)


def test_select_roll_zeros_eye_and_reductions():
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(run("select", x, dim=1, index=-1), x[:, -1])
    with pytest.raises(ShapeRuleError, match="index=3 is out of range for dim 1 of size 3"):
        shape("select", [(2, 3, 4)], dim=1, index=3)
    torch.testing.assert_close(run("roll", x, shifts=-1, dim=1), torch.roll(x, -1, 1))
    assert shape("new_zeros", [(N, 1152, 10, 16)], shape=[0, 0, 0]) == (N, 1152, 10)
    assert shape("new_zeros", [(N, 1152, 10, 16)], shape=[0, 10, 16]) == (N, 10, 16)
    assert run("new_zeros", x, shape=[0, 5]).shape == (2, 5) and run("new_zeros", x, shape=[0, 0, 0]).abs().sum() == 0
    torch.testing.assert_close(run("new_eye", x, n=3), torch.eye(3))
    torch.testing.assert_close(run("vector_norm", x), x.norm(dim=-1))
    torch.testing.assert_close(run("reduce_sum", x, dim=(0, 2)), x.sum((0, 2)))
    torch.testing.assert_close(run("reduce_mean", x), x.mean())
    assert shape("reduce_sum", [(N, 3, 4)], dim=1, keepdim=True) == (N, 1, 4)
    torch.testing.assert_close(run("softplus", x), F.softplus(x))


def test_learned_tensor_repeats_over_the_batch():
    op = REGISTRY.get("learned_tensor")
    a = bind(op, [([5, 3], SPAN)], {"std": (0.5, SPAN)}, SPAN)
    env = {"torch": torch, "nn": torch.nn}
    exec(lowering(op).support, env)
    layer = eval(lowering(op).init(a, [(4, 9)]), env)
    out = layer(torch.randn(4, 9))
    assert out.shape == (4, 5, 3) and torch.equal(out[0], out[3]) and op.weights(a, [(4, 9)]) == 5 * 3
    assert shape("learned_tensor", [(N, 7, 2)], shape=[5, 3]) == (N, 5, 3)


# --- helper sources in the generated file ----------------------------------------------------------------

HELPERS = """\
inputs: {x: [N, 6, 8], w: [N, 8], s: [N, 3]}
layers:
  caps: caps_transform(3, 4)
forward: |
  a = squash(x)
  circular_convolution = relu(w)
  b = squash(caps(a), dim=2)
  a, b, circular_conv(circular_convolution, s)
"""


def test_helpers_are_emitted_once_and_never_shadowed(write_spec):
    spec = archdsl.load(write_spec(HELPERS))
    src = spec.source
    assert src.count("def squash(") == 1 and src.count("class CapsuleTransform(nn.Module)") == 1
    assert src.index("def squash(") < src.index("class Spec(nn.Module)")
    assert "circular_convolution_ = torch.relu(w)" in src       # a variable may not take a helper's name
    imports = [line for line in src.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import torch", "from torch import nn"]  # F is imported only where F.* is used
    net = spec.build()
    x, w, s = torch.randn(2, 6, 8), torch.randn(2, 8), torch.softmax(torch.randn(2, 3), -1)
    out_a, out_b, out_c = net(x, w, s)
    assert out_a.shape == (2, 6, 8) and out_b.shape == (2, 6, 3, 4) and out_c.shape == (2, 8)
    # and the values: HELPERS written out with the ops' formulas (tested above) and the layer's weights
    torch.testing.assert_close(out_a, run("squash", x))
    torch.testing.assert_close(out_b, run("squash", net.caps(out_a), dim=2))
    torch.testing.assert_close(out_c, run("circular_conv", torch.relu(w), s))


def test_a_block_named_like_a_helper_class_gets_another_name(write_spec):
    text = HELPERS.replace("layers:\n  caps: caps_transform(3, 4)",
                           "blocks:\n  CapsuleTransform:\n    layers:\n      t: caps_transform(3, 4)\n"
                           "    forward: |\n      t(x)\nlayers:\n  caps: CapsuleTransform")
    spec = archdsl.load(write_spec(text))
    assert "class CapsuleTransform_2(nn.Module)" in spec.source
    assert spec.build()(torch.randn(2, 6, 8), torch.randn(2, 8), torch.randn(2, 3))[1].shape == (2, 6, 3, 4)
    assert math.isclose(spec.summary().params, 6 * 3 * 4 * 8)   # W: [6 in capsules, 3 out, 4 out dim, 8 in dim]
