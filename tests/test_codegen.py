"""The generated PyTorch source: one class per spec block, tidy code, and classes that are right on their own.

Golden files (tests/golden/codegen/*.py) hold six compiled zoo specs; a change to the generator shows up as
a diff there. After checking the diff is what you meant, rewrite them with

    ARCHDSL_UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pyflakes.api import check as pyflakes_check
from pyflakes.reporter import Reporter

import archdsl
from archdsl.backends.torch.runtime import exec_source
from archdsl.names import class_name

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "codegen"
GOLDEN_SPECS = {"googlenet": {}, "resnet50": {"depth": 50}, "seq2seq_attention": {}, "capsnet": {}, "ntm": {},
                "vae": {}}
# (spec file, params) for the one-class-per-block check: the list
COMPILED = [("googlenet", {}), ("googlenet", {"variant": "torchvision"}), ("resnet", {"depth": 18}),
            ("resnet", {"depth": 50}), ("seq2seq_attention", {}), ("capsnet", {}), ("ntm", {}), ("vae", {}),
            ("show_attend_tell", {})]


def spec_file(name: str) -> str:
    return str(ROOT / "specs" / f"{'resnet' if name.startswith('resnet') else name}.yaml")


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden_source(name):
    path = GOLDEN / f"{name}.py"
    source = archdsl.load(spec_file(name), **GOLDEN_SPECS[name]).compile(str(path))
    if os.environ.get("ARCHDSL_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert source == path.read_text(), f"{path.name} changed; see this file's docstring to update it"


def _ids(case):
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[1].items())}" if case[1] else case[0]


@pytest.fixture(scope="module", params=COMPILED, ids=[_ids(c) for c in COMPILED])
def compiled(request):
    name, params = request.param
    spec = archdsl.load(spec_file(name), **params)
    return spec, spec.source


def test_one_class_per_spec_block(compiled):
    spec, source = compiled
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    used = {m.block.name for root in spec.graph.roots.values() for m in root.walk()
            if m.kind == "block" and m is not root and m.calls}
    expected = {class_name(b) for b in used} | {class_name(m) for m in spec.graph.roots}
    gen = spec._codegen()
    gen.generate()
    helpers = gen.support_names  # the ops' helper classes (capsule transforms, learned tensors)
    container = {class_name(spec.name) + ("Models" if class_name(spec.name) in expected else "")} \
        if spec.doc.multi_model else set()
    assert sorted(classes) == sorted(expected | container | (helpers & set(classes)))
    assert not any(c.rsplit("_", 1)[-1].isdigit() for c in classes)  # no `Name_2`


def test_pyflakes_finds_nothing(compiled):
    _, source = compiled
    out, err = _Collect(), _Collect()
    assert pyflakes_check(source, "generated.py", Reporter(out, err)) == 0, out.text + err.text


def test_lines_are_short(compiled):
    _, source = compiled
    long = [line for line in source.splitlines() if len(line) > 100]   # the generator's MAX_LINE (pysource.py)
    assert not long, long


def test_every_forward_uses_all_its_arguments(compiled):
    _, source = compiled
    for cls in [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]:
        for fn in [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"]:
            read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            unused = [a.arg for a in fn.args.args[1:] if a.arg not in read]
            assert not unused, f"{cls.name}.{fn.name} ignores {unused}"


class _Collect:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass


PAIR = """
name: pair
params: {width: 6}
inputs:
  x: [N, 5]
blocks:
  Pair(width):
    inputs: [a, b]
    layers:
      fa: linear(width)
      fb: linear(width, bias=false)
    forward: |
      fa(a) + fb(b)
layers:
  p: Pair(width)
forward: |
  p(x, x)
"""


def test_a_block_called_with_one_tensor_twice_is_right_on_its_own(tmp_path):
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR)
    spec = archdsl.load(str(path))
    namespace = exec_source(spec.source, str(path))
    pair = namespace["Pair"](5, 5, 6)  # a_features, b_features, width
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    want = torch.nn.functional.linear(a, pair.fa.weight, pair.fa.bias) + b @ pair.fb.weight.T  # fa(a) + fb(b)
    torch.testing.assert_close(pair(a, b), want)
    assert not torch.allclose(pair(a, b), pair(a, a))  # b is not ignored


def test_the_class_takes_other_sizes_than_the_models(tmp_path):
    """The constructor's sizes are names, not the numbers of this model: a Pair over 7- and 3-wide inputs."""
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR)
    namespace = exec_source(archdsl.load(str(path)).source, str(path))
    pair = namespace["Pair"](7, 3, 4)
    a, b = torch.randn(2, 7), torch.randn(2, 3)
    assert pair.fa.weight.shape == (4, 7) and pair.fb.weight.shape == (4, 3)
    torch.testing.assert_close(pair(a, b), a @ pair.fa.weight.T + pair.fa.bias + b @ pair.fb.weight.T)


SHUFFLE = """
name: shuffle
inputs:
  x: [N, 8, 6, 4]
blocks:
  # ShuffleNet's channel shuffle in `groups` groups; then the map permuted by `order` and back by `inverse`
  # (lists, passed whole), and flattened by a let's list with a 0 (keep that dim) in it
  Shuffle(groups, order, inverse):
    let:
      c: x.shape[1]
      h: x.shape[2]
      w: x.shape[3]
      flat: "[0, c, h * w]"
    forward: |
      y = x >> reshape([0, groups, c // groups, h, w]) >> permute([0, 2, 1, 3, 4]) >> reshape([0, c, h, w])
      y >> permute(order) >> permute(inverse) >> reshape(flat) >> reshape([0, c, h, w])
layers:
  s2: Shuffle(2, [0, 2, 3, 1], [0, 3, 1, 2])
  s4: Shuffle(4, [0, 3, 2, 1], [0, 3, 2, 1])
forward: |
  x >> s2 >> s4
"""


def test_inline_attributes_are_the_blocks_expressions(tmp_path):
    """An inline op's attributes made of the block's parameters and input sizes are written as those
    expressions (self.groups; self.order, a list whole; a let's list with a 0, which torch's reshape does not
    keep, item by item), so one class serves both instances, and it is right for other sizes too: against the
    channel shuffle written here (torchvision's channel_shuffle)."""
    path = tmp_path / "shuffle.yaml"
    path.write_text(SHUFFLE)
    source = archdsl.load(str(path)).source
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert classes == ["Shuffle", "ShuffleModel"]
    assert ".permute(self.order)" in source and ".reshape(out.shape[0], self.c, self.h * self.w)" in source
    shuffle = exec_source(source, str(path))["Shuffle"](12, 3, 5, 3, [0, 3, 2, 1], [0, 3, 2, 1])
    x = torch.randn(2, 12, 3, 5)
    want = x.view(2, 3, 4, 3, 5).transpose(1, 2).reshape(2, 12, 3, 5)
    torch.testing.assert_close(shuffle(x), want)


STRIDED_STAGES = """
name: strided_stages
params: {rate: 0.3}
let:
  drop: "lambda k: rate * k / max(5 - 1, 1)"
inputs:
  x: [N, 3, 17, 17]
blocks:
  # MaxViT's shape: a strided conv with a shortcut (pooled and projected where the shape changes), a layer
  # norm over the map after it, stages made by a comprehension whose layers differ by the loop variable
  Down(oup, stride):
    let:
      project: stride != 1 or x.shape[1] != oup
    layers:
      proj: "[avgpool2d(3, stride=stride, padding=1), conv2d(oup, 1)] if project"
      conv: conv2d(oup, 3, stride=stride, padding=1)
    forward: |
      (proj(x) if project else x) + conv(x)
  Layer(oup, stride, p):
    layers:
      down: Down(oup, stride)
      norm: layernorm(3)
      drop: dropout(p)
    forward: |
      x >> down >> norm >> drop
  Stage(oup, n, first):
    layers:
      layers: "[Layer(oup, 2 if j == 0 else 1, drop(first + j)) for j in range(n)]"
    forward: |
      layers(x)
layers:
  s1: Stage(4, 2, 0)
  s2: Stage(6, 3, 2)
forward: |
  x >> s1 >> s2
"""


def test_sizes_after_a_stride_and_layers_that_differ_by_the_loop_variable(tmp_path):
    """The map after a strided conv is `(h - 1) // stride + 1` (the conv's rule, not h // stride: the maps here
    are odd), whichever operand of the shortcut's sum gives it; a comprehension whose layers differ by the loop
    variable stays one, the lambda it calls written out. One class per block, right for other sizes and
    parameters: the norm's shape is the map's (torch's LayerNorm raises otherwise), the strides and rates are
    the spec's, computed here."""
    path = tmp_path / "strided.yaml"
    path.write_text(STRIDED_STAGES)
    source = archdsl.load(str(path)).source
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert classes == ["Down", "Layer", "Stage", "StridedStages"]
    assert "for j in range(n)" in source and "0.3 * (first + j) / 4" in source
    stage = exec_source(source, str(path))["Stage"](5, 11, 6, 7, 3, 1)  # sizes: in_channels, in_dim2, in_dim3
    x = torch.randn(2, 5, 11, 6)
    out = stage(x)
    h, w = (11 + 2 * 1 - 3) // 2 + 1, (6 + 2 * 1 - 3) // 2 + 1  # torch's Conv2d output size, stride 2
    assert out.shape == (2, 7, h, w)
    assert [layer.norm.normalized_shape for layer in stage.layers] == [(7, h, w)] * 3
    assert [layer.down.conv.stride for layer in stage.layers] == [(2, 2), (1, 1), (1, 1)]
    assert [layer.drop.p for layer in stage.layers] == [0.3 * k / 4 for k in (1, 2, 3)]
    net = archdsl.load(str(path)).build()
    assert net(torch.randn(1, 3, 17, 17)).shape == (1, 6, 5, 5)  # 17 -> 9 -> 5


def test_maxvits_stochastic_depth_rates_are_torchvisions():
    """MaxViT's stages are written `for j in range(n)` with the rate `drop(first + j)` written out: each layer's
    rate is torchvision's, numpy.linspace(0, 0.2, layers) over all stages (computed here as 0.2 * k / (L - 1))."""
    small = dict(stem_channels=8, block_channels=[16, 32, 48], block_layers=[2, 1, 3], head_dim=8,
                 partition_size=3, image_size=48, num_classes=5)  # tests/test_maxvit.py's, a stage more
    net = archdsl.load(str(ROOT / "specs" / "maxvit.yaml"), **small).build()
    rates = [m.p for name, m in net.named_modules() if name.endswith("MBconv.stochastic_depth")]
    assert rates == pytest.approx([0.2 * k / 5 for k in range(6)], rel=1e-12, abs=1e-15)


TWO_ARGUMENTS = """
name: two_arguments
inputs:
  x: [N, 4, 9, 9]
blocks:
  B(big):
    layers:
      conv: "conv2d(8, 3, padding=1) if big else conv2d(16, 5, padding=2)"
    forward: |
      conv(x)
layers:
  a: B(true)
  b: B(false)
forward: |
  concat([a(x), b(x)], 1)
"""


def test_a_condition_around_each_argument_in_which_two_layers_differ(tmp_path):
    """Two convs that differ in their out_channels, kernel and padding are one call with a condition around
    each of these arguments (it was once put around `16, 5` as if that were one argument: another conv)."""
    path = tmp_path / "two.yaml"
    path.write_text(TWO_ARGUMENTS)
    spec = archdsl.load(str(path))
    calls = [ast.unparse(n.value) for n in ast.walk(ast.parse(spec.source)) if isinstance(n, ast.Assign)
             and ast.unparse(n.targets[0]) == "self.conv"]
    assert calls == ["nn.Conv2d(in_channels, 8 if big else 16, 3 if big else 5, padding=1 if big else 2)"]
    net = spec.build()
    assert repr(net.a.conv) == repr(torch.nn.Conv2d(4, 8, 3, padding=1))
    assert repr(net.b.conv) == repr(torch.nn.Conv2d(4, 16, 5, padding=2))


WINDOWS_BOTH = """
name: windows_both
inputs:
  x: [N, 14, 14, 8]
layers:
  swin: shifted_window_attention(7, 2)
  maxvit: relative_position_attention(4, 7)
forward: |
  swin(x) >> reshape([0, 4, 49, 8]) >> maxvit
"""


def test_a_helper_two_ops_share_is_written_once(tmp_path):
    """Swin's and MaxViT's attention both index their bias table by relative_position_index: one definition,
    and each buffer is the offset of each pair of positions, counted here pair by pair."""
    path = tmp_path / "windows_both.yaml"
    path.write_text(WINDOWS_BOTH)
    spec = archdsl.load(str(path))
    assert spec.source.count("def relative_position_index(") == 1
    net = spec.build()
    cells = [(y, x) for y in range(7) for x in range(7)]
    offsets = torch.tensor([[(yi - yj + 6) * 13 + xi - xj + 6 for yj, xj in cells] for yi, xi in cells])
    assert torch.equal(net.maxvit.relative_position_index, offsets)
    assert torch.equal(net.swin.relative_position_index, offsets.flatten())


def test_output_does_not_depend_on_the_working_directory(tmp_path):
    (tmp_path / "out").mkdir()
    spec = tmp_path / "specs" / "mlp.yaml"
    spec.parent.mkdir()
    spec.write_text((ROOT / "specs" / "mlp.yaml").read_text())
    runs = [(tmp_path, "specs/mlp.yaml", "out/a.py"), (spec.parent, "mlp.yaml", "../out/b.py")]
    for cwd, src, out in runs:
        subprocess.run([sys.executable, "-m", "archdsl.cli", "compile", src, "-o", out], cwd=cwd, check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    first, second = (tmp_path / "out" / "a.py").read_bytes(), (tmp_path / "out" / "b.py").read_bytes()
    assert first == second and b"../specs/mlp.yaml" in first


USES_DECODE = """
name: uses_decode
params: {vocab: 11, hidden: 16}
models:
  step:
    inputs:
      token: {shape: [N], dtype: int64, high: vocab}
      h: [N, hidden]
    layers:
      embed: embedding(vocab, hidden)
      cell: gru_cell(hidden)
      out: linear(vocab)
    forward: |
      h = cell(embed(token), h)
      out(h), h
  generate:
    uses: [step]
    inputs:
      h0: [N, hidden]
    forward: |
      start = batch_full(h0, [], value=1, dtype='int64')
      tokens, logits, h = decode(step, start, state=[h0], max_len=5)
      tokens, logits
"""


def test_a_used_model_as_decode_body_compiles_and_runs(tmp_path):
    path = tmp_path / "uses_decode.yaml"
    path.write_text(USES_DECODE)
    spec = archdsl.load(str(path))
    net = spec.build("generate").eval()
    h0 = torch.randn(2, 16)
    tokens, logits = net(h0)
    assert tokens.shape == (2, 5) and logits.shape == (2, 5, 11)
    # greedy decoding written out with the used model's own layers: token 1, then the argmax each step
    step, token, h, want = net.step, torch.ones(2, dtype=torch.long), h0, []
    for _ in range(5):
        h = step.cell(step.embed(token), h)
        token = step.out(h).argmax(-1)
        want.append(token)
    assert torch.equal(tokens, torch.stack(want, 1))


USES_SCAN_LOOP = """
name: uses_scan_loop
params: {hidden: 6}
models:
  cell:
    inputs: {x: [N, 4], h: [N, hidden]}
    layers: {rnn: rnn_cell(hidden)}
    forward: |
      h = rnn(x, h)
      h, h
  refine:
    inputs: {h: [N, hidden]}
    layers: {fc: linear(hidden)}
    forward: |
      tanh(fc(h))
  run:
    uses: [cell, refine]
    inputs: {xs: [N, T, 4]}
    forward: |
      h0 = batch_full(xs, [hidden])
      ys, h = scan(cell, xs, state=[h0])
      h = loop(refine, 3, state=[h])
      ys, h
"""


def test_used_models_as_scan_and_loop_bodies(tmp_path):
    path = tmp_path / "uses_scan_loop.yaml"
    path.write_text(USES_SCAN_LOOP)
    net = archdsl.load(str(path)).build("run").eval()
    xs = torch.randn(2, 5, 4)
    ys, h = net(xs)
    # written out: the cell over the 5 steps from zeros, then the refinement 3 times
    state, outs = torch.zeros(2, 6), []
    for t in range(5):
        state = net.cell.rnn(xs[:, t], state)
        outs.append(state)
    torch.testing.assert_close(ys, torch.stack(outs, 1))
    for _ in range(3):
        state = torch.tanh(net.refine.fc(state))
    torch.testing.assert_close(h, state)


FIRE = """
name: fire
inputs:
  x: [N, 3, 8, 8]
blocks:
  Fire(s_planes, e_planes):
    layers:
      squeeze: conv2d(s_planes, 1)
      expand1x1: conv2d(e_planes, 1)
      expand3x3: conv2d(e_planes, 3, padding=1)
    forward: |
      s = x >> squeeze >> relu
      concat([relu(expand1x1(s)), relu(expand3x3(s))], dim=1)
layers:
  f: "[Fire(4, 8), Fire(8, 16)]"
forward: |
  f(x)
"""


def test_two_unnamed_values_of_one_statement_keep_apart(tmp_path):
    """SqueezeNet's Fire module: both branches once got the same variable (found building the zoo)."""
    path = tmp_path / "fire.yaml"
    path.write_text(FIRE)
    net = archdsl.load(str(path)).build().eval()
    x = torch.randn(2, 3, 8, 8)
    want = x
    for fire in net.f:  # the Fire module of SqueezeNet (Iandola et al. 2016, Fig. 1), written out
        s = torch.relu(fire.squeeze(want))
        want = torch.cat([torch.relu(fire.expand1x1(s)), torch.relu(fire.expand3x3(s))], 1)
    torch.testing.assert_close(net(x), want)


LAMBDA_LAYERS = """
name: lambda_layers
let:
  conv: "lambda c, s=1, k=3: conv2d(c, k, stride=s, padding=k // 2)"
inputs:
  x: [N, 4, 8, 8]
blocks:
  B(c, s):
    layers:
      a: conv(c, s)
      b: conv(c, k=1)
      d: conv(2 * c, s=s, k=5)
    forward: |
      d(b(a(x)))
layers:
  b1: B(6, 2)
  b2: B(5, 1)
forward: |
  b2(b1(x))
"""


def test_a_layer_made_by_a_lambda_is_the_layer_check_counts(tmp_path):
    """A lambda's arguments were once bound by position to the op's parameters (`conv(c, s)` became a conv
    with kernel s): the built model had other layers than `check` counted."""
    path = tmp_path / "lambda_layers.yaml"
    path.write_text(LAMBDA_LAYERS)
    spec = archdsl.load(str(path))
    net = spec.build()
    assert sum(p.numel() for p in net.parameters()) == spec.summary().params
    # the lambda's body with its arguments and defaults, written by hand as torch layers
    want = {"b1.a": torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), "b1.b": torch.nn.Conv2d(6, 6, 1),
            "b1.d": torch.nn.Conv2d(6, 12, 5, stride=2, padding=2), "b2.a": torch.nn.Conv2d(12, 5, 3, padding=1),
            "b2.b": torch.nn.Conv2d(5, 5, 1), "b2.d": torch.nn.Conv2d(5, 10, 5, padding=2)}
    assert {k: repr(net.get_submodule(k)) for k in want} == {k: repr(v) for k, v in want.items()}
    classes = [n.name for n in ast.parse(spec.source).body if isinstance(n, ast.ClassDef)]
    assert classes == ["B", "LambdaLayers"]  # the lambda's parameters are the block's: one class


# --- every zoo spec: one class per block, pyflakes-clean, short lines, every argument used ----------------

ZOO_SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
# the catalogue's variants whose blocks differ from the spec's defaults (channel counts, conditions, stages)
VARIANTS = ["efficientnet_v2_s", "mobilenet_v3_small", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
            "resnext50_32x4d", "regnet_y_800mf", "regnet_x_1_6gf", "mnasnet0_75", "deeplabv3_resnet50"]


def _zoo_cases():
    from archdsl import zoo

    cases = [pytest.param(str(ROOT / "specs" / f"{n}.yaml"), {}, n, id=n) for n in ZOO_SPECS]
    names = zoo.names() if os.environ.get("ARCHDSL_SLOW_TESTS") else {v: zoo.names()[v] for v in VARIANTS}
    return cases + [pytest.param(str(path), params, path.stem, id=name) for name, (path, params) in names.items()]


@pytest.mark.parametrize("path, params, stem", _zoo_cases())
def test_zoo_source_is_tidy(path, params, stem):
    spec = archdsl.load(path, **params)
    source = spec.source
    tree = ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    numbered = [c for c in classes if c.rsplit("_", 1)[-1].isdigit()]
    assert not numbered  # one class per block (classes.py's last resort writes one per group of instances)
    used = {m.block.name for root in spec.graph.roots.values() for m in root.walk()
            if m.kind == "block" and m is not root and m.calls}
    assert {class_name(b) for b in used} <= set(classes)
    out = _Collect()
    assert pyflakes_check(source, "generated.py", Reporter(out, out)) == 0, out.text
    assert not [line for line in source.splitlines() if len(line) > 100]   # pysource.MAX_LINE
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        for fn in [n for n in cls.body if isinstance(n, ast.FunctionDef)]:
            read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert not [a.arg for a in fn.args.args[1:] if a.arg not in read], f"{cls.name}.{fn.name}"


# torch callables for each op that forward.py overwrites in place after (`torch.relu_`): the gradient through
# the in-place ReLU must be the one through torch.relu, which holds when the op's backward does not read its
# output
def _ln2d(x, w=torch.ones(3), b=torch.zeros(3)):
    return torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (3,), w, b).permute(0, 3, 1, 2)


IN_PLACE_AFTER = {
    "conv1d": (torch.nn.Conv1d(3, 4, 3), (2, 3, 8)), "conv2d": (torch.nn.Conv2d(3, 4, 3), (2, 3, 6, 6)),
    "conv3d": (torch.nn.Conv3d(3, 4, 3), (2, 3, 5, 5, 5)),
    "conv_transpose2d": (torch.nn.ConvTranspose2d(3, 4, 3), (2, 3, 5, 5)),
    "linear": (torch.nn.Linear(3, 4), (2, 3)), "tied_linear": (lambda x: torch.nn.functional.linear(x, torch.ones(4, 3)), (2, 3)),
    "batchnorm1d": (torch.nn.BatchNorm1d(3), (4, 3)), "batchnorm2d": (torch.nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "batchnorm3d": (torch.nn.BatchNorm3d(3), (2, 3, 3, 3, 3)), "layernorm": (torch.nn.LayerNorm(3), (2, 3)),
    "layernorm2d": (_ln2d, (2, 3, 4, 4)), "matmul": (lambda x: x @ x.transpose(-1, -2), (2, 3, 4)),
    "bmm": (lambda x: torch.bmm(x, x.transpose(1, 2)), (2, 3, 4)), "add": (lambda x: x + x * 2, (2, 3)),
    "sub": (lambda x: x - x * 2, (2, 3)), "mul": (lambda x: x * (x + 1), (2, 3)),
    "concat": (lambda x: torch.cat([x, x * 2], 1), (2, 3)),
}


# torch's out-of-place function of each activation that the lowerings write in place too (their attributes:
# negative_slope 0.2, alpha 0.5), the reference the in-place layer and call are compared with
_F = torch.nn.functional
OUT_OF_PLACE = {"relu": torch.relu, "relu6": _F.relu6, "hardswish": _F.hardswish, "hardsigmoid": _F.hardsigmoid,
                "silu": _F.silu, "mish": _F.mish, "leaky_relu": lambda x: _F.leaky_relu(x, 0.2),
                "elu": lambda x: _F.elu(x, 0.5)}
ACTIVATION_ATTRS = {"leaky_relu": {"negative_slope": 0.2}, "elu": {"alpha": 0.5}}


def _in_place(name: str, shape: tuple) -> list:
    """The activation `name` as the generated code writes it where its input is dead: its layer (from
    inplace_init) and its inline call (from inplace)."""
    from archdsl.backends.torch.lowerings import lowering
    from archdsl.errors import Span
    from archdsl.ops import REGISTRY, bind

    op, at = REGISTRY.get(name), Span("t", 1, 1)
    attrs = bind(op, [], {k: (v, at) for k, v in ACTIVATION_ATTRS.get(name, {}).items()}, at)
    scope = {"torch": torch, "nn": torch.nn, "F": _F}
    low = lowering(op)
    layer = eval(low.inplace_init(attrs, [shape]), scope)
    call = eval(f"lambda x: {low.inplace(attrs, [shape], ['x'])}", scope)
    assert layer.inplace
    return [layer, call]


@pytest.mark.parametrize("act", sorted(OUT_OF_PLACE))
@pytest.mark.parametrize("op", sorted(IN_PLACE_AFTER))
def test_an_in_place_activation_after_these_ops_keeps_the_gradient(op, act):
    from archdsl.backends.torch.forward import _BACKWARD_WITHOUT_OUTPUT
    from archdsl.backends.torch.lowerings.table import LOWERINGS

    assert set(IN_PLACE_AFTER) == _BACKWARD_WITHOUT_OUTPUT
    assert set(OUT_OF_PLACE) == {n for n, low in LOWERINGS.items() if low.inplace_init or low.inplace}
    f, shape = IN_PLACE_AFTER[op]
    torch.manual_seed(0)
    x = torch.randn(shape)
    grads = []
    for activation in [OUT_OF_PLACE[act]] + _in_place(act, shape):
        xi = x.clone().requires_grad_()
        grads.append(torch.autograd.grad(activation(f(xi)).pow(2).sum(), xi)[0])
    torch.testing.assert_close(grads[1], grads[0])
    torch.testing.assert_close(grads[2], grads[0])


IN_PLACE_LAYERS = """
name: in_place_layers
inputs: {x: [N, 3, 8, 8]}
blocks:
  B():
    layers:
      act: relu6
      body: "[conv2d(3, 3, padding=1), batchnorm2d(), hardswish]"
      norm: batchnorm2d()
      skip: silu
    forward: |
      y = norm(body(act(x)))
      skip(y) + y
layers:
  conv: conv2d(3, 1)
  b: B()
forward: |
  y = conv(x)
  b(y) * y
"""


def test_activation_layers_overwrite_only_dead_values(tmp_path):
    """A layer list's activation after its norm overwrites it, as torchvision's conv-norm-activation does; not
    one whose input another forward made (the caller reads it again here) nor one whose input is read again.
    The gradients are those of the same model with every activation out of place."""
    path = tmp_path / "in_place.yaml"
    path.write_text(IN_PLACE_LAYERS)
    net = archdsl.load(str(path)).build()
    assert [net.b.act.inplace, net.b.body[2].inplace, net.b.skip.inplace] == [False, True, False]
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    grads = []
    for inplace in (True, False):
        net.b.body[2].inplace = inplace
        net.zero_grad()
        net(x).square().sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


LOOPED = """
name: looped
inputs: {x: [N, 8], m: [N, 8]}
blocks:
  Gate(d):
    inputs: [x, m]
    layers: {fc: linear(d)}
    forward: |
      fc(x) * m
layers:
  layers: "[Gate(8) for _ in range(3)]"
forward: |
  FORWARD
"""


@pytest.mark.parametrize("forward, container", [
    ("for layer in layers:\n    x = layer(x, m)\n  x", "nn.ModuleList"),
    ("layers[2](layers[1](layers[0](x, m), m), m)", "nn.ModuleList"),
    ("layers(x, m)", "_Chain2"), ("layers[1:](layers[0](x, m), m)", "_Chain2")])
def test_a_list_of_two_input_layers_has_a_forward_only_where_it_is_called_whole(tmp_path, forward, container):
    path = tmp_path / "looped.yaml"
    path.write_text(LOOPED.replace("FORWARD", forward))
    spec = archdsl.load(str(path))
    assert f"self.layers = {container}(" in spec.source
    assert ("class _Chain2" in spec.source) == (container == "_Chain2")
    net = spec.build().eval()
    x, m = torch.randn(2, 8), torch.randn(2, 8)
    want = x
    for gate in net.layers:  # Gate written out: fc(x) * m, threaded through the three layers
        want = gate.fc(want) * m
    torch.testing.assert_close(net(x, m), want)
    if "[1:]" not in forward:  # (TorchScript calls no slice of a module list)
        torch.testing.assert_close(torch.jit.script(net)(x, m), want)  # it compiles every forward there is
