"""archdsl.zoo, the catalogue of the zoo: names, load, where the specs are found, and `archdsl zoo`."""
from __future__ import annotations

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
