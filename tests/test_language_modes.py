"""Train/eval branches: `a if training else b` is generated as `a if self.training else b`."""
import textwrap

import pytest
import torch

import archdsl
from archdsl.backends.torch.probes import runtime_shapes
from archdsl.cli import main
from archdsl.testing import from_text
from tests.helpers import assert_static_equals_runtime

SPEC = """\
inputs: {x: [N, 4]}
layers:
  fc: linear(4)
  aux: linear(4)
forward: |
  h = fc(x)
  y = aux(h) if training else h
  z = dropout(y, 0.5) if training else y * 0.5
  z
"""


def test_training_branch_matches_torch_in_both_modes():
    spec = from_text(SPEC, "modes.yaml", N=3)
    model = spec.build()
    x = torch.randn(3, 4)
    model.eval()
    torch.testing.assert_close(model(x), model.fc(x) * 0.5)
    model.train()
    torch.manual_seed(0)
    got = model(x)
    torch.manual_seed(0)
    torch.testing.assert_close(got, torch.nn.functional.dropout(model.aux(model.fc(x)), 0.5, training=True))
    assert "self.aux(h) if self.training else h" in spec.source
    assert_static_equals_runtime(spec, N=3)


def errors(text: str) -> archdsl.ArchDSLError:
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(textwrap.dedent(text), "bad.yaml").check()
    return info.value


@pytest.mark.parametrize("old, new, code, words", [
    ("aux(h) if training else h", "concat([h, h], dim=1) if training else h", "E009", "the two sides of `if training`"),
    ("aux(h) if training else h", "h if not training else h", "E006", "cannot be used as a condition"),
    ("aux(h) if training else h", "aux(h) if training else 1", "E006", "chooses between two tensors"),
    ("aux: linear(4)", "aux: linear(4 if training else 2)", "E006", "only known inside `forward`"),
])
def test_training_errors(old, new, code, words):
    err = errors(SPEC.replace(old, new))
    assert err.code == code and words in err.message, err.render()


# a model whose output differs by mode, inside a static condition (as specs/inception_v3.yaml's)
MODAL = """\
params: {with_aux: true}
inputs: {x: [N, 4]}
layers:
  fc: linear(4)
  aux: linear(3)
forward: |
  h = fc(x)
  ((h, aux(h)) if training else h) if with_aux else h
"""


def test_output_that_differs_by_mode_is_returned_by_mode():
    spec = from_text(MODAL, "modal.yaml", N=3)
    model, x = spec.build(), torch.randn(3, 4)
    with torch.no_grad():
        h = model.fc(x)
        got_eval = model.eval()(x)
        got_train = model.train()(x)
    torch.testing.assert_close(got_eval, h)  # the tensor alone, not a tuple
    assert isinstance(got_train, tuple) and len(got_train) == 2
    torch.testing.assert_close(got_train[0], h)
    torch.testing.assert_close(got_train[1], model.aux(h))
    assert "        if self.training:\n            return (h, self.aux(h))\n        return h\n" in spec.source
    output = spec.graph.outputs["modal"]
    assert [spec.graph.shape(t) for t in output.train] == [(3, 4), (3, 3)] and spec.graph.shape(output.eval) == (3, 4)
    assert_static_equals_runtime(spec, N=3)
    # the training-only node is probed too, in a run in training mode (an eval run never makes it)
    assert runtime_shapes(spec, dims={"N": 3})["aux"] == [(3, 3)]
    plain = from_text(MODAL, "modal.yaml", N=3, with_aux=False)
    assert isinstance(plain.build().train()(x), torch.Tensor)


def test_check_and_the_diagram_show_both_modes(tmp_path, capsys):
    path = tmp_path / "modal.yaml"
    path.write_text(MODAL)
    assert main(["check", str(path)]) == 0
    assert "output training: [N, 4], [N, 3]; eval: [N, 4]" in capsys.readouterr().out
    dot = archdsl.load(str(path)).to_dot()
    assert "<b>output</b>" in dot and "<b>output 1 (training)</b>" in dot


def test_what_one_mode_alone_needs_runs_in_that_mode_only():
    """A training-only head and an eval-only computation, written as statements of their own: each runs in
    its mode's branch (counted by forward hooks), what both need runs before."""
    text = MODAL.replace("  ((h, aux(h)) if training else h) if with_aux else h\n",
                         "  a = aux(h)\n  e = relu(h) * 2\n  (h, a) if training else e\n")
    spec = from_text(text, "modal.yaml", N=3)
    model, x = spec.build(), torch.randn(3, 4)
    calls = []
    model.aux.register_forward_hook(lambda *_: calls.append("aux"))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), torch.relu(model.fc(x)) * 2)
        assert calls == []
        h, a = model.train()(x)
    assert calls == ["aux"]
    torch.testing.assert_close(a, model.aux(h))
    assert spec.source.index("if self.training:") < spec.source.index("self.aux(h)") < \
        spec.source.index("torch.relu(h)")
    assert_static_equals_runtime(spec, N=3)


USES = """\
models:
  net:
    inputs: {x: [N, 4]}
    layers: {fc: linear(4), aux: linear(3)}
    forward: |
      h = fc(x)
      (h, aux(h)) if training else h
"""


@pytest.mark.parametrize("extra, where, words", [
    ("  outer:\n    uses: [net]\n    inputs: {x: [N, 4]}\n    forward: |\n      net(x)\n",
     "net(x)", "the model `net` returns a tuple of 2 in training and a tensor in eval"),
    ("  rnn:\n    uses: [net]\n    inputs: {xs: [N, T, 4]}\n    forward: |\n      ys, h = scan(net, xs)\n      ys\n",
     "scan(net, xs)", "the model `net` returns a tuple of 2 in training and a tensor in eval"),
    ("objectives:\n  loss:\n    inputs: {y: 'net[0]'}\n    forward: |\n      mean(y)\n",
     "net[0]", "a model's output that differs by mode"),
])
def test_an_output_that_differs_by_mode_is_read_nowhere_else(extra, where, words):
    err = errors(USES + extra)
    line = (USES + extra).splitlines()[err.span.line - 1]
    assert err.code == "E006" and words in err.message and where in line[err.span.col - 1:], err.render()
    assert "same structure in both modes" in err.hint


def test_inside_a_block_the_sides_stay_tensors():
    err = errors("""\
        inputs: {x: [N, 4]}
        blocks:
          B():
            layers: {fc: linear(4)}
            forward: |
              (x, fc(x)) if training else x
        layers: {b: B()}
        forward: |
          b(x)
        """)
    assert err.code == "E006" and "chooses between two tensors" in err.message, err.render()
    assert "only a model's output" in err.hint
