"""The elementwise functions sin, cos and exp against torch's, and the Transformer's sinusoidal positions
(docs/transformers.md's recipe, computed in the spec) against the equation of Vaswani et al. 2017, Section 3.5,
written out entry by entry with Python's math module."""
import math
import re

import pytest
import torch

import archdsl
from archdsl.errors import ArchDSLError
from tests.helpers import ROOT

FUNCTIONS = """\
name: functions
inputs:
  x: [N, 5]
forward: |
  sin(x), cos(x), exp(x), x >> sin >> exp
"""


def test_sin_cos_exp_are_torchs(write_spec):
    spec = archdsl.load(write_spec(FUNCTIONS))
    x = torch.randn(3, 5, dtype=torch.float64).float()
    got = spec.build()(x)
    for value, want in zip(got, (torch.sin(x), torch.cos(x), torch.exp(x), torch.exp(torch.sin(x)))):
        torch.testing.assert_close(value, want, rtol=0, atol=0)
    assert "torch.sin(x)" in spec.source and "torch.exp(" in spec.source


def test_an_integer_input_is_a_located_error_with_the_cast_as_hint(write_spec):
    path = write_spec("name: int_sin\ninputs:\n  ids: {shape: [N, T], dtype: int64, high: 10}\nforward: |\n"
                      "  sin(ids)\n")
    with pytest.raises(ArchDSLError) as err:
        archdsl.load(path).check()
    text = err.value.render()
    assert ":5:3:" in text and "int64" in text and "cast(x, 'float32')" in text


def recipe() -> str:
    """The sinusoidal recipe of docs/transformers.md, as the page shows it."""
    page = (ROOT / "docs" / "transformers.md").read_text(encoding="utf-8")
    return re.search(r"^```yaml\n(name: sinusoidal_recipe\n.*?)^```", page, re.S | re.M).group(1)


def paper_table(T: int, d: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (Vaswani et al. 2017, 3.5)."""
    pe = torch.zeros(T, d, dtype=torch.float64)
    for pos in range(T):
        for i in range(d // 2):
            pe[pos, 2 * i] = math.sin(pos / 10000 ** (2 * i / d))
            pe[pos, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / d))
    return pe


@pytest.mark.parametrize("T, d", [(1, 2), (7, 32), (50, 64)])
def test_the_recipe_adds_the_papers_table_to_the_scaled_embeddings(write_spec, T, d):
    spec = archdsl.load(write_spec(recipe()), d=d)
    net = spec.build().eval()
    tokens = torch.randint(0, 100, (2, T))
    with torch.no_grad():
        out = net(tokens)
    embedded = net.embed(tokens).double() * math.sqrt(d)
    # float32: the angles (up to 49 radians) and the sum with the scaled embeddings (up to ~30) round at a few
    # 1e-6 (1.7e-6 measured at T=50, d=64); a wrong layout or frequency is off by order 1
    torch.testing.assert_close(out.double() - embedded, paper_table(T, d).expand(2, T, d), rtol=0, atol=1e-5)
    assert spec.summary().params == 100 * d   # the table has no weights: the embedding's alone
