"""Recurrent and attention ops in specs: PyTorch's output structure, native lowering, parameter counts, typed
(integer) inputs, several per-step outputs of scan/decode, and MACs per time step."""
import textwrap

import pytest
import torch

import archdsl
from archdsl.dims import symbol
from archdsl.backends.torch.probes import example_inputs
from tests.helpers import assert_static_equals_runtime

N, T = symbol("N"), symbol("T")


def load(write_spec, text: str, **params):
    return archdsl.load(write_spec(textwrap.dedent(text)), **params)


LSTM_STATE = """\
name: lstm_state
inputs: {x: [N, T, 5], h0: [4, N, 7], c0: [4, N, 7]}
layers:
  lstm1: lstm(7, num_layers=2, bidirectional=true)
forward: |
  ys, (h, c) = lstm1(x, h0, c0)
  ys, h, c
"""


def test_lstm_returns_what_nn_lstm_returns(write_spec):
    spec = load(write_spec, LSTM_STATE)
    node = spec.graph.node("lstm1")
    # nn.LSTM's documented outputs: [N, T, 2 * hidden] and [2 directions * 2 layers, N, hidden] twice
    assert node.meta.outputs == [(N, T, 2 * 7), (2 * 2, N, 7), (2 * 2, N, 7)]
    assert "ys, (h, c) = self.lstm1(x, (h0, c0))" in spec.source
    assert "nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)" in spec.source
    model = spec.build().eval()
    x, h0, c0 = torch.randn(3, 4, 5), torch.randn(4, 3, 7), torch.randn(4, 3, 7)
    ys, h, c = model(x, h0, c0)
    ref = torch.nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)
    ref.load_state_dict(model.lstm1.state_dict())
    want, (wh, wc) = ref(x, (h0, c0))
    torch.testing.assert_close((ys, h, c), (want, wh, wc))
    assert_static_equals_runtime(spec, N=3, T=4)


@pytest.mark.parametrize("layer, torch_module", [
    ("rnn(9, num_layers=3, nonlinearity='relu', bias=false)",
     torch.nn.RNN(6, 9, num_layers=3, nonlinearity="relu", bias=False)),
    ("gru(9, num_layers=2, bidirectional=true)", torch.nn.GRU(6, 9, num_layers=2, bidirectional=True)),
    ("lstm(9, num_layers=2, bidirectional=true, proj_size=4)",
     torch.nn.LSTM(6, 9, num_layers=2, bidirectional=True, proj_size=4)),
    ("rnn_cell(9)", torch.nn.RNNCell(6, 9)), ("gru_cell(9, bias=false)", torch.nn.GRUCell(6, 9, bias=False)),
    ("lstm_cell(9)", torch.nn.LSTMCell(6, 9)), ("embedding(50, 6)", torch.nn.Embedding(50, 6)),
])
def test_parameter_counts_equal_torch(write_spec, layer, torch_module):
    x = "{shape: [N, T], dtype: int64, high: 50}" if layer.startswith("embedding") else \
        ("[N, 6]" if "cell" in layer else "[N, T, 6]")
    spec = load(write_spec, f"""\
        inputs: {{x: {x}}}
        layers: {{r: "{layer}"}}
        forward: |
          r(x)
        """)
    torch_count = sum(p.numel() for p in torch_module.parameters())
    assert spec.summary().params == torch_count == sum(p.numel() for p in spec.build().parameters())
    assert type(spec.build().r) is type(torch_module)  # lowered to the native module: same state_dict keys
    assert list(spec.build().r.state_dict()) == list(torch_module.state_dict())


def test_state_of_the_wrong_shape_is_located(write_spec):
    text = LSTM_STATE.replace("h0: [4, N, 7]", "h0: [2, N, 7]")
    with pytest.raises(archdsl.ArchDSLError) as info:
        load(write_spec, text).check()
    assert info.value.code == "E009" and "initial hidden state h0 must be [4, N, 7]" in info.value.message
    assert info.value.span.line == 6   # LSTM_STATE's line 6: the call `lstm1(x, h0, c0)`


def test_optional_state_inputs_have_their_counts(write_spec):
    text = LSTM_STATE.replace("lstm1(x, h0, c0)", "lstm1(x, h0)")
    with pytest.raises(archdsl.ArchDSLError, match=r"`lstm` takes 1 or 3 input tensor\(s\), got 2"):
        load(write_spec, text).check()


def test_multi_output_layers_cannot_be_list_elements(write_spec):
    with pytest.raises(archdsl.ArchDSLError, match="cannot be an element of a layer list") as info:
        load(write_spec, """\
            inputs: {x: [N, T, 4]}
            layers:
              stack: [lstm(8), lstm(8)]
            forward: |
              stack(x)
            """).check()
    assert info.value.span.line == 3   # `stack: [lstm(8), lstm(8)]`


def test_typed_inputs_give_token_ids_in_range(write_spec):
    spec = load(write_spec, """\
        params: {vocab: 7}
        inputs:
          tokens: {shape: [N, T], dtype: int64, high: vocab}
          lengths: {shape: [N], dtype: int64, low: 1, high: T + 1}
          x: [N, 3]
        layers: {emb: "embedding(vocab, 4)"}
        forward: |
          emb(tokens), lengths, x
        """)
    assert spec.graph.node("tokens").dtype == "int64" and spec.graph.node("x").dtype == "float32"
    tokens, lengths, x = example_inputs(spec, dims={"N": 50, "T": 6})
    assert tokens.dtype == torch.int64 and 0 <= tokens.min() and tokens.max() < 7   # high: vocab (7)
    assert lengths.min() >= 1 and lengths.max() <= 6 and x.dtype == torch.float32  # low 1, high T + 1 = 7
    assert_static_equals_runtime(spec, N=2, T=3)


@pytest.mark.parametrize("inputs, words", [
    ("{x: {shape: [N], dtype: int8}}", "dtype of input `x` must be one of"),
    ("{x: {shape: [N], high: 3}}", "`high` bounds the values of integer inputs"),
    ("{x: {dtype: int64}}", "needs a `shape:`"),
    ("{x: {shape: [N], dtype: int64, high: 2.5}}", "`high` of the input `x` must be an integer"),
])
def test_typed_input_mistakes(write_spec, inputs, words):
    with pytest.raises(archdsl.ArchDSLError, match=words):
        load(write_spec, f"inputs: {inputs}\nforward: |\n  x\n").check()


STEPS = """\
name: steps
params: {vocab: 11}
inputs:
  x: {shape: [N, T], dtype: int64, high: vocab}
  memory: [N, S, 16]
blocks:
  Step:
    inputs: [token, h, c, memory]
    layers:
      emb: embedding(vocab, 8)
      cell: lstm_cell(16)
      out: linear(vocab)
    forward: |
      h, c = cell(emb(token), h, c)
      a = softmax(dot_score(h, memory), dim=-1)
      (out(h + attend(a, memory)), a), h, c
layers:
  step: Step
forward: |
  h0 = batch_full(memory, [16])
  (logits, weights), h, c = scan(step, x, state=[h0, h0], consts=[memory])
  start = batch_full(memory, [], value=1, dtype='int64')
  tokens, (glogits, gweights), gh, gc = decode(step, start, state=[h, c], consts=[memory], max_len=5, eos=2)
  logits, weights, tokens, glogits, gweights
"""


def test_scan_and_decode_stack_several_step_outputs(write_spec):
    spec = load(write_spec, STEPS)
    s = symbol("S")
    # per step: logits over vocab 11, attention over S, and the lstm_cell(16) state h, c
    assert spec.graph.node("step.scan").meta.outputs == [(N, T, 11), (N, T, s), (N, 16), (N, 16)]
    assert spec.graph.node("step.decode").meta.outputs == [(N, 5), (N, 5, 11), (N, 5, s), (N, 16), (N, 16)]
    src = spec.source
    assert "(logits_t, weights_t), h, c = self.step(x[:, t], h, c, memory)" in src
    assert "token = glogits_t.argmax(-1)" in src
    for dims in ({"N": 2, "T": 3, "S": 4}, {"N": 1, "T": 1, "S": 1}):
        assert_static_equals_runtime(spec, **dims)
    logits, weights, tokens, *_ = spec.build().eval()(torch.randint(0, 11, (2, 3)), torch.randn(2, 4, 16))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))


def test_summary_reports_macs_per_time_step(write_spec):
    spec = load(write_spec, STEPS)
    summary = spec.summary()
    s = symbol("S")
    (scan, decode) = summary.loops
    # one step: lstm_cell 4*16*(8+16), dot score and attend 16*S each, out 16*11, per sequence in the batch
    per_step = N * (4 * 16 * 24 + 2 * 16 * s + 16 * 11)
    assert (scan.name, scan.kind, scan.steps) == ("step.scan", "scan", T)
    assert scan.macs_per_step == per_step.expand() and decode.macs_per_step == per_step.expand()
    assert summary.macs_per("T") == per_step.expand()
    # 10 scan steps (T) and 5 decode steps (max_len=5), each the step above at N = 1, S = 4
    assert summary.macs_at(N=1, T=10, S=4) == (10 + 5) * (4 * 16 * 24 + 2 * 16 * 4 + 16 * 11)
    from archdsl.reporting.summary import summary_text

    assert "scan `step.scan`: T steps x" in summary_text(summary, "steps")


def test_masked_softmax_ignores_padding(write_spec):
    spec = load(write_spec, """\
        inputs:
          q: [N, 4]
          keys: [N, S, 4]
          src: {shape: [N, S], dtype: int64, high: 3}
        layers: {score: general_score}
        forward: |
          a = masked_softmax(score(q, keys), token_mask(src, pad=0))
          a, attend(a, keys)
        """)
    model = spec.build()
    q, keys = torch.randn(2, 4), torch.randn(2, 5, 4)
    src = torch.tensor([[3, 4, 5, 0, 0], [3, 0, 0, 0, 0]])
    a, ctx = model(q, keys, src)
    assert (a[src == 0] == 0).all() and torch.allclose(a.sum(-1), torch.ones(2))
    scores = keys @ (model.score.weight @ q.unsqueeze(-1))  # h_t^T W_a h_s, W_a applied to the query
    want = torch.softmax(scores.squeeze(-1).masked_fill(src == 0, float("-inf")), -1)
    torch.testing.assert_close(a, want)
    torch.testing.assert_close(ctx, (want.unsqueeze(-1) * keys).sum(1))


def test_scores_follow_their_formulas(write_spec):
    spec = load(write_spec, """\
        inputs: {q: [N, 3], keys: [N, S, 5]}
        layers: {concat: concat_score(6), additive: additive_score(6), combine: attentional_state(4)}
        forward: |
          concat(q, keys), additive(q, keys), combine(q, q)
        """)
    model = spec.build()
    q, keys = torch.randn(2, 3), torch.randn(2, 7, 5)
    c, a, h = model(q, keys)
    w1, v1 = model.concat[0].weight, model.concat[2].weight
    pairs = torch.cat([q.unsqueeze(1).expand(-1, 7, -1), keys], -1)
    torch.testing.assert_close(c, (torch.tanh(pairs @ w1.T) @ v1.T).squeeze(-1))   # v^T tanh(W [h_t; h_s])
    m = model.additive
    hidden = torch.tanh(q.unsqueeze(1) @ m.query.weight.T + keys @ m.key.weight.T + m.key.bias)
    torch.testing.assert_close(a, (hidden @ m.v.weight.T).squeeze(-1))            # v^T tanh(W h_t + U h_s + b)
    torch.testing.assert_close(h, torch.tanh(torch.cat([q, q], -1) @ model.combine.weight.T))
    assert list(model.state_dict()) == ["concat.0.weight", "concat.2.weight", "additive.query.weight",
                                        "additive.key.weight", "additive.key.bias", "additive.v.weight",
                                        "combine.weight"]
    assert_static_equals_runtime(spec, N=2, S=3)


def test_matmul_operator(write_spec):
    spec = load(write_spec, """\
        inputs: {a: [N, 3, 4], b: [4, 5]}
        forward: |
          (a @ b) >> relu
        """)
    assert spec.check()["matmul"] == (N, 3, 5)
    assert spec.summary().macs == 3 * 4 * 5 * N   # [3, 4] @ [4, 5]: 4 multiply-adds for each of 3 * 5 outputs
    assert_static_equals_runtime(spec, N=2)


ERRORS = [
    ("lstm", dict(hidden_size=4), [(2, 3)], None),  # unbatched [T, F] is fine
    ("lstm", dict(hidden_size=4), [(2, 3, 4, 5)], r"rank-2 or 3 sequence, got rank 4"),
    ("lstm", dict(hidden_size=4, proj_size=4), [(2, 3, 4)], r"proj_size=4 must be smaller"),
    ("gru", dict(hidden_size=4, batch_first=False), [(5, 2, 3), (1, 5, 4)], r"h0 must be \[1, 2, 4\]"),
    ("lstm_cell", dict(hidden_size=4), [(2, 3), (2, 4), (2, 5)], r"cell state c must be \[2, 4\]"),
    ("dot_score", {}, [(2, 4), (2, 5, 3)], r"one size, got 4 and 3"),
    ("general_score", {}, [(2, 4), (3, 5, 3)], r"different batch sizes"),
    ("attend", {}, [(2, 5), (2, 6, 3)], r"weights \[2, 5\] do not fit values \[2, 6, 3\]"),
    ("masked_softmax", {}, [(2, 3, 5), (2, 3)], r"mask \[2, 3\] fits neither"),
    ("matmul", {}, [(2, 3), (4, 5)], r"3 columns vs 4 rows"),
    ("bmm", {}, [(2, 3, 4), (3, 4, 5)], r"cannot multiply"),
    ("last_hidden", dict(bidirectional=True), [(3, 2, 4)], r"even first dim"),
    ("embedding", dict(num_embeddings=5, embedding_dim=2, padding_idx=5), [(2,)], r"padding_idx=5"),
]


@pytest.mark.parametrize("name, kw, ins, match", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_shape_rules_explain_misuse(name, kw, ins, match):
    from archdsl.errors import ShapeRuleError, Span
    from archdsl.ops import REGISTRY, bind

    op = REGISTRY.get(name)
    a = bind(op, [], {k: (v, Span("t", 1, 1)) for k, v in kw.items()}, Span("t", 1, 1))
    if match is None:
        op.shape(a, ins)
        return
    with pytest.raises(ShapeRuleError, match=match):
        op.shape(a, ins)


# --- packed sequences: `lengths=` --------------------------------------------------------------------------------

PACKED = """\
name: packed
inputs:
  x: {{shape: {x}}}
  lengths: {{shape: [N], dtype: int64, low: 1, high: T + 1}}
  h0: {{shape: [{states}, N, {out}]}}
  c0: {{shape: [{states}, N, 7]}}
layers:
  r: "{layer}"
forward: |
  {call}
"""
PACKED_CASES = {   # layer, torch module of the same configuration (input size 5: PACKED's x)
    "lstm, 2 layers, bidirectional, h0 and c0": (
        "lstm(7, num_layers=2, bidirectional=true)",
        lambda: torch.nn.LSTM(5, 7, 2, batch_first=True, bidirectional=True)),
    "lstm with projections": ("lstm(7, proj_size=3)", lambda: torch.nn.LSTM(5, 7, batch_first=True, proj_size=3)),
    "gru, 2 layers, bidirectional": ("gru(7, num_layers=2, bidirectional=true)",
                                     lambda: torch.nn.GRU(5, 7, 2, batch_first=True, bidirectional=True)),
    "rnn relu, [T, N, F]": ("rnn(7, nonlinearity='relu', batch_first=false)",
                            lambda: torch.nn.RNN(5, 7, nonlinearity="relu")),
}


def packed_spec(write_spec, case: str):
    layer, make_ref = PACKED_CASES[case]
    ref = make_ref()
    lstm = isinstance(ref, torch.nn.LSTM)
    state = "(h, c)" if lstm else "h"
    call = f"ys, {state} = r(x, h0{', c0' if lstm else ''}, lengths=lengths)\n  ys, {'h, c' if lstm else 'h'}"
    spec = archdsl.load(write_spec(PACKED.format(
        x="[N, T, 5]" if ref.batch_first else "[T, N, 5]", states=ref.num_layers * (1 + ref.bidirectional),
        out=ref.proj_size or 7, layer=layer, call=call)))
    return spec, ref


def by_hand(ref, x, lengths, state, batch_first):
    """torch's packed-sequence recipe, written out: pack, run, pad back to x's length."""
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, state = ref(packed, state)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                    total_length=x.shape[1 if batch_first else 0])
    return out, state


@pytest.mark.parametrize("case", PACKED_CASES)
def test_packed_call_equals_torch_pack_padded_sequence(write_spec, case):
    spec, ref = packed_spec(write_spec, case)
    model = spec.build().eval()
    batch_first = ref.batch_first
    ref.load_state_dict(model.r.state_dict())
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5) if batch_first else torch.randn(6, 4, 5)
    lengths = torch.tensor([3, 6, 1, 4])     # unsorted, one full, one of a single step
    d_l = ref.num_layers * (2 if ref.bidirectional else 1)
    h0 = torch.randn(d_l, 4, ref.proj_size or 7)
    c0 = torch.randn(d_l, 4, 7)
    lstm = isinstance(ref, torch.nn.LSTM)
    got = model(x, lengths, h0, c0)
    want_out, want_state = by_hand(ref, x, lengths, (h0, c0) if lstm else h0, batch_first)
    want = (want_out, *want_state) if lstm else (want_out, want_state)
    torch.testing.assert_close(got, want)
    assert "run_packed(self.r, x, lengths" in spec.source
    assert_static_equals_runtime(spec, N=3, T=5)


@pytest.mark.parametrize("case", ["lstm, 2 layers, bidirectional, h0 and c0", "gru, 2 layers, bidirectional"])
def test_padding_does_not_reach_valid_steps_or_final_states(write_spec, case):
    model = packed_spec(write_spec, case)[0].build().eval()
    lengths = torch.tensor([2, 5, 3])
    x, h0, c0 = torch.randn(3, 5, 5), torch.randn(4, 3, 7), torch.randn(4, 3, 7)
    valid = torch.arange(5) < lengths[:, None]            # [N, T]: the steps before each length
    noisy = torch.where(valid[..., None], x, 100 * torch.randn(3, 5, 5))
    ys, *states = model(x, lengths, h0, c0)
    ys2, *states2 = model(noisy, lengths, h0, c0)
    torch.testing.assert_close(ys[valid], ys2[valid])
    torch.testing.assert_close(states, states2)
    assert (ys[~valid] == 0).all()                        # zero past each length
    # each sequence alone, cut at its length: the packed batch's final states are its own last step's
    for i, n in enumerate(lengths.tolist()):
        single = model(x[i:i + 1, :n], torch.tensor([n]), h0[:, i:i + 1], c0[:, i:i + 1])
        torch.testing.assert_close(single[0][0], ys[i, :n])
        for got, want in zip(single[1:], states):
            torch.testing.assert_close(got[:, 0], want[:, i])
    # the same layer without packing: the padding reaches the final hidden state (what lengths= is for)
    h_plain, h_noisy = (model.r(inputs)[1] for inputs in (x, noisy))
    h_plain, h_noisy = (h[0] if isinstance(h, tuple) else h for h in (h_plain, h_noisy))
    assert not torch.allclose(h_plain, h_noisy)


def test_lengths_errors_are_located(write_spec):
    text = PACKED.format(x="[N, T, 5]", states=1, out=4, layer="gru(4)", call="{call}")

    def error(call, **replace):
        source = text.replace("{call}", call)
        for old, new in replace.items():
            source = source.replace(old, new)
        with pytest.raises(archdsl.ArchDSLError) as info:
            archdsl.load(write_spec(source)).check()
        assert info.value.span.line == 10    # PACKED's line 10: the forward's call
        return info.value

    assert "`gru` lengths must be [N] (one per sequence), got [N, T]" in error(
        "r(x, lengths=lengths)", **{"lengths: {shape: [N],": "lengths: {shape: [N, T],"}).message
    err = error("r(x, lengths=lengths)", **{", dtype: int64, low: 1, high: T + 1": ""})
    assert "takes integer lengths (lengths=), got float32" in err.message and err.code == "E006"
    assert "needs a batch of sequences, got the single sequence [T, 5]" in error(
        "r(x, lengths=lengths)", **{"x: {shape: [N, T, 5]}": "x: {shape: [T, 5]}"}).message
    err = error("r(x, length=lengths)")
    assert "a `gru` layer call has no keyword `length`" in err.message and "`lengths=`" in err.hint
    assert "`lengths=` must be a tensor, got the number 3" in error("r(x, lengths=3)").message


def test_only_layers_of_sequence_ops_take_lengths(write_spec):
    with pytest.raises(archdsl.ArchDSLError, match="keyword arguments are only for op parameters"):
        load(write_spec, """\
            inputs: {x: [N, 4], n: {shape: [N], dtype: int64}}
            layers: {fc: linear(3)}
            forward: |
              fc(x, lengths=n)
            """).check()


def test_run_packed_is_generated_only_where_a_call_packs(write_spec):
    spec = load(write_spec, LSTM_STATE)
    assert "def run_packed" not in spec.source and "ys, (h, c) = self.lstm1(x, (h0, c0))" in spec.source


def test_lstm_classifier_reads_padded_sentences_up_to_their_lengths():
    from tests.helpers import spec_path

    spec = archdsl.load(spec_path("lstm_classifier"), vocab=50, embed=16, hidden=32, layers=2, bidirectional=True)
    model = spec.build().eval()
    lengths = torch.tensor([4, 7, 2])
    valid = torch.arange(7) < lengths[:, None]
    tokens = torch.randint(1, 50, (3, 7)) * valid                   # padding id 0 after each sentence
    # the spec's layers written out in torch, each sentence packed to its length
    embedded = torch.nn.functional.embedding(tokens, model.embed.weight, padding_idx=0)
    packed = torch.nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    _, (h, _) = model.lstm(packed)
    want = torch.softmax(model.fc(torch.cat([h[-2], h[-1]], -1)), -1)   # top layer, both directions
    torch.testing.assert_close(model.classify_padded(tokens, lengths), want)
    other_padding = torch.where(valid, tokens, torch.randint(1, 50, (3, 7)))
    torch.testing.assert_close(model.classify_padded(other_padding, lengths), want)
    assert not torch.allclose(model(tokens), want)    # forward reads the padding steps too
    assert_static_equals_runtime(spec, N=2, T=5)
