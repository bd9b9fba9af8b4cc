"""The Transformer family of the zoo (transformer, gpt2, bert, vit) against PyTorch: the transformer spec's
state_dict loads strictly into torch.nn.Transformer and both compute the same; gpt2 and bert have the
parameter counts of issue 14; small configurations are compared with hand-written torch models that hold
the same weights. The full-size forwards run only with ARCHDSL_SLOW_TESTS=1."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import archdsl
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


# --- gpt2 ------------------------------------------------------------------------------------------------

SMALL_GPT2 = dict(vocab=97, n_ctx=16, d=32, n_layer=2, n_head=4)


class TorchGPT2Block(nn.Module):
    """A pre-LN GPT-2 block written with torch directly: causal SDPA over heads, GELU (tanh) MLP."""

    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.c_attn, self.attn.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(d, dim=-1)
        q, k, v = (z.view(n, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn.c_proj(y.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp.c_proj(nn.functional.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class TorchGPT2(nn.Module):
    def __init__(self, vocab, n_ctx, d, n_layer, n_head):
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.wte, self.transformer.wpe = nn.Embedding(vocab, d), nn.Embedding(n_ctx, d)
        self.transformer.h = nn.ModuleList(TorchGPT2Block(d, n_head) for _ in range(n_layer))
        self.transformer.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, tokens):
        x = self.transformer.wte(tokens) + self.transformer.wpe(torch.arange(tokens.shape[1]))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def test_gpt2_small_has_124439808_parameters_and_one_tied_weight():
    """Issue 14: GPT-2 small with tied input and output embeddings has 124,439,808 parameters."""
    spec = archdsl.load(spec_path("gpt2"))
    with torch.device("meta"):
        net = spec.build()
    assert params_of(net) == spec.summary().params == 124_439_808
    assert net.lm_head.weight is net.transformer.wte.weight
    assert list(net.lm_head.weight.shape) == [50257, 768]
    with torch.device("meta"):
        theirs = TorchGPT2(50257, 1024, 768, 12, 12)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_gpt2_sequence_length_is_symbolic_and_at_most_the_context():
    spec = archdsl.load(spec_path("gpt2"))
    assert [[str(d) for d in shape] for shape in spec.input_shapes()] == [["N", "T"]]  # the positions are computed
    assert archdsl.load(spec_path("gpt2"), T=1024).summary().params == 124_439_808
    with pytest.raises(archdsl.ArchDSLError, match="at most 1024"):
        archdsl.load(spec_path("gpt2"), T=1025).summary()


@pytest.mark.parametrize("n, t", [(2, 16), (3, 5)])
def test_gpt2_equals_a_torch_gpt2_with_the_same_weights(n, t):
    spec = archdsl.load(spec_path("gpt2"), **SMALL_GPT2)
    ours = randomize(spec.build()).eval()
    theirs = TorchGPT2(97, 16, 32, 2, 4).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    tokens = torch.randint(0, 97, (n, t), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), theirs(tokens), rtol=1e-5, atol=1e-5)


def test_gpt2_attention_is_causal():
    """Changing a later token leaves the outputs at earlier positions unchanged."""
    net = randomize(archdsl.load(spec_path("gpt2"), **SMALL_GPT2).build()).eval()
    tokens = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(3))
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 97
    with torch.no_grad():
        a, b = net(tokens), net(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.skipif(not SLOW, reason="slow on CPU; run with ARCHDSL_SLOW_TESTS=1")
def test_gpt2_equals_torch_at_full_size():
    ours = archdsl.load(spec_path("gpt2")).build().eval()
    theirs = TorchGPT2(50257, 1024, 768, 12, 12).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    tokens = torch.randint(0, 50257, (1, 32))
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), theirs(tokens), rtol=1e-4, atol=1e-4)


# --- bert ------------------------------------------------------------------------------------------------

SMALL_BERT = dict(vocab=101, max_positions=20, d=32, n_layer=2, n_head=4, d_ff=64)


class TorchBertLayer(nn.Module):
    """A post-LN BERT layer written with torch directly, with Hugging Face's BertLayer key names."""

    def __init__(self, d, h, d_ff, eps):
        super().__init__()
        self.h = h
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        for name in ("query", "key", "value"):
            setattr(self.attention.self, name, nn.Linear(d, d))
        self.attention.output = nn.Module()
        self.attention.output.dense, self.attention.output.LayerNorm = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, d_ff)
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(d_ff, d), nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        n, t, d = x.shape
        att = self.attention.self
        q, k, v = (lin(x).view(n, t, self.h, d // self.h).transpose(1, 2) for lin in (att.query, att.key, att.value))
        scores = q @ k.transpose(-1, -2) / (d // self.h) ** 0.5
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(y))
        return self.output.LayerNorm(x + self.output.dense(nn.functional.gelu(self.intermediate.dense(x))))


class TorchBert(nn.Module):
    def __init__(self, vocab, max_positions, d, n_layer, n_head, d_ff, type_vocab=2, eps=1e-12):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab, d)
        self.embeddings.position_embeddings = nn.Embedding(max_positions, d)
        self.embeddings.token_type_embeddings = nn.Embedding(type_vocab, d)
        self.embeddings.LayerNorm = nn.LayerNorm(d, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(TorchBertLayer(d, n_head, d_ff, eps) for _ in range(n_layer))
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(d, d)

    def forward(self, tokens, token_type, mask):
        e = self.embeddings
        x = e.word_embeddings(tokens) + e.position_embeddings(torch.arange(tokens.shape[1])) + \
            e.token_type_embeddings(token_type)
        x = e.LayerNorm(x)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler.dense(x[:, 0]))


def test_bert_base_has_109482240_parameters():
    """Issue 14: BERT-base, the encoder with its pooler, has 109,482,240 parameters."""
    spec = archdsl.load(spec_path("bert"))
    with torch.device("meta"):
        ours, theirs = spec.build(), TorchBert(30522, 512, 768, 12, 12, 3072)
    assert params_of(ours) == params_of(theirs) == spec.summary().params == 109_482_240
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_bert_keys_are_hugging_face_s_and_positions_are_computed():
    """Hugging Face's BertModel key `encoder.layer.N.attention.self.query.weight`; no positions input."""
    spec = archdsl.load(spec_path("bert"), **SMALL_BERT)
    keys = spec.build().state_dict()
    assert "encoder.layer.1.attention.self.query.weight" in keys and not any("self_" in k for k in keys)
    assert spec.graph.inputs["bert"] == ["tokens", "token_type", "mask"]


def test_bert_equals_a_torch_bert_with_the_same_weights():
    spec = archdsl.load(spec_path("bert"), **SMALL_BERT)
    ours = randomize(spec.build()).eval()
    theirs = TorchBert(101, 20, 32, 2, 4, 64).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    g = torch.Generator().manual_seed(4)
    tokens, token_type = torch.randint(0, 101, (3, 9), generator=g), torch.randint(0, 2, (3, 9), generator=g)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, 3:] = False
    with torch.no_grad():
        h, pooled = ours(tokens, token_type, mask)
        want_h, want_pooled = theirs(tokens, token_type, mask)
    torch.testing.assert_close(h, want_h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled, want_pooled, rtol=1e-5, atol=1e-5)
