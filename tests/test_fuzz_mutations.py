"""Mutation fuzzing of every zoo spec: deleted, duplicated and swapped lines, changed numbers (0, negatives,
huge), wrong types, unknown ops, misspelt names, broken indentation, junk and non-UTF-8 bytes, truncated and
empty files. Every outcome is success or an ArchDSLError located inside the file."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from tests.fuzzing import ZOO_TEXT, fuzz_settings, mutated_spec, run_case, write_report


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report()


@fuzz_settings(ci=300)
@given(mutated_spec())
def test_mutated_zoo_specs_fail_cleanly(tmp_path_factory, case):
    name, data = case
    run_case(tmp_path_factory.mktemp("mut"), data, "mutations")


@fuzz_settings(ci=40)
@given(st.sampled_from(sorted(ZOO_TEXT)), st.data())
def test_every_zoo_spec_survives_single_byte_damage(tmp_path_factory, name, data):
    raw = ZOO_TEXT[name]
    at = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255))
    run_case(tmp_path_factory.mktemp("byte"), raw[:at] + bytes([byte]) + raw[at + 1:], "byte damage")


@pytest.mark.parametrize("name", sorted(ZOO_TEXT))
def test_every_zoo_spec_checks(tmp_path, name):
    assert run_case(tmp_path, ZOO_TEXT[name], "zoo") == "ok"
