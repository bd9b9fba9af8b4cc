"""The spec language end to end: each construct checks statically and runs with the same shapes."""
import textwrap

import pytest
import torch

import archdsl
from archdsl.dims import symbol
from tests.helpers import assert_static_equals_runtime

MULTI = """\
name: pair_models
doc: two models, a block with two inputs and two outputs, shared weights, conditions
params: {latent: 4}
blocks:
  Pair(w, double=false):
    inputs: [a, b]
    layers:
      fa: linear(w)
      fb: linear(w)
      inner: "Scale(w) if double"
    forward: |
      s = fa(a) + fb(b)
      t = inner(s) if double else s
      s, t
  Scale(w):
    layers:
      f: linear(w)
    forward: |
      f(x) * x
models:
  encoder:
    inputs: {x: [N, 16]}
    layers:
      l1: linear(8)
      pair: Pair(latent, double=true)
      shared: linear(latent)
    forward: |
      h = x >> l1 >> relu
      u, v = pair(h, h)
      concat([shared(u), shared(v)], dim=1), u
  decoder:
    inputs: {z: [N, latent]}
    layers:
      out: "[linear(16), sigmoid]"
    forward: |
      out(z)
"""

REPEATS = """\
params: {depth: 3, width: 8, use_bn: true}
let:
  widths: "[width * 2 ** i for i in range(depth)]"
inputs:
  x: [N, 3, H, W]
blocks:
  Stage(c, stride=1):
    layers:
      conv: conv2d(c, 3, stride=stride, padding=1, bias=not use_bn)
      bn: "batchnorm2d() if use_bn"
    forward: |
      y = conv(x)
      relu(bn(y) if use_bn else y)
layers:
  stages: "[Stage(c, stride=1 if i == 0 else 2) for i, c in enumerate(widths)]"
  extra: "[Stage(widths[-1])] * 2"
  pool: adaptive_avgpool2d(1)
forward: |
  x >> stages >> extra >> pool >> flatten
"""


def test_multi_model_spec(write_spec):
    spec = archdsl.load(write_spec(MULTI))
    assert spec.models == ["encoder", "decoder"]
    shapes = spec.check()
    n = symbol("N")
    assert shapes["encoder.pair.inner.f"] == (n, 4)
    assert shapes["encoder.shared@1"] == (n, 4)
    assert_static_equals_runtime(spec, "encoder", N=3)
    assert_static_equals_runtime(spec, "decoder", N=2)
    both = spec.build()
    assert set(dict(both.named_children())) == {"encoder", "decoder"}
    enc = spec.build("encoder")
    out, u = enc(torch.randn(5, 16))
    assert out.shape == (5, 8) and u.shape == (5, 4)
    # shared layer counted once
    assert spec.summary().params == sum(p.numel() for p in both.parameters())
    assert "u, v = self.pair(h, h)" in spec.source


def test_repeats_comprehensions_and_symbolic_dims(write_spec):
    spec = archdsl.load(write_spec(REPEATS))
    shapes = spec.check()
    n, h = symbol("N"), symbol("H")
    assert shapes["stages.0.conv"][:3] == (n, 8, h)
    assert [k for k in shapes if k.endswith(".conv")] == [
        "stages.0.conv", "stages.1.conv", "stages.2.conv", "extra.0.conv", "extra.1.conv"]
    assert shapes["flatten"] == (n, 32)
    for dims in ({"N": 2, "H": 17, "W": 9}, {"N": 1, "H": 32, "W": 32}):
        assert_static_equals_runtime(spec, **dims)
    keys = set(spec.build().state_dict())
    assert "stages.2.bn.running_mean" in keys and "extra.1.conv.weight" in keys


def test_parameter_overrides_change_structure(write_spec):
    path = write_spec(REPEATS)
    spec = archdsl.load(path, depth=2, use_bn=False, N=4)
    shapes = spec.check()
    assert shapes["flatten"] == (4, 16)
    assert not any(".bn" in k for k in shapes)
    model = spec.build()
    assert all("bn" not in k for k in model.state_dict())
    assert model.stages[0].conv.bias is not None


def test_concrete_path_uses_plain_ints(write_spec):
    spec = archdsl.load(write_spec(REPEATS), N=2, H=32, W=32)
    assert all(type(d) is int for s in spec.check().values() for d in s)


def test_generated_file_runs_on_its_own(write_spec, tmp_path):
    import subprocess
    import sys

    spec = archdsl.load(write_spec(REPEATS))
    out = tmp_path / "model.py"
    out.write_text(spec.source)
    imports = [l for l in spec.source.splitlines() if l.startswith(("import", "from"))]
    assert all("torch" in l for l in imports)
    code = ("import importlib.util, torch; s = importlib.util.spec_from_file_location('m', %r); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            "net = [v for v in vars(m).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1](); "
            "print(tuple(net(torch.randn(2, 3, 20, 20)).shape))" % str(out))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "(2, 32)"


def test_generated_source_is_readable(write_spec):
    src = archdsl.load(write_spec(REPEATS)).source
    # one class for the block: its parameters are constructor arguments, written as the spec wrote them
    assert "def __init__(self, in_channels, c, stride=1):" in src
    assert "nn.Conv2d(in_channels, c, 3, stride=stride, padding=1, bias=False)" in src  # defaults left out
    assert "Stage(3, 8)," in src and "Stage(8, 16, stride=2)," in src
    assert src.count("class Stage") == 1
    for line in src.splitlines():
        if line.strip().startswith(("self.", "out =", "y =")) and "super()" not in line:
            assert "  # line " in line, line  # each statement points at the spec


def test_tracebacks_show_generated_lines(write_spec):
    spec = archdsl.load(write_spec(REPEATS))
    model = spec.build()
    with pytest.raises(RuntimeError) as info:
        model(torch.randn(2, 5, 8, 8))  # wrong channel count on purpose
    import traceback

    text = "".join(traceback.format_exception(info.value))
    assert "archdsl" in text and "self.conv(x)" in text


def test_skip_connection_and_arithmetic_on_params(write_spec):
    text = """\
    params: {c: 6}
    inputs: {x: [N, c, 10]}
    layers:
      a: conv1d(c * 2, 3, padding='same')
      b: conv1d(c * 2, 1)
    forward: |
      y = a(x)
      z = y + b(x)
      z - y, y * z
    """
    spec = archdsl.load(write_spec(textwrap.dedent(text)))
    shapes = spec.check()
    assert shapes["a"] == (symbol("N"), 12, 10)
    assert_static_equals_runtime(spec, N=2)
    out = spec.build()(torch.randn(2, 6, 10))
    assert isinstance(out, tuple) and len(out) == 2


def test_unused_layer_is_a_warning(write_spec):
    text = """\
    inputs: {x: [N, 4]}
    layers:
      used: linear(2)
      spare: linear(3)
    forward: |
      used(x)
    """
    spec = archdsl.load(write_spec(textwrap.dedent(text)))
    spec.check()
    assert [(c, s.line) for c, s, _ in spec.warnings] == [("W001", 4)]


def test_block_recursion_is_limited(write_spec):
    text = """\
    inputs: {x: [N, 4]}
    blocks:
      Loop(n):
        layers:
          inner: Loop(n + 1)
        forward: |
          inner(x)
    layers:
      l: Loop(0)
    forward: |
      l(x)
    """
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(textwrap.dedent(text))).check()
    assert info.value.code == "E011" and "nested more than" in info.value.message


def test_shared_layer_with_other_sizes_is_an_error(write_spec):
    text = """\
    inputs: {x: [N, 4], y: [N, 5]}
    layers:
      f: linear(2)
    forward: |
      f(x) + f(y)
    """
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(textwrap.dedent(text))).check()
    assert info.value.code == "E009" and "called again" in info.value.message
    assert info.value.span.line == 5


def test_block_error_notes_the_instance_chain(write_spec):
    text = """\
    inputs: {x: [N, 4]}
    blocks:
      Inner:
        layers: {f: linear(3)}
        forward: |
          f(missing)
      Outer:
        layers: {i: Inner}
        forward: |
          i(x)
    layers:
      o: Outer
    forward: |
      o(x)
    """
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load(write_spec(textwrap.dedent(text))).check()
    err = info.value
    assert err.code == "E005" and err.span.line == 6
    assert any("`o.i`" in n for n in err.notes) and any("`o`" in n for n in err.notes)


def test_tensor_number_arithmetic_and_empty_sequence(write_spec):
    text = """\
    params: {hidden: []}
    inputs: {x: [N, 4]}
    layers:
      body: "[linear(h) for h in hidden]"
      fc: linear(3)
    forward: |
      y = x >> body >> fc
      -y + 1.7159 * tanh(y) - 2 / (y * y + 1)
    """
    path = write_spec(textwrap.dedent(text))
    for hidden in ([], [5, 6]):
        spec = archdsl.load(path, hidden=hidden)
        assert_static_equals_runtime(spec, N=2)
    model = archdsl.load(path).build()
    x = torch.randn(2, 4)
    y = model.fc(x)
    torch.testing.assert_close(model(x), -y + 1.7159 * torch.tanh(y) - 2 / (y * y + 1))
