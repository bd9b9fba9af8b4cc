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
