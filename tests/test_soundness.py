"""Soundness of the static check: if `check` says ok, PyTorch runs and every runtime shape is the static one.

Random specs (archdsl.random_specs with `constraints=True`) have symbolic H and W that may be declared
(`dims: {H: {multiple_of: 4, min: 8}}`) or written as `4 * h`, and U-Net skips (a stride-2 convolution, a
stride-2 transposed one, `concat` with the input). With `risky`, such a skip is also drawn where the sizes
are not proven even, so the check must reject the spec with a condition (`H must be even`), or, with
`assume=True`, accept it under an assumption. For each spec that checks ok, dims are drawn that satisfy the
declarations and assumptions (archdsl.testing.dims), and every node's runtime shape is compared with its
static shape (meta device, CPU where an op has no meta kernel; one case in eight on CPU).

The tally (ARCHDSL_FUZZ_REPORT) counts the cases generated and those that reached the shape pass (checked
ok and ran), separately from the rejections.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from archdsl.errors import ArchDSLError, UsageError
from archdsl.random_specs import specs
from archdsl.testing import assert_shapes_match, dims, from_text
from tests.fuzzing import TALLY, fuzz_settings, write_report

TEST = "soundness"
CI_CASES = 560  # about 500 of them reach the shape pass


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    write_report()


@st.composite
def cases(draw):
    risky = draw(st.booleans())
    text = draw(specs(max_stages=4, symbolic=draw(st.sampled_from([True, True, True, False])),
                      constraints=True, risky=risky))
    assume = risky and draw(st.booleans())
    return text, assume


@fuzz_settings(ci=CI_CASES, long=20_000)  # issue 12: 500 in CI, 20,000 in the long profile
@given(cases(), st.data())
def test_check_ok_means_pytorch_agrees(case, data):
    text, assume = case
    TALLY[(TEST, "generated")] += 1
    try:
        spec = from_text(text, "random.yaml", assume=assume)
        spec.check()
    except ArchDSLError as err:
        # a rejection must be located in the spec, and for these specs it is a dim comparison
        assert err.span is not None and err.span.file == "random.yaml", err
        assert err.code == "E009", err.render()
        TALLY[(TEST, f"rejected: {err.code}")] += 1
        return
    TALLY[(TEST, "checked ok" + (" under assumptions" if spec.assumptions else ""))] += 1
    try:
        strategy = dims(spec, max_size=24)
    except UsageError:  # the declarations (a max) leave no size that keeps every shape positive
        TALLY[(TEST, "no valid dims")] += 1
        return
    try:
        values = data.draw(strategy)
        device = "cpu" if data.draw(st.integers(0, 7)) == 0 else None
    except BaseException:  # hypothesis gave up drawing dims that pass the filters: it discards the case
        TALLY[(TEST, "discarded: no dims drawn")] += 1
        raise
    rows = assert_shapes_match(spec, device=device, **values)  # raises ShapeMismatch on any disagreement
    assert rows and all(r.ok for r in rows)
    TALLY[(TEST, "reached the shape pass")] += 1
    if spec.assumptions:
        TALLY[(TEST, "reached the shape pass under assumptions")] += 1


def test_the_generator_draws_constrained_unet_skips():
    """The strategy does produce what the property is about: declared dims, `k * h` inputs, skips."""
    seen = {"dims:": 0, " * h": 0, "conv_transpose2d": 0}

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(specs(max_stages=4, symbolic=True, constraints=True))
    def draw(text):
        for key in seen:
            seen[key] += key in text

    draw()
    assert all(seen.values()), seen
