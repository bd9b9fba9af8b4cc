"""`imports:`: blocks from another spec file behave like local blocks (the generated model equals the torch
computation written by hand), every refusal (absolute path, `..` or symlink out of the folder, a folder, a FIFO,
a cycle, a missing file or name, a clash, too deep, too many) is a located error, an error inside an imported
file is shown there with a note where it is imported, and no import value reads outside the folder."""
from __future__ import annotations

import builtins
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

import archdsl
from archdsl import zoo
from archdsl.cli import main
from archdsl.errors import ArchDSLError, Span
from archdsl.lsp.analysis import analyze
from archdsl.lsp.index import Index
from archdsl.lsp.server import imported_at
from archdsl.syntax.fmt import format_text
from tests.fuzzing import fuzz_settings
from tests.helpers import SPECS, optional

# a library: Mlp uses its file's Act, which the importing spec does not name
LIB = """\
doc: a block library
params: {width: 3}
blocks:
  Act(slope=0.1):
    forward: |
      leaky_relu(x, slope)
  Mlp(hidden, out, slope=0.2):
    layers:
      fc1: linear(hidden)
      act: Act(slope)
      fc2: linear(out)
    forward: |
      x >> fc1 >> act >> fc2
  Wide():
    layers: {fc: linear(width)}
    forward: |
      x >> fc
"""

MAIN = """\
imports:
  lib/blocks.yaml: [Mlp]
params: {hidden: 5}
inputs: {x: [N, 4]}
layers:
  mlp: Mlp(hidden, 2)
forward: |
  x >> mlp
"""


def tree(root: Path, files: dict) -> Path:
    """Write `files` (relative path -> text) under `root`; the path of the first."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / next(iter(files))


def failure(path: Path, **limits) -> ArchDSLError:
    with pytest.raises(ArchDSLError) as err:
        archdsl.load(str(path), limits=limits or None).check()
    return err.value


def test_imported_block_equals_torch_by_hand(tmp_path):
    spec = archdsl.load(str(tree(tmp_path, {"main.yaml": MAIN, "lib/blocks.yaml": LIB})))
    net = spec.build().eval()
    assert sorted(net.state_dict()) == ["mlp.fc1.bias", "mlp.fc1.weight", "mlp.fc2.bias", "mlp.fc2.weight"]
    x = torch.randn(3, 4)
    fc1, fc2 = net.mlp.fc1, net.mlp.fc2
    want = F.linear(F.leaky_relu(F.linear(x, fc1.weight, fc1.bias), 0.2), fc2.weight, fc2.bias)  # slope=0.2
    with torch.no_grad():
        torch.testing.assert_close(net(x), want)
    source = spec.source  # one class per block, named as declared: the imported one and the block it uses
    assert "class Mlp(nn.Module):" in source and "class Act(nn.Module):" in source
    words = " ".join(source.split())  # a long path wraps the docstring
    assert f'"""The block `Mlp` ({tmp_path / "lib" / "blocks.yaml"}, line 7)."""' in words  # its own file
    assert spec.summary().params == 4 * 5 + 5 + 5 * 2 + 2  # the two linear layers' weights and biases


def test_an_imported_block_does_not_see_the_importing_specs_names(tmp_path):
    """`Act` is a block of lib/blocks.yaml only: the importing spec cannot use it (it was not imported)."""
    main = tree(tmp_path, {"main.yaml": MAIN.replace("mlp: Mlp(hidden, 2)", "mlp: Act()"),
                           "lib/blocks.yaml": LIB})
    err = failure(main)
    assert (err.code, err.span.file, err.span.line) == ("E005", str(main), 6) and "`Act` is not defined" in err.message


def test_reading_its_files_top_level_names_is_a_located_error(tmp_path):
    main = tree(tmp_path, {"main.yaml": MAIN.replace("[Mlp]", "[Wide]").replace("Mlp(hidden, 2)", "Wide()"),
                           "lib/blocks.yaml": LIB})
    err = failure(main)
    lib = str(tmp_path / "lib" / "blocks.yaml")
    assert (err.code, err.span.file, err.span.line, err.span.col) == ("E005", lib, 15, 25)  # `width` in Wide
    rendered = err.render()
    assert "a parameter of" in rendered and "layers: {fc: linear(width)}" in rendered
    assert f"is imported at {main}:2:3" in rendered  # the note: where main.yaml imports it


def test_an_error_inside_an_imported_file_is_located_there(tmp_path):
    broken = LIB.replace("fc1: linear(hidden)", "fc1: linear(hidden")
    main = tree(tmp_path, {"main.yaml": MAIN, "lib/blocks.yaml": broken})
    err = failure(main)
    assert err.span.file == str(tmp_path / "lib" / "blocks.yaml") and err.span.line == 9
    assert "fc1: linear(hidden" in err.render() and f"is imported at {main}:2:3" in err.render()


def _refusal(tmp_path: Path, case: str) -> tuple[Path, dict]:
    """A spec importing something it must not; the limits of the case."""
    outside = tmp_path / "outside.yaml"
    outside.write_text(LIB)
    folder = tmp_path / "spec"
    folder.mkdir()
    imports, extra, limits = {"absolute": f"{outside}: [Mlp]", "dotdot": "../outside.yaml: [Mlp]",
                              "symlink": "link.yaml: [Mlp]", "missing": "nowhere.yaml: [Mlp]",
                              "folder": "sub.yaml: [Mlp]", "fifo": "pipe.yaml: [Mlp]",
                              "not_yaml": "lib/blocks.txt: [Mlp]", "cycle": "b.yaml: [B]",
                              "no_name": "lib/blocks.yaml: [Mpl]", "clash": "lib/blocks.yaml: [Mlp]",
                              "clash_param": "lib/blocks.yaml: [Mlp]", "clash_op": "ops.yaml: [relu]",
                              "clash_hidden": "lib/blocks.yaml: [Mlp]", "too_deep": "b.yaml: [B]",
                              "too_many": "lib/blocks.yaml: [Mlp]\n  c.yaml: [C]",
                              "too_many_files": "b.yaml: [B]"}[case], "", {}
    files = {"lib/blocks.yaml": LIB}
    if case == "symlink":
        os.symlink(outside, folder / "link.yaml")
    if case == "folder":
        (folder / "sub.yaml").mkdir()
    if case == "fifo":
        os.mkfifo(folder / "pipe.yaml")
    if case in ("cycle", "too_deep", "too_many_files"):
        files["b.yaml"] = "imports: {c.yaml: [C]}\nblocks:\n  B():\n    forward: |\n      x\n"
        files["c.yaml"] = "imports: {%s: [B]}\nblocks:\n  C():\n    forward: |\n      x\n" % (
            "b.yaml" if case == "cycle" else "d.yaml")
        files["d.yaml"] = "blocks:\n  D():\n    forward: |\n      x\n"
        limits = {"too_deep": {"max_import_depth": 2}, "too_many_files": {"max_imports": 2}}.get(case, {})
    if case == "too_many":
        files["c.yaml"] = "blocks:\n  C():\n    forward: |\n      x\n"
        limits = {"max_imports": 1}
    if case == "clash":
        extra = "blocks:\n  Mlp():\n    forward: |\n      x\n"
    if case == "clash_hidden":
        extra = "blocks:\n  Act():\n    forward: |\n      x\n"
    if case == "clash_param":
        imports += "\nlet: {Mlp: 1}"
    if case == "clash_op":
        files["ops.yaml"] = "blocks:\n  relu():\n    forward: |\n      x\n"
    main = f"imports:\n  {imports}\n{extra}inputs: {{x: [N, 4]}}\nforward: |\n  x\n"
    return tree(folder, {"main.yaml": main, **files}), limits


REFUSALS = {  # case -> (code, words of the message)
    "absolute": ("E001", "named relative to the importing spec"),
    "dotdot": ("E001", "out of the importing spec's folder"),
    "symlink": ("E001", "through a symbolic link out of the importing spec's folder"),
    "missing": ("E001", "No such file"),
    "folder": ("E001", "it is a folder"),
    "fifo": ("E001", "not a regular file"),
    "not_yaml": ("E001", "(.yaml or .yml)"),
    "cycle": ("E003", "import cycle: "),
    "no_name": ("E005", "has no block `Mpl`"),
    "clash": ("E003", "is also a block of this spec"),
    "clash_param": ("E003", "is also a let of this spec"),
    "clash_op": ("E003", "`relu` is imported from `ops.yaml` and is also an op"),
    "clash_hidden": ("E003", "brings the block `Act`"),
    "too_deep": ("E011", "nested more than 2 deep"),
    "too_many": ("E011", "`imports` names more than 1 files"),
    "too_many_files": ("E011", "the spec imports more than 2 files"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_located_errors(tmp_path, case):
    main, limits = _refusal(tmp_path, case)
    err = failure(main, **limits)
    code, words = REFUSALS[case]
    assert err.code == code and words in err.message, err.render()
    rendered = err.render()
    if case in ("cycle", "too_deep", "too_many_files"):  # found while reading c.yaml, imported by b.yaml, imported by main.yaml
        assert err.span == Span(str(main.parent / "c.yaml"), 1, 11, 6), rendered  # its `imports:` entry
        assert f"`{main.parent / 'b.yaml'}` is imported at {main}:2:3" in rendered
        if case == "cycle":
            assert "b.yaml -> " in err.message and err.message.endswith("c.yaml -> " + str(main.parent / "b.yaml"))
        return
    assert (err.span.file, err.span.line) == (str(main), 2), rendered  # the imports entry, or the name in it
    assert rendered.splitlines()[1].strip().startswith(f"{err.span.line} |")  # the source line is shown


def test_a_cycle_through_the_importing_spec(tmp_path):
    main = tree(tmp_path, {"main.yaml": "imports: {b.yaml: [B]}\ninputs: {x: [N, 4]}\nforward: |\n  x\n",
                           "b.yaml": "imports: {main.yaml: [M]}\nblocks:\n  B():\n    forward: |\n      x\n"})
    err = failure(main)
    assert err.message == f"import cycle: {main} -> {tmp_path / 'b.yaml'} -> {main}"
    assert (err.span.file, err.span.line) == (str(tmp_path / "b.yaml"), 1)


def test_a_block_library(tmp_path, capsys):
    lib = tree(tmp_path, {"lib.yaml": LIB})
    assert main(["check", str(lib)]) == 0
    assert capsys.readouterr().out == f"{lib}: a block library (no model), ok: blocks Act, Mlp, Wide\n"
    assert main(["compile", str(lib)]) == 1
    assert "holds blocks only (a block library)" in capsys.readouterr().err
    assert main(["check", str(SPECS / "blocks" / "segmentation_heads.yaml")]) == 0
    assert "blocks ASPP, LRASPPHead" in capsys.readouterr().out


def test_zoo_names_skip_block_libraries(tmp_path, monkeypatch):
    tree(tmp_path, {"lib.yaml": LIB, "net.yaml": MAIN.replace("lib/blocks.yaml", "lib.yaml")})
    monkeypatch.setenv(zoo.ENV, str(tmp_path))
    assert list(zoo.names()) == ["net"]
    assert zoo.load("net").summary().params == 4 * 5 + 5 + 5 * 2 + 2


def test_zoo_segmentation_heads_are_imported_not_copied():
    for name in ("resnet", "mobilenet_v3"):
        doc = archdsl.load(str(SPECS / f"{name}.yaml")).doc
        assert doc.blocks["ASPP"].span.file.endswith("blocks/segmentation_heads.yaml")
        assert "ASPP(" not in (SPECS / f"{name}.yaml").read_text().split("\nblocks:")[1].split("\nlayers:")[0]


def test_fmt_formats_the_imports_key_and_reads_no_import(tmp_path):
    text = "inputs: {x: [N, 4]}\nimports: {gone.yaml: [A], lib.yaml: \"*\"}   # note\nforward: |\n  x\n"
    assert format_text(text, str(tmp_path / "main.yaml")) == (
        'imports:                                   # note\n  gone.yaml: [A]\n  lib.yaml: "*"\n'
        "inputs:\n  x: [N, 4]\nforward: |\n  x\n")
    assert main(["fmt", "--check", str(SPECS / "blocks" / "segmentation_heads.yaml")]) == 0


def test_schema_accepts_imports_and_libraries():
    jsonschema = optional("jsonschema")
    import yaml

    from archdsl.syntax.schema import spec_schema

    validator = jsonschema.Draft7Validator(spec_schema())
    for path in (SPECS / "blocks" / "segmentation_heads.yaml", SPECS / "resnet.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path
    assert list(validator.iter_errors(yaml.safe_load(MAIN.replace("[Mlp]", "[]"))))  # no names
    assert list(validator.iter_errors(yaml.safe_load(MAIN.replace("lib/blocks.yaml", "/etc/x.yaml"))))


def test_language_server_places_imported_problems_at_their_import(tmp_path):
    main_path = tree(tmp_path, {"main.yaml": MAIN, "lib/blocks.yaml": LIB.replace("linear(hidden)", "linear(hidden, 0)")})
    result = analyze(main_path.read_text(), str(main_path))
    problem = next(p for p in result.problems if p.severity == "error")
    assert problem.span.file == str(tmp_path / "lib" / "blocks.yaml")
    assert imported_at(result, str(main_path), problem.span.file) == result.doc.imports[0].span  # line 2
    assert result.doc.imports[0].span.line == 2


def test_language_server_definition_of_an_imported_block(tmp_path):
    main_path = tree(tmp_path, {"main.yaml": MAIN, "lib/blocks.yaml": LIB})
    index = Index(archdsl.load(str(main_path)).doc)
    ref = index.at(6, 9)  # `Mlp` in `mlp: Mlp(hidden, 2)`
    target = index.resolve(ref)
    assert (target.kind, target.span.file, target.span.line) == ("block", str(tmp_path / "lib" / "blocks.yaml"), 7)
    assert index.at(7, 3) is None  # where lib/blocks.yaml defines `Mlp`: nothing in this file


# --- no import value reads outside the folder, and none gives a traceback ----------------------------------

PATHS = st.one_of(st.sampled_from(["lib/blocks.yaml", "../outside.yaml", "lib/../../outside.yaml", "/etc/passwd",
                                   "link.yaml", "lib", "lib/", ".", "main.yaml", "~/x.yaml", "\\\\server\\x.yaml",
                                   "lib//blocks.yaml", "./lib/blocks.yaml", "C:/x.yaml", "lib/blocks.yml"]),
                  st.text(alphabet="ab./\\~:-_ \0", max_size=20))
NAMES = st.one_of(st.just('"*"'), st.lists(st.sampled_from(["Mlp", "Act", "Wide", "x", "relu", "1a", "Mlp"]),
                                           max_size=3).map(lambda ns: "[" + ", ".join(ns) + "]"))


@contextmanager
def opens():
    """The real paths of the files opened (open and os.open) while the block runs."""
    opened: list = []
    real_open, real_os_open = builtins.open, os.open

    def seen(p) -> None:
        if isinstance(p, (str, bytes, os.PathLike)):
            opened.append(os.path.realpath(os.fsdecode(p)))

    builtins.open = lambda p, *a, **k: seen(p) or real_open(p, *a, **k)
    os.open = lambda p, *a, **k: seen(p) or real_os_open(p, *a, **k)
    try:
        yield opened
    finally:
        builtins.open, os.open = real_open, real_os_open


@fuzz_settings(ci=60)
@given(PATHS, NAMES)
def test_import_values_never_read_outside_the_folder(tmp_path_factory, path, names):
    import json

    root = tmp_path_factory.mktemp("imp")
    (root / "outside.yaml").write_text(LIB)
    folder = root / "spec"
    spec = tree(folder, {"main.yaml": f"imports:\n  {json.dumps(path)}: {names}\ninputs: {{x: [N, 4]}}\n"
                                      "forward: |\n  x\n", "lib/blocks.yaml": LIB})
    os.symlink(root / "outside.yaml", folder / "link.yaml")
    with opens() as opened:
        try:
            archdsl.load(str(spec)).check()
        except ArchDSLError as err:
            assert err.span is not None and os.path.realpath(err.span.file).startswith(str(folder.resolve()) + os.sep)
            err.render()
    outside = [p for p in opened if isinstance(p, str) and not p.startswith(str(folder.resolve()) + os.sep)
               and not p.endswith((".py", ".pyc")) and not p.startswith(sys.prefix)]
    assert not outside, outside
