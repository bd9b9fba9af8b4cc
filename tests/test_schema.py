"""archdsl schema: a valid draft-07 JSON Schema that every zoo spec satisfies and that catches structure errors."""
from __future__ import annotations

import json

import pytest
import yaml

from archdsl.cli import main
from archdsl.syntax.schema import spec_schema
from archdsl.syntax import spec as S
from tests.helpers import SPECS, optional

jsonschema = optional("jsonschema")
ZOO = sorted(p.stem for p in SPECS.glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = spec_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_validates(validator, name):
    errors = list(validator.iter_errors(yaml.safe_load((SPECS / f"{name}.yaml").read_text())))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("change", [
    lambda d: d.update(forwrd=d.pop("forward")),            # misspelt section
    lambda d: d.update(layers=["conv2d(8, 3)"]),            # layers must be a mapping
    lambda d: d["inputs"].update(x="N, 3"),                 # dims must be a list
    lambda d: d.update(params=[1, 2]),                      # params must be a mapping
    lambda d: d.pop("forward"),                             # a single-model spec needs forward
])
def test_structure_errors_are_caught(validator, change):
    doc = yaml.safe_load((SPECS / "resnet.yaml").read_text())
    change(doc)
    assert list(validator.iter_errors(doc))


def test_schema_follows_the_language():
    schema = spec_schema()
    assert set(schema["properties"]) == set(S.TOP_KEYS)
    block = schema["properties"]["blocks"]["additionalProperties"]
    assert set(block["properties"]) == set(S.BLOCK_KEYS)
    assert "conv2d" in schema["description"]


def test_cli_schema(tmp_path, capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == spec_schema()
    out = tmp_path / "archdsl.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == spec_schema()
