"""archdsl.zoo, the catalogue of the zoo: names, load, where the specs are found, and `archdsl zoo`."""
from __future__ import annotations

import re
import shutil

import pytest

import archdsl
from archdsl import zoo
from archdsl.cli import main
from tests.helpers import SPECS
from tests.reference import zoo as reference


def test_torchvision_names_map_to_spec_and_parameters():
    names = zoo.names()
    assert names["resnet50"] == (SPECS / "resnet.yaml", {"depth": 50})
    assert names["resnext50_32x4d"] == (SPECS / "resnet.yaml", {"depth": 50, "groups": 32, "width_per_group": 4})
    assert names["googlenet"] == (SPECS / "googlenet.yaml", {"variant": "torchvision"})
    assert names["efficientnet_b3"] == (SPECS / "efficientnet.yaml", {"variant": "b3"})


def test_every_torchvision_name_is_a_reference_model():
    """No typo in the catalogue: each torchvision name is a model of torchvision_zoo.json."""
    assert set(zoo.TORCHVISION) <= set(reference())


def test_every_spec_of_the_zoo_is_in_the_catalogue():
    listed = {path for path, _ in zoo.names().values()}
    assert listed == set(SPECS.glob("*.yaml"))
    names = zoo.names()
    assert names["lenet5"] == (SPECS / "lenet5.yaml", {})  # a spec no torchvision model uses: its own name
    assert "resnet" not in names  # ... but a torchvision family is listed under torchvision's names only


def test_load_applies_the_catalogue_parameters_and_overrides():
    spec = zoo.load("resnet18", num_classes=10, N=2)
    assert isinstance(spec, archdsl.Spec)
    # torchvision's resnet18 with its 512 -> 1000 fc replaced by 512 -> 10
    assert spec.summary().params == reference()["resnet18"]["num_params"] - 512 * 990 - 990
    assert [list(s) for s in spec.input_shapes()] == [[2, 3, 224, 224]]
    assert zoo.load("squeezenet1_1", version=1.0).summary().params == reference()["squeezenet1_0"]["num_params"]


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match="resnet50"):
        zoo.load("resnet_50")


def test_specs_folder_from_the_environment(tmp_path, monkeypatch):
    shutil.copy(SPECS / "lenet5.yaml", tmp_path / "lenet5.yaml")
    shutil.copy(SPECS / "resnet.yaml", tmp_path / "resnet.yaml")
    monkeypatch.setenv(zoo.ENV, str(tmp_path))
    names = zoo.names()
    assert names["resnet152"] == (tmp_path / "resnet.yaml", {"depth": 152})
    assert "alexnet" not in names and set(names) >= {"lenet5", "resnext101_64x4d"}
    monkeypatch.setenv(zoo.ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=zoo.ENV):
        zoo.names()


def test_cli_lists_models_with_parameters_and_macs(capsys):
    assert main(["zoo", "resnet50", "squeezenet*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "spec", "variant", "parameters", "MACs"]
    assert [line.split()[0] for line in lines[1:]] == ["resnet50", "squeezenet1_0", "squeezenet1_1"]
    # torchvision's count and its published 4.089 GMACs (torchvision_zoo.json)
    assert lines[1].split() == ["resnet50", "specs/resnet.yaml", "depth=50", "25,557,032", "4.089G"]


def test_cli_without_cost_and_without_match(capsys):
    assert main(["zoo", "--no-cost", "vgg1?_bn"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["vgg11_bn", "specs/vgg.yaml", "depth=11", "batch_norm=true"]
    assert len(out) == 1 + 4
    assert main(["zoo", "no_such_model*"]) == 2
    assert "no zoo model matches" in capsys.readouterr().err


# --- docs/zoo.md: every row checked against the specs and the reference -------------------------------------

ZOO_MD = SPECS.parent / "docs" / "zoo.md"


def doc_table(head: str) -> list[list[str]]:
    """The rows (cells, stripped) of docs/zoo.md's table whose header line starts with `head`."""
    lines = ZOO_MD.read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def giga(n: int) -> str:
    return f"{n / 1e9:.3f}G"


def fingerprint_profile(model: str) -> str:
    """Where the parity tests run `model`'s fingerprint: 'default' (every run) or 'slow' (ARCHDSL_SLOW_TESTS=1)."""
    from tests.reference import DEFAULT, MODELS
    from tests.specs.test_zoo_parity import SLOW_MODELS

    if model in MODELS:  # the seed's families: tests/specs/test_cnn_parity.py
        return "default" if model in DEFAULT else "slow"
    return "slow" if model in SLOW_MODELS else "default"


MACS_CELL = re.compile(r"(?P<macs>\d+\.\d{3}G)(?: at (?P<size>\d+))?(?: \((?P<aux>\d+\.\d{3}G) with the aux head\))?")


MODEL_ROWS = doc_table("| model | spec | variant | parameters | MACs (archdsl) |")


def test_zoo_md_has_a_row_for_every_reference_model():
    assert [r[0] for r in MODEL_ROWS] == list(zoo.TORCHVISION) and set(zoo.TORCHVISION) == set(reference())


@pytest.mark.parametrize("row", MODEL_ROWS, ids=[r[0] for r in MODEL_ROWS])
def test_zoo_md_model_row_agrees_with_the_spec(row):
    """A model of torchvision_zoo.json: the spec and variant of `archdsl zoo`, the spec's parameter count, its MACs
    for one image at the size the row names (with torchvision's auxiliary head where the row adds it),
    torchvision's published `_ops`, and the profile that runs its fingerprint."""
    from tests.specs.test_zoo_parity import AUX_MACS, PUBLISHED_AT

    model, spec_file, variant, params, macs_cell, ops, profile = row
    assert zoo.rows([model], cost=False)[0][1:3] == (spec_file, variant)
    m = MACS_CELL.fullmatch(macs_cell)
    assert m, f"MACs cell {macs_cell!r}"
    size = PUBLISHED_AT.get(model, {}).get("image_size")
    assert m["size"] == (str(size) if size else None)
    summary = zoo.load(model, N=1, **PUBLISHED_AT.get(model, {})).summary()
    assert m["macs"] == giga(summary.entry().macs)
    assert m["aux"] == (giga(summary.entry().macs + AUX_MACS[model]) if model in AUX_MACS else None)
    count = zoo.load(model).summary().params if size else summary.params  # the size may change it (vit_h_14)
    assert params == f"{count:,}" == f"{reference()[model]['num_params']:,}"
    assert float(ops) == reference()[model]["published"]["_ops"]
    assert profile.split()[0] == fingerprint_profile(model)


def spec_lines(name: str) -> int:
    return len((SPECS / name).read_text(encoding="utf-8").splitlines())


def test_zoo_md_spec_lines_are_the_files_and_the_totals_add_up():
    """The spec side of the table of lines is counted here; torchvision's (from its wheel, not installed) must at
    least add up to the totals row."""
    *rows, total = doc_table("| family | spec (lines) |")
    counted = set()
    for _, specs, _, whole, without in rows:
        for name, n in re.findall(r"([\w/]+\.yaml): (\d+)", specs):
            assert int(n) == spec_lines(name), name
            counted.add(name)
        assert int(whole) >= int(without) > 0
    families = {path.name for path, _ in (zoo.names()[m] for m in zoo.TORCHVISION)}
    assert counted == families | {"blocks/segmentation_heads.yaml"}
    assert total[0] == "all"
    assert int(total[1].replace(",", "")) == sum(spec_lines(name) for name in counted)
    for col in (3, 4):
        assert int(total[col].replace(",", "")) == sum(int(r[col]) for r in rows)


def test_zoo_md_transformer_rows_agree_with_the_specs():
    rows = doc_table("| spec | model | parameters | MACs per sequence |")
    lengths = {"transformer": {"S": 512, "T": 512}, "gpt2": {"T": 1024}, "bert": {"T": 512}}
    assert [r[0].split()[0] for r in rows] == [f"specs/{n}.yaml" for n in lengths]
    for (spec_cell, _, params, macs, _), (name, dims) in zip(rows, lengths.items()):
        assert spec_cell == f"specs/{name}.yaml ({spec_lines(name + '.yaml')} lines)"
        summary = zoo.load(name).summary()
        assert params == f"{summary.params:,}"
        at = " = ".join(dims) + f" = {next(iter(dims.values()))}"
        assert macs == f"{giga(summary.macs_at(N=1, **dims))} at {at}"
    # the counts of issue 14
    assert [r[2] for r in rows[1:]] == ["124,439,808", "109,482,240"]
