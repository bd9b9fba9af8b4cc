"""Every ```yaml and ```python snippet of README.md and docs/*.md is checked.

YAML: a snippet that is a whole spec is loaded and checked (every shape inferred); a fragment (one or a few
sections, naming layers or blocks defined elsewhere) is completed with a placeholder `inputs:` and `forward:`
where it lacks them and parsed: structure and expression syntax. Python: each snippet is listed in PYTHON
with how it is checked: run (in the repository root, with the preamble it needs), or compiled, with why.
"""
from __future__ import annotations

import re
import textwrap

import pytest
import yaml

import archdsl
from archdsl.syntax.spec import parse_spec
from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(yaml|python)\n(.*?)^```", re.S | re.M)


def snippets(lang: str) -> list:
    """(id, text) of each snippet in `lang`; id: page and line of its fence."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == lang:
                out.append((f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}", m.group(2)))
    return out


EXCERPT_PARAMS = {"input_dim": 784, "hidden": 500, "latent": 20}  # specs/vae.yaml's defaults


def is_spec(text: str) -> bool:
    try:
        doc = parse_spec(text, "snippet.yaml")
    except archdsl.ArchDSLError:
        return False
    return not doc.library  # blocks only: a fragment, completed below


@pytest.mark.parametrize("where,text", snippets("yaml"), ids=[w for w, _ in snippets("yaml")])
def test_yaml_snippet(where, text, tmp_path):
    data = yaml.safe_load(text)
    if data is None:  # only comments: the editor's schema line in docs/testing.md
        assert text.startswith("# yaml-language-server: $schema="), where
    elif is_spec(text):
        if "params" not in data:  # an excerpt that leaves its params out: these values stand in
            used = {k: v for k, v in EXCERPT_PARAMS.items() if re.search(rf"\b{k}\b", text)}
            text = "params: {" + ", ".join(f"{k}: {v}" for k, v in used.items()) + "}\n" + text
        path = tmp_path / "snippet.yaml"
        path.write_text(text)
        archdsl.load(str(path)).check()
    else:
        filler = ("" if "inputs" in data or "models" in data else "inputs: {x: [N, 4]}\n") + \
                 ("" if "forward" in data or "models" in data else "forward: |\n  x\n")
        parse_spec(text + filler, "snippet.yaml")


X = "import torch\nx = torch.rand(8, 64)  # data in [0, 1] for the Bernoulli decoder\n"
TESTING = "import archdsl\nfrom hypothesis import given\nfrom archdsl.testing import assert_shapes_match, dims\n"
# first line of a python snippet -> ("run", preamble, {text: replacement}, test functions it defines to call)
# or ("compile", why it is not run)
PYTHON = {
    'import archdsl\nspec = archdsl.load("specs/resnet.yaml", depth=50, num_classes=10)': ("run", "", {}, []),
    "import archdsl\nfrom archdsl.backends.torch import export": (
        "compile", "its last line needs CUDA; tests/test_deploy.py runs each export function on the zoo"),
    'spec = archdsl.load("specs/vae.yaml", input_dim=64, latent=2)': ("run", "import archdsl\n" + X, {}, []),
    "class Vae(nn.Module):": ("compile", "an excerpt of generated code (nn, Encoder, Decoder are the file's)"),
    "def neg_elbo(x, x_hat, mu, logvar):": ("compile", "an excerpt of generated code (F is the file's)"),
    'spec = archdsl.load("specs/resnet.yaml", depth=50)': ("compile", "needs CUDA"),
    "import archdsl\nfrom hypothesis import given, settings": (
        "run", "", {"specs/my_net.yaml": "specs/lenet5.yaml"}, ["test_static_shapes_are_pytorch_shapes"]),
    'SPEC18 = archdsl.load("specs/resnet.yaml", depth=18)': ("run", TESTING, {}, ["test_resnet18"]),
    "from archdsl import zoo": ("run", "", {}, []),
    "import torch\nfrom torch.utils.flop_counter import FlopCounterMode": ("run", "", {}, []),
}


def how(text: str):
    found = [v for k, v in PYTHON.items() if text.startswith(k)]
    assert len(found) == 1, f"add this snippet to PYTHON in tests/test_doc_snippets.py:\n{text}"
    return found[0]


@pytest.mark.parametrize("where,text", snippets("python"), ids=[w for w, _ in snippets("python")])
def test_python_snippet(where, text, monkeypatch):
    mode, *rest = how(text)
    compile(textwrap.dedent(text), where, "exec")  # a syntax error fails here
    if mode == "compile":
        return
    preamble, replace, tests = rest
    for old, new in replace.items():
        assert old in text, where
        text = text.replace(old, new)
    monkeypatch.chdir(ROOT)  # the snippets name specs/... relative to the repository
    namespace: dict = {}
    exec(compile(preamble + text, where, "exec"), namespace)
    for name in tests:
        namespace[name]()
