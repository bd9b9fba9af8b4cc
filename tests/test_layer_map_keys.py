"""Keys of maps of named layers beyond identifiers: `block1-0`, as torchvision's RegNet names its blocks.

Such a key is a state_dict key only: the generated code writes it as a string literal in the OrderedDict of an
nn.Sequential and reaches it by its position (`self.trunk[0]`), never as an identifier. Keys are compared with
what torch's own add_module makes; every other key is refused where the spec is read, with a located E003.
"""
from __future__ import annotations

import io
import os
import textwrap
import tokenize
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn

import archdsl
from archdsl.errors import ArchDSLError
from archdsl.testing import from_text
from tests.fuzzing import TALLY, assert_located, fuzz_settings, write_report
from tests.test_security import PAYLOADS, PWNED, import_file, write

STAGES = """\
inputs: {x: [N, 3, 8, 8]}
blocks:
  Unit(c):
    layers:
      conv: conv2d(c, 3, padding=1)
    forward: |
      relu(conv(x))
layers:
  trunk: "{'stage' + str(i + 1): {'stage' + str(i + 1) + '-' + str(j): Unit(4) for j in range(2)} for i in range(2)}"
  head: linear(5)
forward: |
  FORWARD
"""


class Unit(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.conv = nn.Conv2d(cin, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


def torch_stages() -> nn.Module:
    """The same model by hand, its stages named by torch's add_module as torchvision's AnyStage does."""
    model = nn.Module()
    model.trunk = nn.Sequential()
    for i in (1, 2):
        stage = nn.Sequential()
        for j in (0, 1):
            stage.add_module(f"stage{i}-{j}", Unit(3 if (i, j) == (1, 0) else 4, 4))
        model.trunk.add_module(f"stage{i}", stage)
    model.head = nn.Linear(4, 5)
    return model


def stages(forward: str):
    return from_text(STAGES.replace("FORWARD", forward), "stages.yaml", N=2)


def outside_strings(source: str) -> str:
    """The generated source without its string literals and comments."""
    return " ".join(t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                    if t.type not in (tokenize.STRING, tokenize.COMMENT))


def test_dash_keys_are_the_keys_torch_add_module_makes():
    spec = stages("x >> trunk >> global_avgpool2d >> head")
    model, ref = spec.build().eval(), torch_stages().eval()
    assert list(model.state_dict()) == list(ref.state_dict())
    assert "trunk.stage2.stage2-1.conv.weight" in model.state_dict()
    model.load_state_dict(ref.state_dict())  # strict
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), ref.head(ref.trunk(x).mean((2, 3))))
    # the keys are string literals of the OrderedDict, nowhere else
    assert "('stage1-0', Unit(3, 4))" in spec.source and "OrderedDict" in spec.source
    assert "-0" not in outside_strings(spec.source) and "-1" not in outside_strings(spec.source)


def test_a_dash_key_is_reached_by_its_position():
    spec = stages("y = trunk['stage1']['stage1-1'](trunk['stage1']['stage1-0'](x))\n"
                  "  trunk['stage2'](y) >> global_avgpool2d >> head")
    assert "self.trunk.stage1[1](self.trunk.stage1[0](x))" in spec.source.replace("\n", " ").replace("  ", "")
    model, ref = spec.build().eval(), torch_stages().eval()
    model.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 8, 8)
    stage1 = ref.trunk.stage1
    y = getattr(stage1, "stage1-1")(getattr(stage1, "stage1-0")(x))
    torch.testing.assert_close(model(x), ref.head(ref.trunk.stage2(y).mean((2, 3))))
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))  # integer indices script


def test_a_tie_reaches_its_source_through_dash_keys_and_list_indices():
    spec = from_text(textwrap.dedent("""\
        inputs: {tokens: {shape: [N, T], dtype: int64, high: 10}}
        layers:
          emb: "{'wte-0': embedding(10, 4)}"
          h: "[embedding(10, 4)]"
          head: tied_linear('emb.wte-0')
          head2: tied_linear('h.0')
        forward: |
          e = emb['wte-0'](tokens) + h[0](tokens)
          head(e) + head2(e)
        """), "tied.yaml", N=2, T=3)
    model = spec.build()
    assert model.head.weight is getattr(model.emb, "wte-0").weight and model.head2.weight is model.h[0].weight
    tokens = torch.randint(0, 10, (2, 3))
    e = model.emb[0](tokens) + model.h[0](tokens)
    torch.testing.assert_close(model(tokens), e @ model.emb[0].weight.T + e @ model.h[0].weight.T)


REFUSED = {  # key -> what the error says
    "a.b": "ASCII letters, digits, `_` and `-`", "": "ASCII letters, digits, `_` and `-`",
    "1-a": "starting with a letter", "-a": "starting with a letter", "a b": "ASCII letters",
    "_a-b": "starting with a letter", "\ufb01-0": "ASCII letters", "a');import os#": "ASCII letters",
    "_a": "kept for nn.Module", "forward": "nn.Module uses that name", "if": "Python keyword",
}


@pytest.mark.parametrize("key", sorted(REFUSED))
@pytest.mark.parametrize("form", ["comprehension", "mapping"])
def test_other_keys_are_refused_where_written(tmp_path, key, form):
    value = f"{{{key!r}: linear(3) for _ in [0]}}" if form == "comprehension" else {key: "linear(3)"}
    path = write(tmp_path, {"inputs": {"x": ["N", 4]}, "layers": {"m": value}, "forward": "x >> m"})
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path).check()
    err = info.value
    assert_located(err, path, open(path, "rb").read())
    assert err.code == "E003" and "cannot be a layer name" in err.message and REFUSED[key] in err.render()
    # the layer `m: {...}` (line 6 of the file yaml.safe_dump writes), or the key of the YAML mapping below it
    assert err.span.line == (6 if form == "comprehension" else 7), err.render()


@pytest.fixture(scope="module", autouse=True)
def _report():
    os.environ.pop(PWNED, None)
    yield
    write_report()


KEYS = st.one_of(st.sampled_from(sorted(REFUSED) + PAYLOADS + ["a-", "a--b", "A-0_x", "block1-0"]),
                 st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True),
                 st.text(st.characters(blacklist_categories=("Cs",)), max_size=10))


@fuzz_settings(ci=40, long=2_000)
@given(key=KEYS)
def test_fuzzed_keys_are_state_dict_keys_or_located_errors(tmp_path_factory, key):
    """A key is refused with a located error, or it is the state_dict key of a model that compiles, imports
    and runs; no payload runs."""
    folder = tmp_path_factory.mktemp("keys")
    path = write(folder, {"inputs": {"x": ["N", 4]}, "layers": {"m": {key: "linear(3)"}}, "forward": "x >> m"})
    try:
        spec = archdsl.load(path)
        out = folder / "generated.py"
        out.write_text(spec.source)
        model = import_file(out).Spec()
    except ArchDSLError as err:
        assert_located(err, path, open(path, "rb").read())
        TALLY[("layer map keys", err.code)] += 1
        return
    finally:
        assert PWNED not in os.environ, "a payload in the spec ran"
    TALLY[("layer map keys", "ok")] += 1
    assert list(model.state_dict()) == [f"m.{key}.weight", f"m.{key}.bias"]
    assert model(torch.zeros(2, 4)).shape == (2, 3)
    ref = nn.Sequential(OrderedDict([(key, nn.Linear(4, 3))]))  # torch accepts the key too
    assert list(ref.state_dict()) == [f"{key}.weight", f"{key}.bias"]
