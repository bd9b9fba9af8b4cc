"""Symbolic dims (issue 12): every comparison of two dims is proven equal, proven different, or equal only under a
condition (a located error naming it, or an assumption with --assume); declared dims (`dims:`) and their use by
the prover, -D, archdsl.testing and torch.export; simplified floors in output."""
from __future__ import annotations

import random

import pytest
import sympy
import torch

import archdsl
from archdsl.cli import main
from archdsl.dims import Condition, DimDecl, Facts, canonical, decide, fmt_dim, reasoning, symbol
from archdsl.errors import ParamError, ShapeError

H, W, N = symbol("H"), symbol("W"), symbol("N")

UNET = """
inputs: {x: [N, 8, H, W]}
layers:
  down: conv2d(8, 3, stride=2, padding=1)
  up: conv_transpose2d(8, 2, stride=2)
forward: |
  y = x >> down >> up
  concat([x, y], dim=1)
"""
DECLARED = "dims: {H: {multiple_of: 2}, W: {multiple_of: 16, min: 32}}\n" + UNET
WRITTEN = UNET.replace("[N, 8, H, W]", "[N, 8, 2 * h, 16 * w]")


def spec_at(tmp_path, text: str, name: str = "s", **kw):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return archdsl.load(path, **kw)


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


# --- the three outcomes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    (H, H), (sympy.floor(sympy.floor(H / 2) / 2), sympy.floor(H / 4)),
    (sympy.floor(H / 2 - sympy.Rational(1, 2)) + 1, sympy.ceiling(H / 2)),
    (2 * H - 2 * sympy.floor(H / 2), H + sympy.Mod(H, 2)),
])
def test_proven_equal(a, b):
    assert decide(a, b) is True


@pytest.mark.parametrize("a, b", [(H, H + 1), (H, 2 * H), (2 * sympy.floor(H / 2), 2 * sympy.floor(H / 2) + 1), (H, 0)])
def test_proven_different(a, b):
    assert decide(a, b) is False


@pytest.mark.parametrize("a, b, text, reason", [
    (H, 2 * sympy.floor(H / 2), "H % 2 == 0", "H must be even"),
    (H, 4 * sympy.floor(sympy.floor(H / 2) / 2), "H % 4 == 0", "H must be a multiple of 4"),
    (H, 2 * sympy.ceiling(H / 2), "H % 2 == 0", "H must be even"),
    (H + 1, 2 * sympy.ceiling(H / 2), "H % 2 == 1", "H must be odd"),
    (H, W, "H == W", "H must equal W"),
    (H, 4, "H == 4", "H must be 4"),
    (N * H * W, 4 * N * sympy.floor(H * W / 4), "H*W % 4 == 0", "H*W must be a multiple of 4"),
])
def test_equal_under_a_condition(a, b, text, reason):
    out = decide(a, b)
    assert isinstance(out, Condition) and (out.text, out.reason) == (text, reason)
    for v in range(1, 40):  # the condition is exact: it holds where the dims are equal
        values = {"H": v, "W": 4, "N": 2}
        assert out.holds(values) == (a.subs({H: v, W: 4, N: 2}) == sympy.sympify(b).subs({H: v, W: 4, N: 2}))


def test_declarations_decide():
    with reasoning(Facts({"H": DimDecl(multiple_of=4), "W": DimDecl(min=8)})):
        assert decide(H, 2 * sympy.floor(H / 2)) is True
        assert decide(H, 4 * sympy.floor(H / 4)) is True
        assert decide(H, 8 * sympy.floor(H / 8)).text == "H % 8 == 0"
        assert decide(W, 4) is False  # below W's min
        assert decide(H, 6) is False  # not a multiple of 4


# --- each comparison site --------------------------------------------------------------------------------------

def test_concat_of_the_issue_is_located_with_the_condition_and_a_fix(tmp_path):
    with pytest.raises(ShapeError) as err:
        spec_at(tmp_path, UNET).check()
    e = err.value
    assert e.message == "H must be even: `concat` along dim 1 joins H with 2*ceil(H/2)"
    assert (e.span.line, e.span.col) == (8, 3)
    assert "dims: {H: {multiple_of: 2}}" in e.hint and "2 * h" in e.hint and "--assume" in e.hint


@pytest.mark.parametrize("text", [DECLARED, WRITTEN])
def test_declared_or_written_dims_check_and_test(tmp_path, text):
    spec = spec_at(tmp_path, text)
    spec.check()
    assert spec.assumptions == []
    from archdsl.testing import run_property
    result = run_property(spec, examples=8)
    assert result.ok, result.failure


def test_assume_states_the_conditions_and_test_honours_them(tmp_path, capsys):
    path = tmp_path / "unet.yaml"
    path.write_text(UNET)
    rc, out, _ = cli(capsys, "check", path, "--assume")
    assert rc == 0 and "model `unet` ok under H % 2 == 0, W % 2 == 0: output [N, 16, H, W]" in out
    from archdsl.testing import run_property
    spec = archdsl.load(path, assume=True)
    result = run_property(spec, examples=8)
    assert result.ok and all(e["H"] % 2 == 0 and e["W"] % 2 == 0 for e in result.examples)


BROADCAST = """
inputs: {x: [N, H], y: [N, W]}
forward: |
  x + y
"""
RESHAPE = """
inputs: {x: [N, H]}
forward: |
  reshape(x, [0, -1, 2])
"""
LOOP = """
inputs: {x: [N, 8, H, W]}
blocks:
  Body:
    inputs: [h]
    layers:
      d: conv2d(8, 3, stride=2, padding=1)
      u: conv_transpose2d(8, 2, stride=2)
    forward: |
      h >> d >> u
layers: {body: Body}
forward: |
  loop(body, 3, state=[x])
"""
MODELS = """
models:
  inner:
    inputs: {x: [N, 8, H, W]}
    forward: |
      relu(x)
  outer:
    uses: [inner]
    inputs: {x: [N, 8, H, W]}
    layers:
      d: conv2d(8, 3, stride=2, padding=1)
      u: conv_transpose2d(8, 2, stride=2)
    forward: |
      inner(x >> d >> u)
"""


@pytest.mark.parametrize("text, message", [
    (BROADCAST, "H must equal W: `add` broadcasts H with W"),
    (RESHAPE, "H must be even: `reshape` to (0, -1, 2) compares the element counts"),
    (LOOP, "H must be even: the carried state 0 of `loop` compares H with 2*ceil(H/2)"),
    (MODELS, "H must be even: `outer` calls `inner` with `x`: it compares 2*ceil(H/2) with H"),
])
def test_each_site_reports_its_condition_and_assumes_it(tmp_path, text, message):
    with pytest.raises(ShapeError) as err:
        spec_at(tmp_path, text).check()
    assert err.value.message.startswith(message) and err.value.span is not None
    spec = spec_at(tmp_path, text, assume=True)
    spec.check()
    assert spec.assumptions[0] == message.split(":")[0].replace("H must be even", "H % 2 == 0").replace(
        "H must equal W", "H == W")


# --- declarations ------------------------------------------------------------------------------------------------

def test_values_are_checked_against_declarations(tmp_path, capsys):
    path = tmp_path / "d.yaml"
    path.write_text("dims: {H: {multiple_of: 16}, W: {multiple_of: 2}}\n" + UNET)
    rc, _, err = cli(capsys, "check", path, "-D", "H=100")
    assert rc == 1 and f"{path}:1:8: error[E010]: the dim `H` = 100 breaks its declaration" in err
    assert "it must be a multiple of 16" in err
    with pytest.raises(ParamError, match="must be at least 32"):
        spec_at(tmp_path, DECLARED, W=16).check()
    assert archdsl.load(path, H=96).check()


def test_declaration_constraints_are_expressions_of_parameters(tmp_path):
    spec = spec_at(tmp_path, "params: {n_ctx: 64}\ndims: {T: {max: n_ctx}}\ninputs: {x: [N, T]}\nforward: |\n  relu(x)\n")
    assert spec.graph.facts.decls["T"] == DimDecl(max=64)
    with pytest.raises(ParamError, match="at most 64"):
        spec_at(tmp_path, spec.doc.text, "t2", T=65).check()


def test_testing_draws_only_allowed_values(tmp_path):
    from hypothesis import given, settings

    from archdsl.testing import dims
    spec = spec_at(tmp_path, DECLARED)

    @settings(max_examples=40, deadline=None)
    @given(dims(spec))
    def prop(values):
        assert values["H"] % 2 == 0 and values["W"] % 16 == 0 and values["W"] >= 32

    prop()


def test_export_dims_carry_the_declarations(tmp_path):
    pytest.importorskip("torch")
    from archdsl.backends.torch.export import dynamic_shapes, symbol_values
    spec = spec_at(tmp_path, "dims: {H: {min: 32, max: 512, multiple_of: 16}, W: {min: 8, max: 64}}\n"
                   "inputs: {x: [N, 3, H, W]}\nlayers:\n  c: conv2d(8, 3, padding=1)\nforward: |\n  x >> c\n")
    (axes,) = dynamic_shapes(spec)
    assert (axes[3].min, axes[3].max) == (8, 64)
    assert str(axes[2]) == "16*H_16" and (axes[2].root.min, axes[2].root.max) == (2, 32)
    values = symbol_values(spec)
    assert values["H"] % 16 == 0 and values["H"] >= 32 and 8 <= values["W"] <= 64


# --- simplified output ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, shown", [
    (sympy.floor(sympy.floor(H / 2) / 2), "floor(H/4)"),
    (sympy.floor(H / 2 - sympy.Rational(1, 2)) + 1, "ceil(H/2)"),
    (sympy.ceiling(sympy.ceiling(H / 2) / 2), "ceil(H/4)"),
    (sympy.floor((H - 7) / 2) + 1, "ceil(H/2) - 3"),
    (sympy.floor((H + 1) / 3), "floor((H + 1)/3)"),
    (2 * sympy.floor(H / 2), "2*floor(H/2)"),
    (H * W, "H*W"),
])
def test_floors_are_shown_simplified(expr, shown):
    assert fmt_dim(expr) == shown


def _random_floor(rng: random.Random, depth: int):
    if depth == 0:
        return H + rng.randint(-3, 3)
    inner, n, c = _random_floor(rng, depth - 1), rng.randint(1, 5), rng.randint(-4, 4)
    return rng.choice([sympy.floor, sympy.ceiling])((inner + c) / n) + rng.randint(-2, 2)


def test_simplification_is_an_identity_over_many_values():
    rng = random.Random(12)
    for _ in range(60):
        expr = _random_floor(rng, rng.randint(1, 3))
        simple = canonical(expr)
        shown = sympy.sympify(fmt_dim(expr).replace("^", "**"), locals={"H": H, "ceil": sympy.ceiling})
        for v in range(1, 80):
            assert expr.subs(H, v) == simple.subs(H, v) == shown.subs(H, v), (expr, v)


def test_errors_show_simplified_dims(tmp_path):
    text = UNET.replace("up: conv_transpose2d(8, 2, stride=2)", "up: conv_transpose2d(8, 4, stride=4)").replace(
        "y = x >> down >> up", "y = x >> down >> down >> up")
    with pytest.raises(ShapeError, match=r"H must be a multiple of 4: .* joins H with 4\*ceil\(H/4\)"):
        spec_at(tmp_path, text.replace("down: conv2d", "down: conv2d")).check()


@pytest.mark.parametrize("index", [5, -6])
def test_an_index_on_a_symbolic_dim_needs_the_dim_to_hold_it(tmp_path, index):
    # torch refuses x[:, 5] and x[:, -6] where T < 6, so the check may say ok only where T's min is 6 or more
    text = f"name: idx\ndims:\n  T: {{max: 64}}\ninputs:\n  x: [N, T, 4]\nforward: |\n  x[:, {index}]\n"
    with pytest.raises(ShapeError) as err:
        spec_at(tmp_path, text).check()
    assert (err.value.code, err.value.span.line) == ("E009", 7) and "T: {min: 6}" in err.value.hint
    with pytest.raises(IndexError):
        torch.zeros(1, 5, 4)[:, index]
    spec = spec_at(tmp_path, text.replace("T: {max: 64}", "T: {min: 6, max: 64}"))
    assert spec.check()["index"] == (symbol("N"), 4)
    assert torch.equal(spec.build()(torch.arange(24.0).reshape(1, 6, 4)), torch.arange(24.0).reshape(1, 6, 4)[:, index])


def test_a_clamped_slice_hints_the_least_value_that_fixes_it(tmp_path):
    # x[:, :8] on T is Min(8, T) (torch gives T rows where T < 8), so a fixed 8 after it needs T >= 8
    text = ("name: sl\ndims:\n  T: {max: 64}\ninputs:\n  x: [N, T, 4]\nlayers:\n  fc: linear(2)\nforward: |\n"
            "  y = x[:, :8]\n  y >> reshape([0, 32]) >> fc\n")
    with pytest.raises(ShapeError) as err:
        spec_at(tmp_path, text).check()
    assert err.value.span.line == 10 and "`T: {min: 8}`" in err.value.hint
    assert torch.zeros(1, 5, 4)[:, :8].shape == (1, 5, 4)
    spec_at(tmp_path, text.replace("T: {max: 64}", "T: {min: 8, max: 64}")).check()
