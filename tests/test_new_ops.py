"""Values of the ops of today's architectures against independent references: stochastic depth against the
torchvision formula, layernorm2d against F.layer_norm over channels, scaled dot-product attention against
softmax(q k^T / sqrt(E)) v written out, multi-head attention against nn.MultiheadAttention with its weights."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import archdsl
from tests.helpers import assert_static_equals_runtime


# --- activations --------------------------------------------------------------------------------------------

MOBILE = """\
name: mobile_block
inputs:
  x: [N, 8, H, W]
layers:
  expand: conv2d(16, 1)
  act: relu6
  depthwise: conv2d(16, 3, padding=1, groups=16)
  gate: "[global_avgpool2d, linear(16), hardsigmoid]"
  project: conv2d(8, 1)
forward: |
  y = x >> expand >> act >> depthwise
  y = hardswish(y) * reshape(gate(y), [0, 0, 1, 1])
  x + project(silu(mish(relu6(y))))
"""


def test_relu6_and_hardswish_lower_to_torch_natives(write_spec):
    spec = archdsl.load(write_spec(MOBILE))
    src = spec.source
    assert "nn.ReLU6(" in src and "F.relu6(" in src and "F.hardswish(" in src and "nn.Hardsigmoid(" in src
    assert "torch.relu" not in src  # no relu(x) - relu(x - 6) workaround
    net = spec.build().eval()
    x = torch.randn(2, 8, 5, 5)
    y = net.act(net.expand(x))
    torch.testing.assert_close(y, y.clamp(0, 6))
    assert_static_equals_runtime(spec, N=2, H=5, W=5)


def test_gelu_tanh_matches_the_formula():
    from archdsl.backends.torch.lowerings import LOWERINGS
    from archdsl.ops import REGISTRY, bind

    a = bind(REGISTRY.get("gelu"), [], {"approximate": ("tanh", None)}, None)
    x = torch.linspace(-4, 4, 101)
    got = eval(LOWERINGS["gelu"].call(a, [(101,)], ["x"]), {"F": F, "x": x})
    want = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    torch.testing.assert_close(got, want)


# --- stochastic depth -----------------------------------------------------------------------------------------

DEPTH = """\
name: depth
inputs:
  x: [N, 3]
layers:
  row: stochastic_depth(0.3)
  batch: stochastic_depth(0.3, mode='batch')
forward: |
  row(x), batch(x), stochastic_depth(x, 0.3)
"""


def reference_stochastic_depth(x, p, mode):
    """torchvision.ops.stochastic_depth written from its formula: keep a row (or the batch) with probability
    1 - p and scale it by 1 / (1 - p)."""
    keep = torch.rand(x.shape[0] if mode == "row" else 1) >= p
    return x * (keep.to(x.dtype) / (1 - p)).reshape(-1, *[1] * (x.dim() - 1))


def dropped_rows(y) -> float:
    return (y == 0).all(1).float().mean().item()


def test_stochastic_depth_is_the_identity_in_eval(write_spec):
    net = archdsl.load(write_spec(DEPTH)).build().eval()
    x = torch.randn(64, 3)
    assert all(torch.equal(y, x) for y in net(x))


def test_stochastic_depth_drops_rows_as_torchvision_in_training(write_spec):
    net = archdsl.load(write_spec(DEPTH)).build().train()
    torch.manual_seed(0)
    x = torch.rand(20000, 3) + 1
    want = reference_stochastic_depth(x, 0.3, "row")
    for got in (net.row(x), net(x)[2]):  # the layer and the inline op
        kept = got[(got != 0).any(1)]
        torch.testing.assert_close(kept, x[(got != 0).any(1)] / 0.7)  # survivors scaled, whole rows
        assert dropped_rows(got) == pytest.approx(dropped_rows(want), abs=0.015)
        assert dropped_rows(got) == pytest.approx(0.3, abs=0.015)
        assert got.mean().item() == pytest.approx(x.mean().item(), rel=0.02)  # the expectation is kept


def test_stochastic_depth_batch_mode_drops_the_whole_batch(write_spec):
    net = archdsl.load(write_spec(DEPTH)).build().train()
    torch.manual_seed(1)
    x = torch.rand(4, 3) + 1
    outs = [net.batch(x) for _ in range(4000)]
    assert all(torch.equal(y, torch.zeros_like(x)) or torch.allclose(y, x / 0.7) for y in outs)
    dropped = sum(bool((y == 0).all()) for y in outs) / len(outs)
    ref = sum(bool((reference_stochastic_depth(x, 0.3, "batch") == 0).all()) for _ in range(4000)) / 4000
    assert dropped == pytest.approx(ref, abs=0.03) and dropped == pytest.approx(0.3, abs=0.03)


@pytest.mark.parametrize("p, want", [(0.0, lambda x: x), (1.0, torch.zeros_like)])
def test_stochastic_depth_edge_probabilities(write_spec, p, want):
    net = archdsl.load(write_spec(DEPTH.replace("0.3", str(p)))).build().train()
    x = torch.randn(8, 3)
    assert all(torch.equal(y, want(x)) for y in net(x))


# --- layernorm2d ------------------------------------------------------------------------------------------------

LN2D = """\
name: ln2d
inputs:
  x: [N, 8, H, W]
layers:
  norm: layernorm2d(eps=1e-6)
forward: |
  norm(x)
"""


def test_layernorm2d_normalizes_channels_with_torchvision_keys(write_spec):
    spec = archdsl.load(write_spec(LN2D))
    net = spec.build()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {"norm.weight": (8,), "norm.bias": (8,)}
    assert spec.summary().params == 16
    with torch.no_grad():
        net.norm.weight.normal_()
        net.norm.bias.normal_()
    x = torch.randn(2, 8, 3, 5) * 3 + 1
    w, b = net.norm.weight, net.norm.bias
    want = F.layer_norm(x.permute(0, 2, 3, 1), (8,), w, b, 1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(net(x), want)
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    by_hand = (x - mean) / torch.sqrt(var + 1e-6) * w[:, None, None] + b[:, None, None]
    torch.testing.assert_close(net(x), by_hand)
    assert_static_equals_runtime(spec, N=2, H=3, W=5)


# --- scaled dot-product attention ---------------------------------------------------------------------------

SDPA = """\
name: sdpa
inputs:
  q: [N, 2, L, 8]
  k: [N, 2, S, 8]
  v: [N, 2, S, 4]
  mask: {shape: [L, S], dtype: bool}
forward: |
  causal = scaled_dot_product_attention(q, k, v, is_causal=true)
  masked = scaled_dot_product_attention(q, k, v, mask, scale=0.5)
  plain = scaled_dot_product_attention(q, k, v)
  causal, masked, plain
"""


def attention_by_hand(q, k, v, allowed=None, scale=None):
    scores = q @ k.transpose(-2, -1) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, -1) @ v


def test_sdpa_matches_softmax_qk_v(write_spec):
    spec = archdsl.load(write_spec(SDPA))
    net = spec.build()
    q, k, v = torch.randn(3, 2, 5, 8), torch.randn(3, 2, 6, 8), torch.randn(3, 2, 6, 4)
    mask = torch.rand(5, 6) > 0.3
    mask[:, 0] = True  # every query sees a key
    causal, masked, plain = net(q, k, v, mask)
    torch.testing.assert_close(causal, attention_by_hand(q, k, v, torch.ones(5, 6, dtype=torch.bool).tril()))
    torch.testing.assert_close(masked, attention_by_hand(q, k, v, mask, scale=0.5))
    torch.testing.assert_close(plain, attention_by_hand(q, k, v))
    assert_static_equals_runtime(spec, N=3, L=5, S=6)
    assert spec.summary().macs_at(N=3, L=5, S=6) == 3 * 3 * 2 * 5 * 6 * (8 + 4)


def test_sdpa_dropout_only_in_training(write_spec):
    src = archdsl.load(write_spec(SDPA.replace("is_causal=true", "dropout_p=0.5"))).source
    assert "dropout_p=0.5 if self.training else 0.0" in src


# --- multi-head attention --------------------------------------------------------------------------------------

MHA = """\
name: mha
inputs:
  x: [N, T, 16]
  mem: [N, S, 6]
  causal: [T, T]
  padding: {shape: [N, S], dtype: bool}
layers:
  self_attn: multi_head_attention(16, 4)
  cross: multi_head_attention(16, 2, kdim=6, vdim=6, bias=false, mask='key_padding')
forward: |
  y = self_attn(x, x, x, causal)
  cross(y, mem, mem, padding)
"""


def torch_mha(*args, **kw):
    torch.manual_seed(0)
    return torch.nn.MultiheadAttention(*args, batch_first=True, **kw)


def test_mha_has_torch_keys_and_outputs(write_spec):
    spec = archdsl.load(write_spec(MHA))
    net = spec.build().eval()
    self_attn, cross = torch_mha(16, 4).eval(), torch_mha(16, 2, kdim=6, vdim=6, bias=False).eval()
    net.self_attn.load_state_dict(self_attn.state_dict())  # strict: the same keys and shapes
    net.cross.load_state_dict(cross.state_dict())
    assert set(net.self_attn.state_dict()) == {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}
    assert spec.summary().params == sum(p.numel() for m in (self_attn, cross) for p in m.parameters())
    x, mem = torch.randn(2, 5, 16), torch.randn(2, 7, 6)
    causal = torch.full((5, 5), float("-inf")).triu(1)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 4:] = True
    y = self_attn(x, x, x, attn_mask=causal, need_weights=False)[0]
    want = cross(y, mem, mem, key_padding_mask=padding, need_weights=False)[0]
    torch.testing.assert_close(net(x, mem, causal, padding), want)
    assert_static_equals_runtime(spec, N=2, T=5, S=7)


def test_mha_macs_count_projections_scores_and_weighted_sum():
    from archdsl.ops import REGISTRY, bind

    op = REGISTRY.get("multi_head_attention")
    a = bind(op, [], {k: (v, None) for k, v in dict(embed_dim=16, num_heads=4, kdim=6, vdim=10).items()}, None)
    n, L, S, e = 2, 5, 7, 16
    ins = [(n, L, e), (n, S, 6), (n, S, 10)]
    projections = n * (L * e * e + S * e * 6 + S * e * 10 + L * e * e)
    assert op.macs(a, ins, op.shape(a, ins)) == projections + 2 * n * L * S * e
    m = torch_mha(16, 4, kdim=6, vdim=10)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops:
        m(*(torch.randn(s) for s in ins), need_weights=False)
    assert flops.get_total_flops() == 2 * op.macs(a, ins, op.shape(a, ins))
