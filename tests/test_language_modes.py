"""Train/eval branches: `a if training else b` is generated as `a if self.training else b`."""
import textwrap

import pytest
import torch

import archdsl
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
