"""The Transformer's attention ops against PyTorch: multi_head_attention against nn.MultiheadAttention called
directly (is_causal against torch's own causal mask, need_weights against torch's default call, both masks),
arange against torch.arange, causal_mask against nn.Transformer.generate_square_subsequent_mask; the old name
`multihead_attention` is a located error that names the new one."""
import pytest
import torch
from torch import nn

import archdsl
from archdsl.ir.graph import flat_tensors
from tests.helpers import assert_static_equals_runtime

MHA = """\
name: mha
inputs:
  x: [N, T, 16]
  mem: [N, S, 6]
  padding: {shape: [N, S], dtype: bool}
layers:
  self_attn: multi_head_attention(16, 4, is_causal=true)
  cross: multi_head_attention(16, 2, kdim=6, vdim=6, mask='key_padding', need_weights=true)
  heads: multi_head_attention(16, 4, need_weights=true, average_attn_weights=false, is_causal=true)
forward: |
  y = self_attn(x, x, x)
  z, weights = cross(y, mem, mem, padding)
  out, per_head = heads(z, z, z)
  out, weights, per_head
"""


def output_shapes(spec) -> list:
    """The static shape of each output of the spec's model, dims as text."""
    return [[str(d) for d in spec.graph.shape(t)] for t in flat_tensors(spec.graph.outputs[spec.name])]


def torch_mha(seed, *args, **kw):
    torch.manual_seed(seed)
    return nn.MultiheadAttention(*args, batch_first=True, **kw).eval()


@pytest.fixture
def mha_net(write_spec):
    spec = archdsl.load(write_spec(MHA))
    net = spec.build().eval()
    theirs = {"self_attn": torch_mha(0, 16, 4), "cross": torch_mha(1, 16, 2, kdim=6, vdim=6),
              "heads": torch_mha(2, 16, 4)}
    for name, module in theirs.items():
        getattr(net, name).load_state_dict(module.state_dict())  # strict: nn.MultiheadAttention's keys
    return spec, net, theirs


def test_mha_masks_weights_and_causality_equal_torch(mha_net):
    spec, net, theirs = mha_net
    g = torch.Generator().manual_seed(3)
    x, mem = torch.randn(2, 5, 16, generator=g), torch.randn(2, 7, 6, generator=g)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 4:] = True
    causal = nn.Transformer.generate_square_subsequent_mask(5)  # torch's own causal mask: -inf above the diagonal
    with torch.no_grad():
        y = theirs["self_attn"](x, x, x, attn_mask=causal, need_weights=False)[0]
        z, weights = theirs["cross"](y, mem, mem, key_padding_mask=padding)  # torch's default: need_weights=True
        out, per_head = theirs["heads"](z, z, z, attn_mask=causal, average_attn_weights=False)
        got = net(x, mem, padding)
    for a, b in zip(got, (out, weights, per_head)):
        torch.testing.assert_close(a, b)
    assert weights.shape == (2, 5, 7) and per_head.shape == (2, 4, 5, 5)
    assert torch.all(weights[1, :, 4:] == 0) and torch.all(per_head.triu(1) == 0)  # padding and the future unseen
    assert_static_equals_runtime(spec, N=2, T=5, S=7)


def test_mha_is_causal_hides_later_positions(mha_net):
    _, net, _ = mha_net
    x, mem, padding = torch.randn(1, 6, 16), torch.randn(1, 3, 6), torch.zeros(1, 3, dtype=torch.bool)
    changed = x.clone()
    changed[:, 4:] += 1.0
    with torch.no_grad():
        a, b = net(x, mem, padding)[0], net(changed, mem, padding)[0]
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_mha_static_shapes_of_the_weights(write_spec):
    spec = archdsl.load(write_spec(MHA))
    assert output_shapes(spec) == [["N", "T", "16"], ["N", "T", "S"], ["N", "4", "T", "T"]]


def test_mha_is_causal_with_an_attn_mask_is_a_located_error(write_spec):
    text = MHA.replace("y = self_attn(x, x, x)", "y = self_attn(x, x, x, causal_mask(x, 1))")
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    err = info.value
    assert "attn_mask input or is_causal=true, not both" in err.message and err.span.line == 11, err.render()
    assert "drop the attn_mask input" in err.hint


def test_the_old_name_multihead_attention_says_it_was_renamed(write_spec):
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(MHA.replace("self_attn: multi_head_attention", "self_attn: multihead_attention"))).check()
    err = info.value
    assert err.code == "E005" and (err.span.line, err.span.col) == (7, 14), err.render()
    assert err.hint == "`multihead_attention` was renamed to `multi_head_attention`"


POSITIONS = """\
name: positions
inputs:
  tokens: {shape: [N, T], dtype: int64, high: 50}
dims:
  T: {max: 16}
layers:
  wte: embedding(50, 8)
  wpe: embedding(16, 8)
  attn: multi_head_attention(8, 2)
forward: |
  x = wte(tokens) + wpe(arange(tokens, 1))
  mask = causal_mask(tokens, -1)
  attn(x, x, x, mask), arange(x, dim=1, start=3), mask
"""


def test_arange_and_causal_mask_equal_torch(write_spec):
    spec = archdsl.load(write_spec(POSITIONS))
    net = spec.build().eval()
    tokens = torch.randint(0, 50, (3, 7))
    with torch.no_grad():
        out, shifted, mask = net(tokens)
        x = net.wte(tokens) + net.wpe(torch.arange(7))
        want = net.attn(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(7), need_weights=False)[0]
    torch.testing.assert_close(out, want)
    assert torch.equal(shifted, torch.arange(3, 10)) and shifted.dtype == torch.int64
    # torch's causal mask is -inf exactly where causal_mask is true (may not attend)
    assert mask.dtype == torch.bool and torch.equal(mask, nn.Transformer.generate_square_subsequent_mask(7).isinf())
    assert output_shapes(spec)[1:] == [["T"], ["T", "T"]]
    assert_static_equals_runtime(spec, N=3, T=7)


def test_positions_follow_the_input_device(write_spec):
    """On the meta device every tensor the model makes is on meta too (no CPU tensor is created)."""
    with torch.device("meta"):
        net = archdsl.load(write_spec(POSITIONS)).build()
    out, shifted, mask = net(torch.zeros(2, 5, dtype=torch.int64, device="meta"))
    assert {t.device.type for t in (out, shifted, mask)} == {"meta"}


def test_arange_dim_out_of_range_is_a_located_error(write_spec):
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(POSITIONS.replace("arange(tokens, 1)", "arange(tokens, 2)"))).check()
    err = info.value
    assert "`arange` dim=2 is out of range for the rank-2 input [N, T]" in err.message, err.render()
    assert err.span.line == 11
