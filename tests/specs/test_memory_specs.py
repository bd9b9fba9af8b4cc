"""The memory and routing zoo: capsnet, memnn, memn2n, ntm. Paper facts (parameter counts), static shapes equal
to PyTorch's at every node (inside loops too) for random sizes, and each model's output against a direct,
hand-written computation of the paper's equations with the same weights."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import archdsl
from archdsl.dims import symbol
from tests.helpers import assert_static_equals_runtime, spec_path

N = symbol("N")
RANDOM_SIZES = settings(max_examples=3, deadline=None, database=None)


def load(name, **params):
    return archdsl.load(spec_path(name), **params)


def test_every_spec_names_its_paper():
    for name, words in (("capsnet", "Sabour"), ("memnn", "Weston"), ("memn2n", "Sukhbaatar"), ("ntm", "Graves")):
        assert words in load(name).doc.doc


# --- CapsNet ------------------------------------------------------------------------------------------------

def test_capsnet_has_the_papers_parameter_counts():
    """Sabour et al. 2017, Section 4 and Figures 1-2; the paper rounds the totals to 8.2M and 6.8M (Section 5)."""
    with_decoder, without = load("capsnet"), load("capsnet", decoder=False)
    conv1, primary = 9 * 9 * 1 * 256 + 256, 9 * 9 * 256 * 256 + 256   # 9x9 kernels, 256 channels, with biases
    digit = 1152 * 10 * 16 * 8                                        # W_ij: 1152 primary to 10 digit capsules
    decoder = (16 * 10 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 784 + 784)  # FC 512, 1024, 784
    assert without.summary().params == conv1 + primary + digit == 6_804_224
    assert with_decoder.summary().params == conv1 + primary + digit + decoder == 8_215_568
    assert sum(p.numel() for p in with_decoder.build().parameters()) == 8_215_568
    shapes = {k: tuple(v.shape) for k, v in without.build().state_dict().items()}
    assert shapes == {"conv1.weight": (256, 1, 9, 9), "conv1.bias": (256,), "primary.weight": (256, 256, 9, 9),
                      "primary.bias": (256,), "digit.weight": (1152, 10, 16, 8)}


def test_capsnet_routes_by_agreement_in_a_rolled_loop():
    spec = load("capsnet")
    shapes = spec.check()
    # Sabour et al. 2017, Section 4: 32 * 6 * 6 = 1152 primary capsules of 8D, 10 digit capsules of 16D,
    # a 512-1024-784 decoder, 3 routing iterations (Procedure 1)
    assert shapes["squash"] == (N, 1152, 8) and shapes["digit"] == (N, 1152, 10, 16)
    assert spec.graph.node("routing.loop").meta.outputs == [(N, 1152, 10), (N, 10, 16)]
    assert shapes["vector_norm"] == (N, 10) and shapes["reconstruct.5"] == (N, 784)
    assert "for _ in range(3):" in spec.source and "b, v = self.routing(b, v, u_hat)" in spec.source
    rows = {r.name: r for r in spec.summary()}
    assert rows["routing.einsum"].macs == 3 * 1152 * 10 * 16 * N     # costs scale with the iterations
    assert "for _ in range(5):" in load("capsnet", routing_iters=5).source


@RANDOM_SIZES
@given(n=st.integers(1, 3))
def test_capsnet_static_shapes_are_runtime_shapes(n):
    assert_static_equals_runtime(load("capsnet"), N=n)


def _squash(s):
    n = s.norm(dim=-1, keepdim=True)
    return n ** 2 / (1 + n ** 2) * s / n


def test_capsnet_computes_procedure_1_of_the_paper():
    torch.manual_seed(0)
    spec = load("capsnet", conv_channels=16, primary_caps=4, weight_std=0.1)
    model = spec.build().eval()
    x, y = torch.rand(2, 1, 28, 28), F.one_hot(torch.tensor([3, 7]), 10).float()
    u = model.primary(F.relu(model.conv1(x)))                                 # [2, 4 * 8, 6, 6]
    u = _squash(u.reshape(2, 4, 8, 6, 6).permute(0, 1, 3, 4, 2).reshape(2, 144, 8))
    u_hat = (model.digit.weight[None] @ u[:, :, None, :, None]).squeeze(-1)   # W_ij u_i: [2, 144, 10, 16]
    b = torch.zeros(2, 144, 10)
    for _ in range(3):
        c = torch.softmax(b, dim=2)
        v = _squash((c[..., None] * u_hat).sum(1))
        b = b + (u_hat * v[:, None]).sum(-1)
    lengths, recon = model(x, y)
    torch.testing.assert_close(lengths, v.norm(dim=-1))
    torch.testing.assert_close(recon, model.reconstruct((v * y[..., None]).flatten(1)))


# --- MemN2N ---------------------------------------------------------------------------------------------------

MEMN2N_VARIANTS = [{}, {"tying": "layerwise"}, {"position_encoding": False, "temporal_encoding": False}]


@pytest.mark.parametrize("params", MEMN2N_VARIANTS, ids=["adjacent", "layerwise", "bag-of-words"])
@RANDOM_SIZES
@given(n=st.integers(1, 4), words=st.integers(1, 7))
def test_memn2n_static_shapes_are_runtime_shapes(params, n, words):
    assert_static_equals_runtime(load("memn2n", memory_size=6, **params), N=n, J=words)


def test_memn2n_parameters_follow_the_tying():
    V, d, S, K = 40, 20, 50, 3   # specs/memn2n.yaml's defaults: vocab, dim, memory_size, hops
    assert load("memn2n").summary().params == (K + 1) * V * d + S * (K + 1) * d      # E_0..E_K, T_A/T_C per hop
    assert load("memn2n", tying="layerwise").summary().params == 2 * V * d + V * d + d * d + V * d + S * 2 * d
    assert load("memn2n", hops=5, temporal_encoding=False).summary().params == 6 * V * d
    assert "for _ in range(5):" in load("memn2n", hops=5).source


def _pe(J, d):
    return torch.tensor([[(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)] for j in range(1, J + 1)])


def _story(n=2, S=6, J=4, V=40):
    g = torch.Generator().manual_seed(1)
    return (F.one_hot(torch.randint(0, V, (n, S, J), generator=g), V).float(),
            F.one_hot(torch.randint(0, V, (n, J), generator=g), V).float())


def test_memn2n_adjacent_tying_matches_the_paper():
    """A^(k+1) = C^k, B = A^1, W^T = C^K, with position and temporal encoding (Sukhbaatar et al. 2015, sec. 2.2, 4.1)."""
    torch.manual_seed(0)
    model = load("memn2n", memory_size=6).build().eval()
    story, query = _story()
    E = model.embed.weight.reshape(4, 20, 40)                  # E_0..E_3, each d x V
    T = model.temporal.value                                   # [S, 4, d]
    pe = _pe(4, 20)

    def embed(k, words):                                       # sum_j l_j * (E_k x_j)
        return ((words @ E[k].T) * pe).sum(-2)

    u = embed(0, query)                                        # B = A^1 = E_0
    for k in range(1, 4):
        m = embed(k - 1, story) + T[:, k - 1]                  # A^k = E_(k-1), T_A^k
        c = embed(k, story) + T[:, k]                          # C^k = E_k, T_C^k
        p = torch.softmax((m * u[:, None]).sum(-1), dim=-1)
        u = u + (p[..., None] * c).sum(1)
    torch.testing.assert_close(model(story, query), u @ E[3])   # W = (C^K)^T


def test_memn2n_layerwise_tying_matches_the_paper():
    """A^k = A, C^k = C, u^(k+1) = H u^k + o^k, bag-of-words sentences (Sukhbaatar et al. 2015, sec. 2.2)."""
    torch.manual_seed(0)
    model = load("memn2n", memory_size=6, tying="layerwise", position_encoding=False, temporal_encoding=False).build()
    story, query = _story()
    A, C = model.embed.weight.reshape(2, 20, 40)
    m, c = (story @ A.T).sum(2), (story @ C.T).sum(2)
    u = (query @ model.embed_query.weight.T).sum(1)
    for _ in range(3):
        p = torch.softmax((m * u[:, None]).sum(-1), dim=-1)
        u = u @ model.hop.H.weight.T + (p[..., None] * c).sum(1)
    torch.testing.assert_close(model(story, query), u @ model.answer.weight.T)


# --- MemNN ----------------------------------------------------------------------------------------------------

VOCAB = ["joe", "fred", "went", "travelled", "picked", "left", "office", "bathroom", "kitchen", "milk", "where", "is"]
FACTS = ["joe went kitchen", "fred went kitchen", "joe picked milk", "joe travelled office", "joe left milk",
         "joe went bathroom"]                                  # the chapter's story, stop words removed


def bag(sentence: str) -> torch.Tensor:
    """I: a binary bag-of-words vector."""
    return torch.tensor([float(w in sentence.split()) for w in VOCAB])


def test_memnn_writes_slot_by_slot_and_picks_two_supporting_memories():
    torch.manual_seed(0)
    model = load("memnn").build().eval()
    facts = torch.stack([bag(f) for f in FACTS])[None]                       # [1, 6, 12]
    question = bag("where is milk")[None]
    scores, answer, chosen, addresses = model(facts, question)
    assert torch.equal(addresses[0], torch.eye(6))            # G: fact t went to slot t
    # O: o_1 = argmax_i s_O(q, m_i), o_2 = argmax_i s_O([q, m_o1], m_i), from the memory G wrote
    keys = facts @ model.candidate.weight.T
    z = question @ model.question_o.weight.T
    picks = []
    for _ in range(2):
        o = (keys[0] @ z[0]).argmax()
        picks.append(o.item())
        z = z + facts[:, o] @ model.pick.support.weight.T
    assert torch.equal(chosen[0], F.one_hot(torch.tensor(picks), 6).sum(0).float())
    # R: s_R([q, m_o1, m_o2], w) for every word, the answer is the best word
    support = facts[0, picks].sum(0, keepdim=True)
    want = (question @ model.question_r.weight.T + support @ model.support_r.weight.T) @ model.words.weight.T
    torch.testing.assert_close(scores, want)
    assert answer.tolist() == [want.argmax().item()] and VOCAB[answer.item()] in VOCAB


@RANDOM_SIZES
@given(n=st.integers(1, 4), slots=st.integers(1, 8))
def test_memnn_static_shapes_are_runtime_shapes(n, slots):
    assert_static_equals_runtime(load("memnn"), N=n, S=slots)


# --- NTM ------------------------------------------------------------------------------------------------------

@RANDOM_SIZES
@given(n=st.integers(1, 3), steps=st.integers(1, 5))
def test_ntm_static_shapes_are_runtime_shapes(n, steps):
    assert_static_equals_runtime(load("ntm", memory_n=16, memory_m=6, controller_size=12), N=n, T=steps)


def test_ntm_scans_the_sequence_with_the_default_memory():
    spec = load("ntm")
    shapes = spec.check()
    T = symbol("T")
    assert spec.graph.node("step.scan").meta.outputs[0] == (N, T, 8)   # output_size 8: the copy task's 8 bits
    assert spec.graph.node("step.scan").meta.outputs[3] == (N, 128, 20)   # memory_n x memory_m
    assert shapes["step.read_head.circular_conv"] == (N, 128)
    assert "for t in range(x.shape[1]):" in spec.source


def test_ntm_follows_the_equations_of_the_paper():
    torch.manual_seed(0)
    model = load("ntm", memory_n=10, memory_m=6, controller_size=12).build().eval()
    x = torch.rand(2, 4, 9)
    step = model.step
    h, c = model.h0.value.expand(2, -1), model.c0.value.expand(2, -1)
    memory = model.memory0.value.expand(2, -1, -1)
    w_read = w_write = torch.softmax(model.w0.value, -1).expand(2, -1)
    r, ys = model.read0.value.expand(2, -1), []

    def address(head, w_prev):
        k, beta = torch.tanh(head.key(h)), F.softplus(head.strength(h))
        g, s, gamma = torch.sigmoid(head.gate(h)), torch.softmax(head.shift(h), -1), 1 + F.softplus(head.focus(h))
        cos = (memory @ k[..., None]).squeeze(-1) / (memory.norm(dim=-1) * k.norm(dim=-1, keepdim=True))
        w = g * torch.softmax(beta * cos, -1) + (1 - g) * w_prev              # eqs. 5-7
        i = torch.arange(10)
        w = sum(s[:, shift + 1, None] * w[:, (i - shift) % 10] for shift in (-1, 0, 1))   # eq. 8
        return w ** gamma / (w ** gamma).sum(-1, keepdim=True)                 # eq. 9

    for t in range(4):
        cell = step.controller
        z = torch.cat([x[:, t], r, h], 1)
        c = torch.sigmoid(cell.forget_gate(z)) * c + torch.sigmoid(cell.input_gate(z)) * torch.tanh(cell.cell_input(z))
        h = torch.sigmoid(cell.output_gate(z)) * torch.tanh(c)
        w_read = address(step.read_head, w_read)
        r = (w_read[..., None] * memory).sum(1)                               # eq. 2
        w_write = address(step.write_head, w_write)
        e, a = torch.sigmoid(step.erase(h)), torch.tanh(step.add(h))
        memory = memory * (1 - w_write[..., None] * e[:, None]) + w_write[..., None] * a[:, None]   # eqs. 3, 4
        ys.append(step.out(torch.cat([h, r], 1)))
    torch.testing.assert_close(model(x), torch.stack(ys, 1), rtol=1e-4, atol=1e-5)
