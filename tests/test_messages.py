"""Messages that say what is wrong: a name that hides an op, hints by meaning, -D values that are not integers."""
import textwrap

import pytest

import archdsl
from archdsl.cli import main
from archdsl.cli.options import define
from archdsl.testing import from_text


def error(text: str) -> archdsl.ArchDSLError:
    with pytest.raises(archdsl.ArchDSLError) as info:
        from_text(textwrap.dedent(text), "bad.yaml").check()
    return info.value


@pytest.mark.parametrize("head, forward, words, at", [
    # the example: a parameter named like the op, then the op called
    ("params: {dropout: 0.1}", "dropout(fc(x), dropout)", "`dropout` is a parameter at line 1 (the number 0.1), "
                                                          "which hides the op `dropout`", (7, 3)),
    ("let: {relu: 2}", "x >> fc >> relu", "`relu` is a let at line 1 (the number 2), which hides the op `relu`",
     (7, 14)),
])
def test_a_value_named_like_an_op_says_it_hides_the_op(head, forward, words, at):
    err = error(f"""\
    {head}
    inputs: {{x: [N, 4]}}
    layers:
      fc: linear(4)
    forward: |
      y = x
      {forward}
    """)
    assert err.code == "E006" and words in err.message, err.render()
    assert (err.span.line, err.span.col) == at and "rename it" in err.hint, err.render()


def test_a_block_parameter_named_like_an_op_says_so_in_the_block():
    err = error("""\
    inputs: {x: [N, 4]}
    blocks:
      B(linear):
        layers: {fc: "linear(4)"}
        forward: |
          fc(x)
    layers:
      b: B(3)
    forward: |
      b(x)
    """)
    assert "`linear` is a parameter of the block `B` at line 3 (the number 3), which hides the op `linear`" \
        in err.message and err.span.line == 4, err.render()


def test_a_parameter_named_like_an_op_but_not_called_is_fine():
    spec = from_text("params: {dropout: 0.5}\ninputs: {x: [N, 4]}\nlayers: {fc: linear(4)}\n"
                     "forward: |\n  fc(x) * dropout\n", "ok.yaml")
    assert spec.summary().params == 4 * 4 + 4


@pytest.mark.parametrize("name, hint", [
    ("swish", "did you mean `silu`"),                                    # by meaning before `sigmoid`-like spellings
    ("hard_swish", "did you mean `hardswish`"),
    ("layer_norm", "did you mean `layernorm`"),
    ("mha", "did you mean `multi_head_attention`"),
    ("sdpa", "did you mean `scaled_dot_product_attention`"),
    ("attention", "did you mean `multi_head_attention` or `scaled_dot_product_attention`"),
    ("dense", "did you mean `linear`"),
    ("cat", "did you mean `concat`"),
    ("conv", "did you mean `conv2d`"),
    ("relu_6", "did you mean `relu6`"),
    ("drop_path", "did you mean `stochastic_depth`"),
    ("MultiheadAttention", "did you mean `multi_head_attention`"),
])
def test_unknown_op_hints_rank_by_meaning(name, hint):
    err = error(f"""\
    inputs: {{x: [N, 4]}}
    forward: |
      {name}(x)
    """)
    assert err.code == "E005" and err.hint.startswith(hint), err.render()


@pytest.mark.parametrize("text, value", [
    ("10", 10), ("-3", -3), ("0", 0), ("1.5", 1.5), ("true", True), ("[1, 2]", [1, 2]), ("abc", "abc"),
    # not exactly an integer literal: YAML would read 10, 8, 5, 5, 16, 90; -D keeps the text
    ("1_0", "1_0"), ("010", "010"), ("+5", "+5"), (" 5", " 5"), ("0x10", "0x10"), ("1:30", "1:30"),
])
def test_define_reads_only_exact_integer_literals_as_integers(text, value):
    assert define(f"version={text}") == ("version", value)


def test_define_with_underscores_is_a_located_error_for_an_integer_parameter(capsys, tmp_path):
    spec = tmp_path / "v.yaml"
    spec.write_text("params: {version: 1}\ninputs: {x: [N, 4]}\nlayers: {fc: linear(4)}\nforward: |\n  fc(x)\n")
    assert main(["check", str(spec), "-D", "version=1_0"]) == 1
    err = capsys.readouterr().err
    assert "v.yaml:1:10: error[E010]: parameter `version` must be an integer, got '1_0'" in err, err


@pytest.mark.parametrize("name, col", [("f'dense{i + 1}'", 12), ('f"dense{i}"', 12)])
def test_an_f_string_is_refused_with_the_spelling_that_works(name, col):
    # the issue writes layer maps with f-strings; the expression language builds names with + and str()
    err = error(f"""\
        inputs: {{x: [N, 4]}}
        layers:
          named: '{{{name.replace("'", "''")}: linear(4) for i in range(2)}}'
        forward: |
          x >> named
        """)
    assert (err.code, err.span.line, err.span.col) == ("E004", 3, col) and "f-strings" in err.message
    assert "'dense' + str(i + 1)" in err.hint
