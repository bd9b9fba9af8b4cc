"""Layer lists and maps: indexing, slicing, several inputs threaded through a list, named layers; compared with
hand-written torch modules (state_dict keys, outputs)."""
import textwrap

import pytest
import torch
from torch import nn

import archdsl
from archdsl.testing import from_text
from tests.helpers import assert_static_equals_runtime

ENCODER = """\
params: {d: 8, num_layers: 3}
inputs: {x: [N, T, d], m: [N, T, d]}
blocks:
  EncoderLayer(d):
    inputs: [x, m]
    layers:
      linear1: linear(2 * d)
      linear2: linear(d)
      norm: layernorm()
    forward: |
      norm(x + linear2(relu(linear1(x))) * m)
layers:
  layers: "[EncoderLayer(d) for _ in range(num_layers)]"
forward: |
  FORWARD
"""


class EncoderLayer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear1, self.linear2, self.norm = nn.Linear(d, 2 * d), nn.Linear(2 * d, d), nn.LayerNorm(d)

    def forward(self, x, m):
        return self.norm(x + self.linear2(torch.relu(self.linear1(x))) * m)


class Encoder(nn.Module):
    """As nn.TransformerEncoder: a ModuleList, `for layer in self.layers: x = layer(x, mask)`."""

    def __init__(self, d, n):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d) for _ in range(n))

    def forward(self, x, m, layers=None):
        for layer in layers if layers is not None else self.layers:
            x = layer(x, m)
        return x


def encoder(forward: str, **params):
    return from_text(ENCODER.replace("FORWARD", forward), "enc.yaml", **params)


def reference(spec):
    model = spec.build()
    ref = Encoder(8, spec.graph.roots["enc"].children["layers"].children.__len__())
    ref.load_state_dict(model.state_dict())
    return model, ref


@pytest.mark.parametrize("forward, layers", [
    ("layers(x, m)", lambda ls: ls),
    ("y = layers[0](x, m); layers[1:](y, m)", lambda ls: ls),
    ("y = layers[:-1](x, m); layers[-1](y, m)", lambda ls: ls),
    ("y = layers[2](x, m); layers[:2](y, m)", lambda ls: ls[2:] + ls[:2]),
    ("y = layers[1](layers[0](x, m), m); layers[-1](layers[-2](y, m), m)", lambda ls: [ls[0], ls[1], ls[1], ls[2]]),
])
def test_encoder_stack_matches_a_module_list(forward, layers):
    spec = encoder(forward, N=2, T=5)
    model, ref = reference(spec)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert list(model.state_dict())[:2] == ["layers.0.linear1.weight", "layers.0.linear1.bias"]
    x, m = torch.randn(2, 5, 8), torch.rand(2, 5, 8)
    torch.testing.assert_close(model(x, m), ref(x, m, layers(list(ref.layers))))
    assert_static_equals_runtime(spec, N=2, T=5)


def test_depth_is_a_parameter():
    for depth in (1, 4):
        spec = encoder("layers(x, m)", num_layers=depth)
        assert len([k for k in spec.build().state_dict() if k.endswith("linear1.weight")]) == depth
        assert spec.summary().params == depth * sum(p.numel() for p in EncoderLayer(8).parameters())


def test_generated_code_calls_the_list_by_index():
    source = encoder("y = layers[0](x, m); layers[1:](y, m)").source
    assert "self.layers = _Chain2(" in source
    assert "self.layers[0](x, m)" in source and "self.layers[1:](y, m)" in source


NAMED = """\
params: {growth: 4, n: 3}
inputs: {x: [N, 3, 8, 8]}
blocks:
  DenseLayer(growth):
    layers:
      norm1: batchnorm2d()
      conv1: conv2d(growth, 3, padding=1, bias=false)
    forward: |
      concat([x, conv1(relu(norm1(x)))], dim=1)
layers:
  features:
    conv0: conv2d(8, 3, padding=1, bias=false)
    denseblock1: "{'denselayer' + str(i + 1): DenseLayer(growth) for i in range(n)}"
    norm5: batchnorm2d()
  heads: "{name: linear(k) for name, k in [('a', 2), ('b', 3)]}"
forward: |
  y = x >> features >> global_avgpool2d
  heads['a'](y), heads['b'](features['denseblock1'](features[0](x)) >> global_avgpool2d)
"""


def test_map_of_named_layers_has_their_keys():
    spec = from_text(NAMED, "dense.yaml", N=2)
    model = spec.build()
    keys = list(model.state_dict())
    assert "features.denseblock1.denselayer1.norm1.weight" in keys
    assert "features.denseblock1.denselayer3.conv1.weight" in keys
    assert "heads.b.weight" in keys and "features.norm5.running_mean" in keys
    assert isinstance(model.features, nn.Sequential) and list(model.features._modules) == [
        "conv0", "denseblock1", "norm5"]
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    f = model.features
    y = f(x).mean((2, 3))
    a, b = model(x)
    torch.testing.assert_close(a, model.heads.a(y))
    torch.testing.assert_close(b, model.heads.b(f.denseblock1(f.conv0(x)).mean((2, 3))))
    assert f(x).shape[1] == 8 + 3 * 4
    assert_static_equals_runtime(spec, N=2)


def errors(text: str) -> archdsl.ArchDSLError:
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(textwrap.dedent(text), "bad.yaml").check()
    return info.value


@pytest.mark.parametrize("forward, words, col", [
    ("layers[3](x, m)", "index 3 is out of range for the layer `layers`, which has 3 layers", 10),
    ("layers[0][0](x, m)", "cannot be indexed", 3),
    ("layers['a'](x, m)", "has no layer named 'a'", 10),
    ("layers[0](x)", "takes 2 input(s) (x, m), got 1", 3),
])
def test_list_indexing_errors_are_located(forward, words, col):
    err = errors(ENCODER.replace("FORWARD", forward))
    assert words in err.message, err.render()
    assert (err.span.line, err.span.col) == (15, col), err.render()


def test_a_list_used_in_part_is_an_error():
    err = errors(ENCODER.replace("FORWARD", "layers[1:](x, m)"))
    assert "`layers.0` is never called" in err.message and err.span.line == 13, err.render()


def test_a_map_key_must_be_a_layer_name():
    err = errors(ENCODER.replace("FORWARD", "x").replace(
        '"[EncoderLayer(d) for _ in range(num_layers)]"', "\"{'a b': linear(2)}\""))
    assert err.code == "E003" and "not" in err.message and err.span.line == 13, err.render()


def test_a_list_element_cannot_be_a_loop_body():
    err = errors(ENCODER.replace("FORWARD", "loop(layers[0], 2, state=[x], consts=[m])"))
    assert "the body of `loop` must be a block" in err.message and "from a list" in err.hint, err.render()


def test_a_threaded_list_compiles_with_torchscript():
    model = encoder("y = layers[0](x, m); layers(y, m)", N=2, T=5).build()
    scripted = torch.jit.script(model)
    x, m = torch.randn(2, 5, 8), torch.rand(2, 5, 8)
    torch.testing.assert_close(scripted(x, m), model(x, m))


# --- `for layer in layers:` -------------------------------------------------------------------------------------------

def test_for_loop_matches_a_hand_written_loop_over_the_same_modules():
    spec = encoder("for layer in layers:\n    x = layer(x, m)\n  x", N=2, T=5)
    model, ref = reference(spec)
    assert list(model.state_dict())[:2] == ["layers.0.linear1.weight", "layers.0.linear1.bias"]
    x, m = torch.randn(2, 5, 8), torch.rand(2, 5, 8)
    torch.testing.assert_close(model(x, m), ref(x, m))  # Encoder.forward: `for layer in self.layers: x = layer(x, m)`
    assert "        for layer in self.layers:  # line 15\n            x = layer(x, m)  # line 16\n" in spec.source
    assert_static_equals_runtime(spec, N=2, T=5)
    torch.testing.assert_close(torch.jit.script(model)(x, m), ref(x, m))


PAIRS = """\
params: {widths: [6, 10, 4]}
inputs: {x: [N, 5]}
blocks:
  Pair(w):
    inputs: [x, s]
    layers:
      fc: linear(w)
      gate: linear(w)
    forward: |
      (fc(x), gate(x) + s[:, :1])
layers:
  stem: linear(3)
  pairs: "{'p' + str(i): Pair(w) for i, w in enumerate(widths)}"
forward: |
  s = stem(x)
  h = x
  for pair in pairs:
      h, g = pair(h, s)   # a tuple target; each pair changes the width
      h = relu(h) + g
      last = g
  concat([h, last * 2], dim=1)
"""


def test_for_loop_over_a_map_with_several_statements_and_shapes_per_layer():
    spec = from_text(PAIRS, "pairs.yaml", N=2)
    model = spec.build()
    assert list(model.pairs._modules) == ["p0", "p1", "p2"] and "pairs.p2.gate.bias" in model.state_dict()
    x = torch.randn(2, 5)
    s, h = model.stem(x), x
    for pair in model.pairs.children():  # the same loop written by hand over the same modules
        g = pair.gate(h) + s[:, :1]
        h = torch.relu(pair.fc(h)) + g
        last = g
    torch.testing.assert_close(model(x), torch.cat([h, last * 2], 1))
    # static shapes per iteration: the widths 6, 10, 4 of the three pairs
    assert [spec.graph.shape(spec.graph.outputs["pairs"])] == [(2, 8)]
    assert "for pair in self.pairs:" in spec.source and "h, g = pair(h, s)" in spec.source
    assert_static_equals_runtime(spec, N=2)


LOOPS = """\
inputs: {x: [N, 4]}
layers:
  stages: "[[linear(4), linear(4)], [linear(4)]]"
  fcs: "[linear(4) for _ in range(3)]"
forward: |
  FORWARD
"""


@pytest.mark.parametrize("forward, expected", [
    # nested loops: a list of lists
    ("for stage in stages:\n    for fc in stage:\n        x = relu(fc(x))\nx",
     lambda m, x: _chain([fc for stage in m.stages for fc in stage], x, torch.relu)),
    # a value from before the loop read in every iteration while its name is reassigned
    ("y = x\nfor fc in fcs:\n    x = fc(x) + y\nx + y", lambda m, x: _residual(m.fcs, x) + x),
    # names that swap their values: `a, b = fc(b), a`
    ("a = x; b = x * 2\nfor fc in fcs:\n    a, b = fc(b), a\na - b", lambda m, x: _swap(m.fcs, x)),
])
def test_for_loop_bodies_equal_python_loops(forward, expected):
    spec = from_text(LOOPS.replace("FORWARD", forward.replace("\n", "\n  ")), "loops.yaml", N=2)
    model, x = spec.build(), torch.randn(2, 4)
    torch.testing.assert_close(model(x), expected(model, x))
    assert_static_equals_runtime(spec, N=2)


def _chain(layers, x, act):
    for layer in layers:
        x = act(layer(x))
    return x


def _residual(layers, x):
    y = x
    for layer in layers:
        x = layer(x) + y
    return x


def _swap(layers, x):
    a, b = x, x * 2
    for layer in layers:
        a, b = layer(b), a
    return a - b


@pytest.mark.parametrize("forward, words, line, col", [
    ("for layer in fc:\n  x = layer(x)\nx", "loops over a layer list or map, got the layer `fc`", 13, 16),
    ("for layer in 3:\n  x = layer(x)\nx", "loops over a layer list or map, got the number 3", 13, 16),
    ("for a, b in mixed:\n  x = a(x)\nx", "binds one name", 13, 3),
    ("for layer in mixed:\n  x = layer(x)\nx", "runs differently for the layer `mixed.1`", 13, 3),
    ("for layer in fcs:\n  x = layer(x, x)\nx", "`linear` takes 1 input tensor(s), got 2", 14, 9),
    ("for layer in fcs:\nx = layer(x)\nx", "must be indented more than its header", 14, 3),
])
def test_for_loop_errors_are_located(forward, words, line, col):
    text = """\
    inputs: {x: [N, 4]}
    blocks:
      Two():
        layers: {fc: linear(4)}
        forward: |
          (fc(x), x)
    layers:
      fc: linear(4)
      fcs: "[linear(4), linear(4)]"
      mixed: "[linear(4), Two()]"
    forward: |
      h = x
      FORWARD
    """.replace("FORWARD", forward.replace("\n", "\n      "))
    err = errors(text)
    assert words in err.message, err.render()
    assert (err.span.line, err.span.col) == (line, col), err.render()


def test_fmt_writes_a_for_loop_as_an_indented_block():
    from archdsl.syntax.fmt import format_text

    text = LOOPS.replace("FORWARD", "y = x\n  for fc in fcs: x = fc(x)+y  # one line\n  for fc in fcs:\n    h = relu(x)\n"
                                    "    x = fc(h)  # two\n  x")
    canonical = format_text(text)
    assert "  for fc in fcs:\n      x = fc(x) + y" in canonical
    assert "  for fc in fcs:\n      h = relu(x)\n      x = fc(h)  # two\n  x\n" in canonical
    assert format_text(canonical) == canonical
    x = torch.randn(2, 4)
    one, two = (from_text(t, "loops.yaml", N=2).build() for t in (text, canonical))
    two.load_state_dict(one.state_dict())
    torch.testing.assert_close(one(x), two(x))
