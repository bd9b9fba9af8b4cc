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
