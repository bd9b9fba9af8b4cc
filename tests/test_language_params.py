"""Bare parameters (`parameter(shape, init=...)`), tensor subscripts, chunk/split/narrow, asserts and user
functions, compared with torch."""
import textwrap

import pytest
import torch

import archdsl
from archdsl.testing import from_text
from tests.helpers import assert_static_equals_runtime

VIT = """\
params: {d: 8, patches: 4}
inputs: {x: [N, patches, d]}
blocks:
  Encoder(seq, d):
    layers:
      pos_embedding: parameter([1, seq, d], init='normal', std=0.02)
      ln: layernorm()
    forward: |
      ln(x + pos_embedding)
layers:
  class_token: parameter([1, 1, d])
  encoder: Encoder(patches + 1, d)
  layer_scale: parameter([d], init=1e-6)
  head: linear(3)
forward: |
  y = encoder(concat([x[:, :1] * 0 + class_token, x], dim=1))
  head(y[:, 0] * layer_scale)
"""


def vit(**params):
    return from_text(VIT, "vit.yaml", **params)


def test_parameter_keys_are_the_layer_names():
    model = vit(N=2).build()
    state = model.state_dict()
    assert list(state)[:2] == ["class_token", "layer_scale"]
    assert "encoder.pos_embedding" in state and "encoder.ln.weight" in state
    assert isinstance(model.class_token, torch.nn.Parameter) and model.class_token.shape == (1, 1, 8)
    assert torch.equal(state["class_token"], torch.zeros(1, 1, 8))
    assert torch.equal(state["layer_scale"], torch.full((8,), 1e-6))
    assert model.encoder.pos_embedding.shape == (1, 5, 8)
    assert abs(model.encoder.pos_embedding.std().item() - 0.02) < 0.02


def test_parameters_are_counted_and_used_as_tensors():
    spec = vit(N=2)
    model = spec.build()
    assert spec.summary().params == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 4, 8)
    tokens = torch.cat([model.class_token.expand(2, 1, 8), x], dim=1)
    y = model.encoder.ln(tokens + model.encoder.pos_embedding)
    torch.testing.assert_close(model(x), model.head(y[:, 0] * model.layer_scale))
    assert_static_equals_runtime(spec, N=2)


@pytest.mark.parametrize("init, check", [
    ("'ones'", lambda t: torch.equal(t, torch.ones(4, 3))),
    ("2.5", lambda t: torch.equal(t, torch.full((4, 3), 2.5))),
    ("'trunc_normal', std=0.5", lambda t: t.abs().max() <= 2.0 and t.std() > 0),
])
def test_parameter_inits(init, check):
    spec = from_text(f'inputs: {{x: [2, 3]}}\nlayers: {{w: "parameter([4, 3], init={init})"}}\nforward: x + w[0]\n',
                     "p.yaml")
    assert check(spec.build().w.detach())


SLICES = """\
inputs: {x: [N, 6, T, 4]}
forward: |
  OUT
layers: {}
"""


@pytest.mark.parametrize("expr, torch_fn", [
    ("x[:, :3]", lambda x: x[:, :3]),
    ("x[:, 0]", lambda x: x[:, 0]),
    ("x[..., 1:]", lambda x: x[..., 1:]),
    ("x[:, -1, :, ::2]", lambda x: x[:, -1, :, ::2]),
    ("x[:, 1:-1, 2:]", lambda x: x[:, 1:-1, 2:]),
    ("x[:, None, 2, :-1]", lambda x: x[:, None, 2, :-1]),
    ("x[0, ..., 3]", lambda x: x[0, ..., 3]),
    ("narrow(x, 1, 2, 3)", lambda x: x.narrow(1, 2, 3)),
    ("concat(chunk(x, 3, dim=1), dim=3)", lambda x: torch.cat(x.chunk(3, 1), 3)),
    ("a, b = split(x, [4, 2], dim=1); b * a[:, 2:]", lambda x: x.split([4, 2], 1)[1] * x[:, 2:4]),
])
def test_subscripts_match_torch(expr, torch_fn):
    spec = from_text(SLICES.replace("OUT", expr), "s.yaml", N=2, T=5)
    model = spec.build()
    x = torch.randn(2, 6, 5, 4)
    torch.testing.assert_close(model(x), torch_fn(x))
    assert_static_equals_runtime(spec, N=2, T=5)


def test_symbolic_slices_keep_exact_shapes():
    shapes = from_text(SLICES.replace("OUT", "x[:, 1:, 2:, :-1][:, :, :-1, 0]"), "s.yaml").check()
    assert str(list(shapes.values())[-1]) == "(N, 5, T - 3)"


def errors(text: str) -> archdsl.ArchDSLError:
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(textwrap.dedent(text), "bad.yaml").check()
    return info.value


@pytest.mark.parametrize("expr, code, words", [
    ("x[:, 6]", "E009", "index 6 is out of range for dim 1 of size 6"),
    ("x[:, 4:2]", "E009", "is empty"),
    ("x[0, 0, 0, 0, 0]", "E009", "5 indices for a rank-4 tensor"),
    ("x[:, :, ::-1]", "E006", "needs a positive step"),  # torch: "step must be greater than zero"
    ("x[x]", "E006", "a tensor cannot be used as a index"),
    ("x[..., ...]", "E006", "only one `...`"),
    ("x[:, 'a']", "E006", "a tensor index must be an integer"),
    ("chunk(x, 4, dim=1)", "E009", "gives 3 tensors"),
    ("split(x, [4, 3], dim=1)", "E009", "add up to 7"),
    ("chunk(x, 2, dim=2)", "E009", "needs a static size along dim 2"),
    ("narrow(x, 1, 4, 3)", "E009", "runs past dim 1"),
])
def test_subscript_errors_are_located(expr, code, words):
    err = errors(SLICES.replace("OUT", expr))
    assert err.code == code and words in err.message, err.render()
    assert err.span.line == 3, err.render()


FUNCTIONS = """\
params: {width: 37, groups: 4}
let:
  make_divisible: "lambda v, div=8, low=None: max(low or div, int(v + div / 2) // div * div)"
  c: make_divisible(width)
  c2: "make_divisible(width * 3, div=groups)"
inputs: {x: [N, 3]}
layers:
  fc: linear(c)
  fc2: linear(c2)
forward: |
  assert c % groups == 0, 'channels must divide into groups'
  assert width < 100
  fc2(fc(x))
"""


def test_user_functions_and_asserts():
    def make_divisible(v, divisor=8, min_value=None):  # torchvision's _make_divisible, without its 10% rule
        return max(min_value or divisor, int(v + divisor / 2) // divisor * divisor)

    model = from_text(FUNCTIONS, "f.yaml").build()
    assert model.fc.out_features == make_divisible(37) and model.fc2.out_features == make_divisible(111, 4)


@pytest.mark.parametrize("params, words, line, hint", [
    ({"groups": 3}, "assertion failed: channels must divide into groups", 11, "c = 40, groups = 3"),
    ({"width": 400}, "assertion failed: width < 100", 12, "width = 400"),
])
def test_failed_assert_is_located(write_spec, params, words, line, hint):
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(FUNCTIONS), **params).check()
    err = info.value
    assert words in err.message and (err.span.line, err.span.col) == (line, 10) and err.hint == hint, err.render()


def test_lambda_argument_errors():
    err = errors(FUNCTIONS.replace("make_divisible(width)", "make_divisible(width, 8, 1, 2)"))
    assert err.code == "E007" and "takes 3 arguments, got 4" in err.message, err.render()
    err = errors(FUNCTIONS.replace("make_divisible(width)", "make_divisible(div=2)"))
    assert "missing its argument `v`" in err.message, err.render()


GPT = """\
params: {vocab: 11, d: 8}
inputs:
  ids: {shape: [N, T], dtype: int64, high: vocab}
blocks:
  Transformer(vocab, d):
    inputs: [ids]
    layers:
      wte: embedding(vocab, d)
      ln_f: layernorm()
    forward: |
      ln_f(wte(ids))
layers:
  transformer: Transformer(vocab, d)
  lm_head: tied_linear('transformer.wte')
forward: |
  lm_head(transformer(ids))
"""


def test_tied_weight_is_shared_and_counted_once():
    spec = from_text(GPT, "gpt.yaml", N=2, T=3)
    model = spec.build()
    state = model.state_dict()
    assert list(state) == ["transformer.wte.weight", "transformer.ln_f.weight", "transformer.ln_f.bias",
                           "lm_head.weight"]  # as GPT-2's: both keys, one tensor
    assert state["lm_head.weight"].data_ptr() == state["transformer.wte.weight"].data_ptr()
    assert model.lm_head.weight is model.transformer.wte.weight
    assert spec.summary().params == sum(p.numel() for p in model.parameters()) == 11 * 8 + 2 * 8
    ids = torch.randint(0, 11, (2, 3))
    h = model.transformer(ids)
    torch.testing.assert_close(model(ids), h @ model.transformer.wte.weight.T)
    assert "self.lm_head.weight = self.transformer.wte.weight" in spec.source
    assert_static_equals_runtime(spec, N=2, T=3)


@pytest.mark.parametrize("old, new, words", [
    ("tied_linear('transformer.wte')", "tied_linear('transformer.wpe')", "is not a layer of"),
    ("tied_linear('transformer.wte')", "tied_linear('transformer.ln_f')", "is not an embedding"),
    ("tied_linear('transformer.wte')", "tied_linear('transformer.wte', num_embeddings=3)", "has 11"),
    ("lm_head(transformer(ids))", "lm_head(concat([transformer(ids)] * 2, dim=2))", "takes 8 features"),
])
def test_tying_errors_are_located(old, new, words):
    err = errors(GPT.replace(old, new))
    assert words in err.message, err.render()
    assert err.span.line == (16 if "concat" in new else 14), err.render()


CONVNEXT = """\
params: {dims: [4, 8]}
inputs: {x: [N, 4, 8, 8]}
blocks:
  CNBlock(dim):
    layers:
      dw: conv2d(dim, 3, padding=1, groups=dim)
      layer_scale: parameter([dim, 1, 1], init=1e-6)
    forward: |
      x + dw(x) * layer_scale
layers:
  s1: CNBlock(dims[0])
  down: conv2d(dims[1], 1)
  s2: CNBlock(dims[1])
forward: |
  x >> s1 >> down >> s2
"""


def test_instances_with_other_parameter_shapes_share_one_class():
    spec = from_text(CONVNEXT, "cnx.yaml", N=2)
    source = spec.source
    assert source.count("class CNBlock") == 1 and "torch.full((dim, 1, 1), 1e-06)" in source
    model = spec.build()
    assert model.s1.layer_scale.shape == (4, 1, 1) and model.s2.layer_scale.shape == (8, 1, 1)
    x = torch.randn(2, 4, 8, 8)
    y = model.down(x + model.s1.dw(x) * 1e-6)
    torch.testing.assert_close(model(x), y + model.s2.dw(y) * 1e-6)
