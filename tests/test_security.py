"""Specs are untrusted input: one regression test per finding of issue 16's "A spec can run code", and a fuzzer.

Names that become Python identifiers are refused where the spec is read, with a located error. Strings (docs,
the spec's path, float attributes) are accepted and land in the generated file as literals that read back as
written. Every spec that compiles is parsed, imported from a file and built, and run once; every payload
would set the environment variable PWNED, which the autouse fixture asserts it never is.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import os
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given, strategies as st

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchDSLError
from archdsl.names import MODULE_ATTRS, RESERVED
from tests.fuzzing import TALLY, assert_located, fuzz_settings, write_report

PWNED = "ARCHDSL_PWNED"
RUN = f"__import__('os').environ.setdefault('{PWNED}', '1')"  # what every payload runs if it escapes
BASE = {"inputs": {"x": ["N", 4]}, "layers": {"fc": "linear(3)"}, "forward": "x >> fc"}
LOSS = {"loss": {"inputs": {"y": ["N", 3]}, "forward": "mse(y, y)"}}


@pytest.fixture(autouse=True)
def no_payload_runs():
    os.environ.pop(PWNED, None)
    yield
    assert PWNED not in os.environ, "a payload in the spec ran"


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report()


def write(folder: Path, spec: dict, name: str = "spec.yaml") -> str:
    """The spec as YAML (strings escaped by the YAML dumper, so the file holds exactly these values)."""
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return str(path)


def refused(path: str, near: str) -> ArchDSLError:
    """Reading the spec fails with a located E003 on the first line holding `near`."""
    with pytest.raises(ArchDSLError) as info:
        archdsl.load(path).check()
    err, data = info.value, Path(path).read_bytes()
    assert_located(err, path, data)
    assert err.code == "E003", err.render()
    lines = data.decode().splitlines()
    assert near in lines[err.span.line - 1], err.render()
    assert "\n" not in err.message and "^" in err.render()
    return err


def import_file(path: Path):
    spec = importlib.util.spec_from_file_location("archdsl_security_generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compiled(path: str, folder: Path):
    """Compile (API and CLI), parse and import the file, build the model and run it: (spec, module, model)."""
    spec = archdsl.load(path)
    ast.parse(spec.source)
    out = folder / "generated_model.py"
    assert main(["compile", path, "-o", str(out)]) == 0
    module = import_file(out)
    model = spec.build()
    model(torch.zeros(2, 4))
    return spec, module, model


def reads_back(doc: str, obj) -> bool:
    """`obj`'s docstring holds `doc`, both read as docstrings are (continuation lines indented, tabs expanded)."""
    return inspect.cleandoc(doc) in inspect.getdoc(obj)


# --- names: refused where they are read ---------------------------------------------------------------

def test_spec_name_cannot_inject_code(tmp_path):
    payload = f"X(nn.Module):\n    {RUN}\nclass Y"
    refused(write(tmp_path, {"name": payload, **BASE}), "name:")


def test_input_name_cannot_inject_code(tmp_path):
    spec = {**BASE, "inputs": {f"x={RUN}": ["N", 4]}, "forward": "x >> fc"}
    refused(write(tmp_path, spec), "__import__")


@pytest.mark.parametrize("name", ["my net", "my`net", "my\0net", "my\u2028net"])
def test_spec_name_must_be_an_identifier(tmp_path, name):
    refused(write(tmp_path, {"name": name, **BASE}), "name:")


@pytest.mark.parametrize("name", ["self", "1x", "", "a b", "torch"])
def test_input_name_must_be_free_for_the_generated_code(tmp_path, name):
    spec = {**BASE, "inputs": {name: ["N", 4]}, "forward": f"{name} >> fc"}
    refused(write(tmp_path, spec), name or "''")


def test_objective_named_super_is_refused(tmp_path):
    spec = {**BASE, "objectives": {"super": LOSS["loss"]}}
    refused(write(tmp_path, spec), "super:")


@pytest.mark.parametrize("kind", ["models", "layers"])
def test_names_equal_after_nfkc_are_refused(tmp_path, kind):
    """`ﬁ` (U+FB01) is `fi` to Python: the second model (or layer) would silently replace the first."""
    if kind == "models":
        spec = {"models": {"fi": BASE, "\ufb01": BASE}}
    else:
        spec = {**BASE, "layers": {"fi": "linear(3)", "\ufb01": "linear(3)"}, "forward": "x >> fi"}
    err = refused(write(tmp_path, spec), "\\uFB01")
    assert "as `fi`" in err.hint and "ASCII" in err.hint


BLOCK = {"blocks": {"B(width)": {"layers": {"fc": "linear(width)"}, "forward": "x >> fc"}},
         **BASE, "layers": {"fc": "B(3)"}}
NAME_CASES = {  # every kind of name: (spec, text on the line of the error)
    "spec named like a keyword class": ({"name": "none", **BASE}, "name:"),
    "spec whose class shadows F": ({"name": "f", **BASE}, "name:"),
    "block whose class is a keyword": ({**BLOCK, "blocks": {"true(width)": BLOCK["blocks"]["B(width)"]},
                                        "layers": {"fc": "true(3)"}}, "true(width)"),
    "block parameter shadowing nn": ({**BLOCK, "blocks": {"B(nn)": {"layers": {"fc": "linear(nn)"},
                                                                   "forward": "x >> fc"}}}, "B(nn)"),
    "block parameter twice": ({**BLOCK, "blocks": {"B(width, width=2)": BLOCK["blocks"]["B(width)"]}},
                              "B(width, width=2)"),
    "block input self": ({**BLOCK, "blocks": {"B(width)": {**BLOCK["blocks"]["B(width)"], "inputs": ["self"]}}},
                         "- self"),
    "model named forward": ({"models": {"forward": BASE}}, "forward:"),
    "model named range": ({"models": {"range": BASE}}, "range:"),
    "layer named train": ({**BASE, "layers": {"train": "linear(3)"}, "forward": "x >> train"}, "train:"),
    "layer starting with _": ({**BASE, "layers": {"_fc": "linear(3)"}, "forward": "x >> _fc"}, "_fc:"),
    "objective input torch": ({**BASE, "objectives": {"loss": {**LOSS["loss"], "inputs": {"torch": ["N", 3]}}}},
                              "torch:"),
    "let named torch": ({"let": {"torch": 1}, **BASE}, "torch:"),
    "parameter named print": ({"params": {"print": 1}, **BASE}, "print:"),
    "dim named lambda": ({**BASE, "inputs": {"x": ["lambda", 4]}}, "lambda"),
    "dim named F": ({**BASE, "inputs": {"x": ["N", "F"]}}, "- F"),
}


@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_every_kind_of_name_is_checked(tmp_path, case):
    spec, near = NAME_CASES[case]
    refused(write(tmp_path, spec), near)


def test_a_spec_without_a_name_is_named_after_its_file(tmp_path):
    path = write(tmp_path, BASE, name='f """x\ny.yaml')
    assert archdsl.load(path).name == "f____x_y"
    assert archdsl.load(write(tmp_path, BASE, name="none.yaml")).name == "model_none"


def test_reserved_names_cover_what_the_generated_code_uses():
    """Every global name the zoo's generated files look up is reserved or defined by the file itself."""
    for path in sorted((Path(__file__).parent.parent / "specs").glob("*.yaml")):
        tree = ast.parse(archdsl.load(str(path)).source)
        defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        local = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)} | \
                {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        assert loaded - local - defined <= RESERVED, path.name


def test_module_attrs_are_nn_modules_attributes():
    assert {a for a in dir(torch.nn.Module) if not a.startswith("_")} | {"training"} == MODULE_ATTRS


# --- strings: accepted, and read back as written -------------------------------------------------------

def test_top_level_doc_cannot_inject_code(tmp_path):
    doc = f'x"""; {RUN}; """y'
    _, module, model = compiled(write(tmp_path, {"doc": doc, **BASE}), tmp_path)
    assert reads_back(doc, type(model)) and reads_back(doc, getattr(module, type(model).__name__))


@pytest.mark.parametrize("name", [f'a"""\n{RUN}\n"""b.yaml', f"a\n{RUN}\n.yaml", f"a\r{RUN}.yaml",
                                  "a\\N{b}.yaml"])
def test_spec_path_cannot_inject_code(tmp_path, name):
    compiled(write(tmp_path, BASE, name=name), tmp_path)


DOCS = ["\\N", "\\N{BULLET}", "\\U0001", "a\0b", "end\\", '"', "'''", "a\u2028b\x85c\x0cd", "é ﬁ 🙂"]


@pytest.mark.parametrize("doc", DOCS)
def test_doc_reads_back_as_written(tmp_path, doc):
    _, module, model = compiled(write(tmp_path, {"doc": doc, **BASE}), tmp_path)
    assert reads_back(doc, getattr(module, type(model).__name__))


@pytest.mark.parametrize("doc", DOCS)
def test_objective_doc_reads_back_as_written(tmp_path, doc):
    path = write(tmp_path, {**BASE, "objectives": {"loss": {"doc": doc, **LOSS["loss"]}}})
    spec, module, _ = compiled(path, tmp_path)
    assert reads_back(doc, module.loss) and reads_back(doc, spec.objective("loss"))


FLOATS = {"float('nan')": math.nan, "float('inf')": math.inf, "-float('inf')": -math.inf}


@pytest.mark.parametrize("value", sorted(FLOATS))
def test_float_attributes_are_emitted_as_values(tmp_path, value):
    """NaN and infinities are emitted so that they read back, or refused with a located error."""
    path = write(tmp_path, {**BASE, "layers": {"fc": f"leaky_relu({value})"}})
    try:
        _, _, model = compiled(path, tmp_path)
    except ArchDSLError as err:
        assert_located(err, path, Path(path).read_bytes())
        return
    slope, want = model.fc.negative_slope, FLOATS[value]
    assert slope == want or (math.isnan(slope) and math.isnan(want))


# --- the fuzzer: random names and strings through the whole pipeline ------------------------------------

PAYLOADS = [f"X(nn.Module):\n    {RUN}\nclass Y", f'x"""; {RUN}; """y', f"x={RUN}", f"\n{RUN}\n", f"'''{RUN}'''",
            f"\\N{{{RUN}}}", f"{RUN}  # ", "\0", "\\", '"""', "\u2028", "\x85", "\r"]
ODD = sorted(RESERVED | MODULE_ATTRS | {"fi", "\ufb01", "ℌ", "x", "x_", "_x", "1x", "", " ", "a b", "Model", "N",
                                        "ﬀ", "K\u212a", "nan", "inf", "true", "null", "size1", "in_channels"})
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
NAMES = st.one_of(st.sampled_from(ODD), st.sampled_from(PAYLOADS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}",
                                                                                  fullmatch=True), TEXT)
DOC_TEXT = st.one_of(st.sampled_from(PAYLOADS), TEXT)
FILE_NAMES = st.one_of(st.just("spec"), st.sampled_from(ODD + PAYLOADS), TEXT).map(
    lambda s: s.replace("/", "_").replace("\0", "_")[:50] + ".yaml")  # at most 4 * 50 bytes


@st.composite
def name_specs(draw) -> dict:
    """A spec with a block, a layer, an input and an objective, each named at random, and random docs."""
    n = {k: draw(NAMES) if draw(st.integers(0, 3)) == 0 else k  # a quarter of the names at random
         for k in ("spec", "Block", "width", "x", "inner", "fc", "loss", "y")}
    block = {"doc": draw(DOC_TEXT), "layers": {n["inner"]: f"linear({n['width']})"}, "forward": f"x >> {n['inner']}"}
    return {"name": n["spec"], "doc": draw(DOC_TEXT), "blocks": {f"{n['Block']}({n['width']})": block},
            "inputs": {n["x"]: ["N", 4]}, "layers": {n["fc"]: f"{n['Block']}(3)"}, "forward": f"{n['x']} >> {n['fc']}",
            "objectives": {n["loss"]: {"doc": draw(DOC_TEXT), "inputs": {n["y"]: ["N", 3]},
                                       "forward": f"mse({n['y']}, {n['y']})"}}}


@fuzz_settings(ci=40)
@given(spec=name_specs(), file_name=FILE_NAMES)
def test_fuzzed_names_and_strings(tmp_path_factory, spec, file_name):
    """A clean located error, or a file that parses, imports, builds and runs, docs read back; no payload runs."""
    folder = tmp_path_factory.mktemp("names")
    path = write(folder, spec, name=file_name)
    try:
        loaded, module, model = compiled(path, folder)
    except ArchDSLError as err:
        assert_located(err, path, Path(path).read_bytes())
        TALLY[("security: names", err.code)] += 1
        return
    finally:
        assert PWNED not in os.environ, "a payload in the spec ran"
    TALLY[("security: names", "ok")] += 1
    assert reads_back(spec["doc"], getattr(module, type(model).__name__))
    objective = next(iter(spec["objectives"]))
    assert reads_back(spec["objectives"][objective]["doc"], loaded.objective(objective))
