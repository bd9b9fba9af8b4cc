"""The Transformer family of the zoo (transformer, gpt2, bert, vit) against PyTorch: the transformer spec's
state_dict loads strictly into torch.nn.Transformer and both compute the same; gpt2 and bert have the
parameter counts of issue 14; small configurations are compared with hand-written torch models that hold
the same weights. The full-size forwards run only with ARCHDSL_SLOW_TESTS=1."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import archdsl
from archdsl import zoo as catalogue
from tests.helpers import spec_path
from tests.reference import SLOW

SMALL_TRANSFORMER = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64)


def params_of(net: nn.Module) -> int:
    """Each distinct parameter tensor once (tied weights count once, as nn.Module.parameters() yields them)."""
    return sum(p.numel() for p in net.parameters())


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random (the zero-initialised ones too), so that a wrong wiring shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return net


# --- transformer: torch.nn.Transformer ------------------------------------------------------------------

def torch_transformer(**kw) -> nn.Transformer:
    return nn.Transformer(kw.get("d_model", 512), kw.get("nhead", 8), kw.get("num_encoder_layers", 6),
                          kw.get("num_decoder_layers", 6), kw.get("dim_feedforward", 2048), batch_first=True)


def test_transformer_state_dict_equals_torch_at_full_size():
    """torch.nn.Transformer(512, 8, 6, 6, batch_first=True): the same keys and shapes, in the same order."""
    spec = archdsl.load(spec_path("transformer"))
    with torch.device("meta"):
        ours, theirs = spec.build(), torch_transformer()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert params_of(ours) == params_of(theirs) == spec.summary().params == 44_140_544


@pytest.mark.parametrize("n, s, t", [(2, 7, 5), (1, 3, 9)])
def test_transformer_equals_torch_with_the_causal_target_mask(n, s, t):
    spec = archdsl.load(spec_path("transformer"), **SMALL_TRANSFORMER)
    ours = randomize(spec.build()).eval()
    theirs = torch_transformer(**SMALL_TRANSFORMER).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randn(n, s, 32, generator=g), torch.randn(n, t, 32, generator=g)
    mask = nn.Transformer.generate_square_subsequent_mask(t)
    with torch.no_grad():
        want = theirs(src, tgt, tgt_mask=mask, tgt_is_causal=True)
        torch.testing.assert_close(ours(src, tgt), want, rtol=1e-5, atol=1e-5)
        # and the mask matters: without it torch computes something else
        assert not torch.allclose(theirs(src, tgt), want, atol=1e-3)


def test_transformer_decoder_is_causal():
    spec = archdsl.load(spec_path("transformer"), **SMALL_TRANSFORMER)
    net = randomize(spec.build()).eval()
    src, tgt = torch.randn(2, 4, 32), torch.randn(2, 6, 32)
    changed = tgt.clone()
    changed[:, 4:] += 1.0
    with torch.no_grad():
        a, b = net(src, tgt), net(src, changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.skipif(not SLOW, reason="slow on CPU; run with ARCHDSL_SLOW_TESTS=1")
def test_transformer_equals_torch_at_full_size():
    ours = archdsl.load(spec_path("transformer")).build().eval()
    theirs = torch_transformer().eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    src, tgt = torch.randn(2, 10, 512), torch.randn(2, 7, 512)
    with torch.no_grad():
        want = theirs(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(7), tgt_is_causal=True)
        torch.testing.assert_close(ours(src, tgt), want, rtol=1e-4, atol=1e-4)
