"""A JSON Schema (draft-07) of a spec's YAML structure, for editors: `archdsl schema -o archdsl.schema.json`.

With yaml-language-server (VS Code's YAML extension, and others) put this first line in a spec:

    # yaml-language-server: $schema=./archdsl.schema.json

The schema describes the structure (sections, keys, which values are expressions) and offers the op
names for completion; what an expression means is checked by `archdsl check`. The section keys come
from archdsl/syntax/spec.py, so the schema follows the language.
"""
from __future__ import annotations

from . import spec as S

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
LAYER_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
MAP_KEY = r"^[A-Za-z][A-Za-z0-9_-]*$"  # a key of a map of named layers may hold `-` (`block1-0`)
SPEC_FILE = r"^[^/\\~].*\.ya?ml$"  # relative; archdsl check refuses what leaves the folder
BLOCK_HEADER = r"^[A-Za-z_][A-Za-z0-9_]*\s*(\(.*\))?\s*$"

DESCRIPTIONS = {
    "name": "The spec's name (default: the file name).",
    "doc": "One line on the architecture, with its source paper.",
    "imports": "Blocks from other spec files: path (relative to this file, inside its folder) -> a list of "
               "block names, or \"*\" for all; e.g. `blocks/heads.yaml: [ASPP]`. An imported block reads only its "
               "own parameters, the ops and its file's blocks.",
    "params": "Parameters with their defaults (plain YAML data); override them with `-D name=value` or "
              "`archdsl.load(path, name=value)`.",
    "let": "Derived values: name -> expression, e.g. `stages: \"{18: [2, 2, 2, 2]}[depth]\"`.",
    "inputs": "Input tensors: name -> list of dims (numbers or symbols such as N), e.g. `x: [N, 3, 224, 224]`; "
              "or a mapping {shape, dtype, low, high} for integer inputs.",
    "blocks": "Reusable blocks: `Name(param, other=default)` -> {inputs, let, layers, forward}.",
    "layers": "Named layers: name -> an op (`conv2d(64, 3, padding=1)`), a block instance, a list of them "
              "(an nn.Sequential), or an expression that may evaluate to None (the layer is absent).",
    "forward": "The dataflow program, one statement per line (write `forward: |`); the last statement is the "
               "output, e.g. `x >> conv1 >> relu >> fc`.",
    "models": "Several models in one file: name -> {inputs, let, layers, forward}.",
    "objectives": "Training objectives: name -> {inputs, let, forward}; inputs are shapes or model outputs.",
    "uses": "The other models this model's forward calls by name.",
}


def _expression() -> dict:
    return {"description": "An expression of the spec language (a string), or a plain number, boolean, list or "
                           "mapping.",
            "type": ["string", "number", "boolean", "array", "object", "null"]}


def _dims() -> dict:
    return {"type": "array", "minItems": 1, "description": "Dims: positive integers or symbols (N, T, H, W), or "
                                                           "expressions of them.",
            "items": {"type": ["integer", "string"]}}


def _input() -> dict:
    typed = {"type": "object", "additionalProperties": False, "required": ["shape"],
             "properties": {"shape": _dims(),
                            "dtype": {"enum": list(S.INPUT_DTYPES), "default": "float32"},
                            "low": {"type": ["integer", "string"], "description": "smallest value (integer inputs)"},
                            "high": {"type": ["integer", "string"],
                                     "description": "one past the largest value (integer inputs)"}}}
    return {"oneOf": [_dims(), typed]}


def _layer_value(ops: list[str]) -> dict:
    call = {"type": "string", "description": "An op, a block instance, or an expression giving a list of them.",
            "examples": [f"{op}(...)" for op in ops[:8]]}
    return {"anyOf": [call, {"type": "null"},
                      {"type": "array", "items": {"anyOf": [call, {"type": "null"}, {"type": "array"}]},
                       "description": "A list of layers: an nn.Sequential indexed .0, .1, ..."},
                      {"type": "object", "propertyNames": {"pattern": MAP_KEY},
                       "additionalProperties": {"anyOf": [call, {"type": "null"}, {"type": "array"},
                                                          {"type": "object"}]},
                       "description": "Named layers: an nn.Sequential with those names (`denselayer1`, ...)"}]}


def _section(key: str, ops: list[str], where: str) -> dict:
    """The schema of one section value; unknown (new) sections are described but not constrained."""
    described = {"description": DESCRIPTIONS.get(key, f"see docs/language.md ({where})")}
    if key in ("name", "doc", "forward"):
        return {**described, "type": "string"}
    if key == "params":
        return {**described, "type": "object", "propertyNames": {"pattern": IDENTIFIER}}
    if key == "let":
        return {**described, "type": "object", "propertyNames": {"pattern": IDENTIFIER},
                "additionalProperties": _expression()}
    if key == "inputs" and where == "block":
        return {**described, "type": "array", "items": {"type": "string", "pattern": IDENTIFIER},
                "description": "The block's input names (default [x])."}
    if key == "inputs" and where == "objective":
        return {**described, "type": "object", "propertyNames": {"pattern": IDENTIFIER},
                "additionalProperties": {"anyOf": [_input(), {"type": "string"}]}}
    if key == "inputs":
        return {**described, "type": "object", "propertyNames": {"pattern": IDENTIFIER},
                "additionalProperties": _input()}
    if key == "layers":
        return {**described, "type": "object", "propertyNames": {"pattern": LAYER_NAME},
                "additionalProperties": _layer_value(ops)}
    if key == "imports":
        names = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "pattern": IDENTIFIER}}
        return {**described, "type": "object", "propertyNames": {"pattern": SPEC_FILE},
                "additionalProperties": {"oneOf": [names, {"const": "*"}]}}
    if key == "uses":
        return {**described, "type": "array", "items": {"type": "string", "pattern": IDENTIFIER}}
    return described


def _part(keys, ops: list[str], where: str, required=()) -> dict:
    return {"type": "object", "additionalProperties": False, "required": list(required),
            "properties": {k: _section(k, ops, where) for k in keys}}


def spec_schema() -> dict:
    from .. import ops as _ops  # noqa: F401  (registers the ops)
    from ..ops.registry import REGISTRY

    ops = REGISTRY.names()
    top = _part(S.TOP_KEYS, ops, "top level")
    top["properties"]["blocks"] = {
        "description": DESCRIPTIONS["blocks"], "type": "object", "propertyNames": {"pattern": BLOCK_HEADER},
        "additionalProperties": _part(S.BLOCK_KEYS, ops, "block", required=("forward",))}
    top["properties"]["models"] = {
        "description": DESCRIPTIONS["models"], "type": "object", "propertyNames": {"pattern": IDENTIFIER},
        "minProperties": 1,
        "additionalProperties": _part(S.MODEL_KEYS, ops, "model", required=("inputs", "forward"))}
    if "objectives" in S.TOP_KEYS:
        top["properties"]["objectives"] = {
            "description": DESCRIPTIONS["objectives"], "type": "object", "propertyNames": {"pattern": IDENTIFIER},
            "additionalProperties": _part(getattr(S, "OBJECTIVE_KEYS", ()), ops, "objective",
                                          required=("inputs", "forward"))}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "archdsl spec",
        "description": "A neural-network architecture for archdsl: YAML whose values are expressions of its "
                       f"language. Ops: {', '.join(ops)}.",
        **top,
        "oneOf": [{"required": ["models"]}, {"required": ["inputs", "forward"]},
                  {"description": "A block library: blocks for other specs to import, no model.",
                   "anyOf": [{"required": ["blocks"]}, {"required": ["imports"]}],
                   "not": {"anyOf": [{"required": [k]} for k in S.MODEL_PARTS]}}],
    }
