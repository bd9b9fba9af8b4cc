"""scan, loop and decode: shape-checked bodies, costs scaled by the step count, generated for-loops."""

import pytest
import torch

import archdsl
from archdsl.dims import symbol
from tests.helpers import assert_static_equals_runtime

LOOPS = """\
name: loops
inputs: {x: [N, T, 8], h0: [N, 16], s0: [N]}
blocks:
  Cell:
    inputs: [x, h]
    layers: {ih: linear(16), hh: linear(16)}
    forward: |
      h = tanh(ih(x) + hh(h))
      h, h
  Route:
    inputs: [b, u]
    layers: {w: linear(16)}
    forward: |
      b + w(u) * b
  Step:
    inputs: [tok, h, mem]
    layers: {emb: linear(16), out: linear(5)}
    forward: |
      h = tanh(emb(reshape(tok * 1.0, [0, 1])) + h + mem)
      out(h), h
layers:
  cell: Cell
  route: Route
  step: Step
  head: linear(4)
forward: |
  ys, h = scan(cell, x, state=[h0])
  b = loop(route, 3, state=[h], consts=[h0])
  tokens, logits, hd = decode(step, s0, state=[b], consts=[h], max_len=6, eos=2)
  head(ys), h, b, tokens, logits
"""


SCAN_LINE = LOOPS.splitlines().index("  ys, h = scan(cell, x, state=[h0])") + 1   # where scan errors point


@pytest.fixture
def spec(write_spec):
    return archdsl.load(write_spec(LOOPS))


def test_loop_shapes_are_static_and_symbolic(spec):
    n, t = symbol("N"), symbol("T")
    shapes = spec.check()
    assert shapes["cell.scan.x"] == (n, 8)          # the step input drops the scanned dim
    assert spec.graph.node("cell.scan").meta.outputs == [(n, t, 16), (n, 16)]
    assert spec.graph.node("step.decode").meta.outputs == [(n, 6), (n, 6, 5), (n, 16)]
    assert shapes["head"] == (n, t, 4)


@pytest.mark.parametrize("dims", [{"N": 2, "T": 5}, {"N": 3, "T": 1}])
def test_static_equals_runtime_inside_loops(spec, dims):
    assert_static_equals_runtime(spec, **dims)


def test_costs_scale_with_the_step_count(spec):
    n, t = symbol("N"), symbol("T")
    rows = {r.name: r for r in spec.summary()}
    assert rows["cell.ih"].macs == 8 * 16 * n * t       # linear 8 -> 16, T steps
    assert rows["route.w"].macs == 3 * 16 * 16 * n      # linear 16 -> 16, 3 iterations
    assert rows["step.out"].macs == 6 * 16 * 5 * n      # linear 16 -> 5, max_len 6 steps
    model = spec.build()
    assert spec.summary().params == sum(p.numel() for p in model.parameters())  # weights shared by steps
    # each layer once: ih 8 -> 16, hh 16 -> 16, w 16 -> 16, emb 1 -> 16, out 16 -> 5, head 16 -> 4
    assert spec.summary().params == (8 * 16 + 16) + 2 * (16 * 16 + 16) + (1 * 16 + 16) + (16 * 5 + 5) + (16 * 4 + 4)


def test_generated_loops_read_like_hand_written_code(spec):
    src = spec.source
    assert "for t in range(x.shape[1]):" in src and "ys_t, h = self.cell(x[:, t], h)" in src
    assert "for _ in range(3):" in src and "b = self.route(b, h0)" in src
    assert "token = logits_t.argmax(-1)" in src


def test_decode_is_greedy_and_repeats_eos_after_it(spec):
    torch.manual_seed(1)   # with this seed, 13 of the 64 rows emit <eos> (2) after another token: the case tested
    model = spec.build().eval()
    with torch.no_grad():
        _, h, b, tokens, logits = model(torch.randn(64, 3, 8), torch.randn(64, 16), torch.zeros(64))
    assert tokens.shape == (64, 6) and logits.shape == (64, 6, 5)   # max_len=6, Step's out: linear(5)
    # LOOPS's decode written out: start from s0, state b, const h; each step feeds back the argmax token
    step, tok, hd, want, want_logits = model.step, torch.zeros(64), b, [], []
    with torch.no_grad():
        for _ in range(6):
            hd = torch.tanh(step.emb((tok * 1.0).reshape(-1, 1)) + hd + h)
            want_logits.append(step.out(hd))
            tok = want_logits[-1].argmax(-1)
            want.append(tok)
    want, want_logits = torch.stack(want, 1), torch.stack(want_logits, 1)
    ended = 0
    for row, got, ref_logits, got_logits in zip(want.tolist(), tokens.tolist(), want_logits, logits):
        stop = row.index(2) + 1 if 2 in row else 6     # up to and including the first <eos>: the greedy tokens
        assert got[:stop] == row[:stop]
        torch.testing.assert_close(got_logits[:stop], ref_logits[:stop])
        assert got[stop:] == [2] * (6 - stop)           # after it, <eos> repeated
        ended += 0 < stop - 1 < 5
    assert ended > 0, "no row ended early: the <eos> case was not exercised"


def test_carried_state_must_keep_its_shape(write_spec):
    text = LOOPS.replace("h = tanh(ih(x) + hh(h))\n      h, h", "h = tanh(ih(x) + hh(h))\n      h, concat([h, h], dim=1)")
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    err = info.value
    assert err.code == "E009" and "carried state 0 of `scan` changes shape" in err.message
    assert err.span.line == SCAN_LINE


@pytest.mark.parametrize("change, words", [
    ("scan(cell, x, state=[h0])", "`scan` is missing"),
    ("scan(head, x, state=[h0])", "must be a block"),
    ("scan(cell, x, state=[h0, h0])", "takes 2 input(s)"),
    ("scan(cell, x, state=[h0], dim=7)", "out of range"),
])
def test_loop_misuse_is_located(write_spec, change, words):
    broken = {"`scan` is missing": "scan(cell)"}.get(words, change)
    text = LOOPS.replace("scan(cell, x, state=[h0])", broken)
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    assert words in info.value.message and info.value.span.line == SCAN_LINE


BACKWARD = """\
name: backward
inputs: {x: [T, N, 3], h0: [N, 4], bias: [N, 4]}
blocks:
  Step:
    inputs: [x, h, bias]
    layers:
      ih: linear(4)
      hh: linear(4, bias=false)
    forward: |
      h = tanh(ih(x) + hh(h) + bias)
      (h, h * 2), h
  Elman:
    inputs: [x, h]
    layers: {cell: rnn_cell(4)}
    forward: |
      h = cell(x, h)
      h, h
layers:
  step: Step
  elman: Elman
forward: |
  (ys, doubled), h = scan(step, x, state=[h0], consts=[bias], dim=0, reverse=true)
  rs, hr = scan(elman, x, state=[h0], dim=0, reverse=true)
  ys, doubled, h, rs, hr
"""


@pytest.fixture
def backward(write_spec):
    return archdsl.load(write_spec(BACKWARD))


def test_reverse_scan_runs_from_the_last_step_and_stacks_in_order(backward):
    n, t = symbol("N"), symbol("T")
    assert backward.graph.node("step.scan").meta.outputs == [(t, n, 4), (t, n, 4), (n, 4)]   # symbolic T kept
    src = backward.source
    assert "for t in reversed(range(x.shape[0])):" in src and "ys = torch.stack(ys_steps[::-1], 0)" in src
    model = backward.build()
    x, h0, bias = torch.randn(5, 2, 3), torch.randn(2, 4), torch.randn(2, 4)
    ys, doubled, h, _, _ = model(x, h0, bias)
    # BACKWARD's step written out: t = T-1 down to 0, each output stored at its own step t
    step, hand, want = model.step, h0, [None] * 5
    for k in reversed(range(5)):
        hand = torch.tanh(step.ih(x[k]) + step.hh(hand) + bias)
        want[k] = hand
    torch.testing.assert_close(ys, torch.stack(want))
    torch.testing.assert_close(doubled, 2 * torch.stack(want))
    torch.testing.assert_close(h, hand)      # the final state: after step 0
    assert not torch.allclose(ys[0], ys[-1])


def test_the_diagram_says_a_scan_runs_backwards(backward):
    from archdsl.backends.graphviz.view import step_count_text

    backward.check()
    assert step_count_text(backward.graph.node("step.scan")) == "T steps over dim 0, last to first"


def test_reverse_rnn_cell_scan_equals_the_backward_direction_of_nn_rnn(backward):
    model = backward.build()
    cell = model.elman.cell
    ref = torch.nn.RNN(3, 4, bidirectional=True)   # [T, N, F]: BACKWARD scans dim 0
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0_reverse").copy_(getattr(cell, name))
    x, h0 = torch.randn(6, 3, 3), torch.randn(3, 4)
    _, _, _, rs, hr = model(x, torch.zeros(3, 4), torch.zeros(3, 4))
    out, h_n = ref(x)     # nn.RNN's own initial state is zeros: so is the scan's h0 above
    torch.testing.assert_close(rs, out[..., 4:])   # the reverse direction's half of the output
    torch.testing.assert_close(hr, h_n[1])         # h_n[1]: layer 0, reverse direction
    _, _, _, rs, hr = model(x, h0, torch.zeros(3, 4))
    _, h_n = ref(x, torch.stack([torch.zeros(3, 4), h0]))
    torch.testing.assert_close(hr, h_n[1])


@pytest.mark.parametrize("dims", [{"N": 2, "T": 4}, {"N": 1, "T": 1}])
def test_reverse_scan_static_equals_runtime(backward, dims):
    assert_static_equals_runtime(backward, **dims)


def test_reverse_must_be_a_boolean(write_spec):
    text = LOOPS.replace("scan(cell, x, state=[h0])", "scan(cell, x, state=[h0], reverse=1)")
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(text)).check()
    assert "`reverse` must be true or false, got" in info.value.message and info.value.span.line == SCAN_LINE
    text = LOOPS.replace("loop(route, 3,", "loop(route, 3, reverse=true,")
    with pytest.raises(archdsl.ArchDSLError, match="`loop` has no argument `reverse`"):
        archdsl.load(write_spec(text)).check()
