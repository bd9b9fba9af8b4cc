"""archdsl's multiply-adds against an independent count: torch's FlopCounterMode (2 FLOPs per multiply-add)
running the model archdsl builds, at batch 1, for every model of the zoo (archdsl.zoo.names()).

The convention is the same on both sides, so the counts must be equal, not close: a multiply-add is counted
for every product of a matrix product (linear, matmul, bmm, einsum, the attention scores q k^T and the
weighted sum of v) and of a convolution (per output element: in_channels/groups x kernel size), and for
nothing else. Biases, elementwise arithmetic and activations, norms, pooling, softmax, resizing and embedding
lookups are free on both sides (archdsl's macs rules in archdsl/ops/*.py; FlopCounterMode's formulas in
torch.utils.flop_counter cover matrix products and convolutions only). A causal mask does not halve the
count: both count the full L x S scores, as the kernels compute them.

Where FlopCounterMode sees the matrix products depends on the kernel that runs:
- On the meta device (every model here: no weights are allocated, so even vit_h_14 costs about a second),
  scaled dot-product attention runs its math decomposition, whose bmm calls it counts.
- On CPU it misses the attention matmuls: F.scaled_dot_product_attention, which nn.MultiheadAttention calls
  for its scores and weighted sum, runs the fused kernel aten._scaled_dot_product_flash_attention_for_cpu,
  which has no FlopCounterMode formula. (Without autograd, nn.MultiheadAttention in eval mode may also take
  its fast path, _native_multi_head_attention, which hides its projections too; the CPU test runs with
  autograd on, as training does, so only the attention kernel is missed.) The CPU test adds those
  multiply-adds, written out from the shapes of each fused-kernel call, and then the counts are equal.

Only `forward` is compared, through the summary's figure for it (`spec.summary().entry(model).macs`, what users
see): a spec's `methods:` are other entry points, each with its own figure. A spec of several models compares
each model's forward with that model built alone (with the models it uses, counted once).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from archdsl import testing, zoo
from archdsl.dims import substitute
from tests.reference import SLOW

CATALOGUE = zoo.names()

# The default profile counts the first model of each spec file (its smallest or base variant) and the variants
# whose structure differs from it; ARCHDSL_SLOW_TESTS=1 counts every model of the catalogue.
FIRST_OF_EACH_SPEC = {next(n for n, (p, _) in CATALOGUE.items() if p == path)
                      for path, _ in CATALOGUE.values()}
VARIANTS = {
    "resnext50_32x4d", "fcn_resnet50",                          # grouped convs; a dilated body, a segmentation head
    "mobilenet_v3_small", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
    "efficientnet_v2_s",                                        # fused MBConv
    "regnet_x_400mf",                                           # no squeeze-excitation
    "swin_v2_t",                                                # scaled cosine attention, continuous position bias
    "mc3_18", "r2plus1d_18",                                    # mixed and (2+1)D convolutions
}
DEFAULT = FIRST_OF_EACH_SPEC | (VARIANTS & set(CATALOGUE))


def profile(name: str):
    return pytest.param(name, marks=pytest.mark.skipif(name not in DEFAULT and not SLOW,
                                                        reason="one model per spec family by default; "
                                                               "ARCHDSL_SLOW_TESTS=1 counts every model"))


def sizes(spec) -> dict:
    """Batch 1, and each other symbolic dim (sequence lengths T, S, J, ...) the first of 16, 32, ... it allows."""
    names = testing.symbols(spec)
    for n in (16, 32, 64, 128, 256):
        values = {s: 1 if s == "N" else n for s in names}
        if testing.valid(spec, values) and spec.graph.facts.admits(values):
            return values
    pytest.fail(f"no sizes up to 256 for the symbolic dims {names} of {spec.doc.file}")


def inputs(spec, model: str, values: dict, device: str) -> list:
    graph = spec.graph
    out = []
    for nid in graph.inputs[model]:
        node = graph.node(nid)
        shape = [substitute(d, values) for d in node.meta.shape]
        out.append(torch.zeros(shape, dtype=getattr(torch, node.meta.dtype), device=device))
    return out


def forward_macs(spec, model: str, values: dict) -> int:
    """archdsl's figure for `model`'s forward in eval mode, as the summary gives it to users (`archdsl summary`,
    the diagram's title, `archdsl zoo`), at `values`."""
    return substitute(spec.summary().entry(model).macs, values)


def counted(spec, model: str, values: dict, device: str, extra=None) -> int:
    """FlopCounterMode's FLOPs for one forward pass of `model` built on `device`, in eval mode, autograd on
    (FlopCounterMode's module tracker fails on some models under no_grad: `Expected gradient function to be
    set`); `extra`: a dispatch mode entered inside the counter."""
    net = spec.build(model if len(spec.models) > 1 else None, device=device).eval()
    xs = inputs(spec, model, values, device)
    with FlopCounterMode(display=False) as flops:
        if extra is None:
            net(*xs)
        else:
            with extra:
                net(*xs)
    return flops.get_total_flops()


@pytest.mark.parametrize("name", [profile(n) for n in CATALOGUE])
def test_macs_equal_torchs_flop_counter_on_the_meta_device(name):
    spec = zoo.load(name)
    values = sizes(spec)
    for model in spec.models:
        macs = forward_macs(spec, model, values)
        assert isinstance(macs, int) and macs > 0
        assert counted(spec, model, values, "meta") == 2 * macs, model


# --- on CPU: the fused attention kernel that FlopCounterMode misses, counted by hand ------------------------------

FUSED = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


class FusedAttention(TorchDispatchMode):
    """The multiply-adds of the fused CPU attention kernel's calls, from their shapes: query [*B, L, E], key
    [*B, S, E] and value [*B, S, Ev] (B: batch and heads) give B x L x S x E for the scores q k^T and
    B x L x S x Ev for the weighted sum of v."""

    def __init__(self):
        super().__init__()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket is FUSED:
            q, k, v = args[:3]
            *batch, L, E = q.shape
            self.macs += math.prod(batch) * L * k.shape[-2] * (E + v.shape[-1])
        return func(*args, **(kwargs or {}))


# the Transformer family and the vision transformers, small enough for the default profile (a few million
# multiply-adds), then at full size with ARCHDSL_SLOW_TESTS=1
SMALL = {
    "gpt2": dict(vocab=97, n_ctx=16, d=32, n_layer=2, n_head=4),
    "bert": dict(vocab=97, max_positions=16, d=32, n_layer=2, n_head=4, d_ff=64),
    "transformer": dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64),
    "vit_b_32": dict(image_size=64),
    "swin_t": dict(image_size=64),
}
FULL = ["gpt2", "bert", "transformer", "vit_b_16", "swin_t", "maxvit_t"]
CPU_CASES = [pytest.param(n, p, id=f"{n}-small") for n, p in SMALL.items()] + [
    pytest.param(n, {}, id=n, marks=pytest.mark.skipif(not SLOW, reason="full size: ARCHDSL_SLOW_TESTS=1"))
    for n in FULL]


def test_flop_counter_has_no_formula_for_the_fused_cpu_attention_kernel():
    """Why the CPU count needs the attention added: if a later torch counts this kernel, the docs (docs/ops.md,
    docs/transformers.md) and the CPU test must say so."""
    assert FUSED not in flop_registry
    q = torch.randn(1, 2, 5, 8)
    with FlopCounterMode(display=False) as flops, FusedAttention() as fused:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    # 1 x 2 heads x 5 queries x 5 keys x (8 + 8): the scores and the weighted sum, written out
    assert (flops.get_total_flops(), fused.macs) == (0, 1 * 2 * 5 * 5 * (8 + 8))


@pytest.mark.parametrize("name, params", CPU_CASES)
def test_macs_equal_flop_counter_on_cpu_plus_the_attention_it_misses(name, params):
    spec = zoo.load(name, **params)
    values = sizes(spec)
    model = spec.models[0]
    macs = forward_macs(spec, model, values)
    fused = FusedAttention()
    flops = counted(spec, model, values, "cpu", fused)
    assert flops // 2 + fused.macs == macs
    if name in ("gpt2", "bert", "transformer") or name.startswith("vit_"):
        # their attention runs in the fused kernel (F.scaled_dot_product_attention, inside
        # nn.MultiheadAttention for transformer and vit): FlopCounterMode alone misses it
        assert fused.macs > 0 and flops < 2 * macs
