"""Dtypes (issue 12): every tensor's dtype inferred statically (passes/dtypes.py, rules in ops/dtypes.py).

The rules are compared with what PyTorch really produces: the zoo models run with their probes, every node's
runtime dtype against its static one; a mismatch is a located E006 at the call.
"""
import textwrap
from collections import defaultdict

import pytest
import torch

import archdsl
from archdsl.backends.torch import probes
from archdsl.backends.torch.lowerings import probed_call
from archdsl.ops.dtypes import FAMILY_RULES
from archdsl.ops.registry import REGISTRY
from archdsl.passes.loops import LOOP_KINDS
from helpers import SPECS, spec_path

TOKENS = """\
params: {vocab: 50}
inputs:
  t: {shape: [N, T], dtype: int64, high: 25}
layers:
  embed: embedding(vocab, 8)
  fc: linear(4)
forward: |
  BODY
"""


def load(write_spec, text: str, body: str | None = None):
    return archdsl.load(write_spec(textwrap.dedent(text).replace("BODY", body or "")))


def dtypes_of(spec) -> dict:
    """op name -> the dtypes of its nodes, in order."""
    out = defaultdict(list)
    for _, node in spec.graph.nodes():
        out[node.op.name if node.op is not None else node.kind].append(node.meta.dtype)
    return out


def error_of(write_spec, text: str, body: str | None = None) -> archdsl.ArchDSLError:
    with pytest.raises(archdsl.ArchDSLError) as info:
        load(write_spec, text, body).check()
    return info.value


# --- the two examples ----------------------------------------------------------------------------------

def test_float_input_to_embedding_is_an_error_at_the_call(write_spec):
    text = TOKENS.replace("t: {shape: [N, T], dtype: int64, high: 25}", "t: [N, T]")
    err = error_of(write_spec, text, "embed(t)")
    assert err.code == "E006" and "`embedding` takes integer ids, got float32" in err.message, err.render()
    assert (err.span.line, err.span.col) == (8, 3)
    assert "dtype: int64" in err.hint and "cast(x, 'int64')" in err.hint


def test_integer_arithmetic_stays_integer_into_embedding(write_spec):
    spec = load(write_spec, TOKENS, "embed(t * 2)")
    spec.check()
    assert dtypes_of(spec)["scalar_arith"] == ["int64"]
    source = spec.source
    assert "t * 2)" in source and "t * 2.0" not in source
    net = spec.build().eval()
    t = torch.randint(0, 25, (3, 5))
    torch.testing.assert_close(net(t), net.embed(t * 2))
    assert (t * 2).dtype == torch.int64


# --- the rules ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, op, want", [
    ("embed(t + 1)", "scalar_arith", "int64"),
    ("embed(1 + t * 3)", "scalar_arith", "int64"),
    ("t / 2", "scalar_arith", "float32"),
    ("t * 0.5", "scalar_arith", "float32"),
    ("t + t", "add", "int64"),
    ("cast(t, 'int32') * 2", "scalar_arith", "int32"),
    ("cast(t, 'int32') + t", "add", "int64"),
    ("cast(t, 'float64') + cast(t, 'float32')", "add", "float64"),
    ("token_mask(t) * 2", "scalar_arith", "int64"),
    ("token_mask(t) * 0.5", "scalar_arith", "float32"),
    ("embed(t) * reshape(token_mask(t), [0, 0, 1])", "mul", "float32"),
    ("concat([t, token_mask(t)], dim=1)", "concat", "int64"),
    ("argmax(embed(t), dim=-1)", "argmax", "int64"),
    ("one_hot(t, 25)", "one_hot", "int64"),
    ("reduce_sum(token_mask(t), dim=1)", "reduce_sum", "int64"),
    ("gather(embed(t), one_hot(t, 8), dim=1)", "gather", "float32"),
])
def test_arithmetic_and_explicit_rules(write_spec, body, op, want):
    assert dtypes_of(load(write_spec, TOKENS, body))[op][-1] == want


def test_comparisons_give_bool_masks(write_spec):
    """token_mask is `tokens != pad`: a bool mask, which masked_softmax takes beside float scores."""
    spec = load(write_spec, TOKENS, "masked_softmax(reduce_sum(embed(t), dim=-1), token_mask(t))")
    got = dtypes_of(spec)
    assert got["token_mask"] == ["bool"] and got["masked_softmax"] == ["float32"]


@pytest.mark.parametrize("body, words, hint", [
    ("fc(one_hot(t, 25))", "`linear` takes float32 tensors (its weights are float32), got int64", "cast(x, 'float32')"),
    ("relu(t)", "`relu` takes floating-point tensors, got int64", "cast(x, 'float32')"),
    ("token_mask(t) - 1", "cannot subtract with a bool tensor", "cast(x, 'float32')"),
    ("embed(t) @ cast(permute(embed(t), [0, 2, 1]), 'float64')", "`matmul` takes operands of one dtype", "float64"),
    ("one_hot(cast(t, 'int32'), 25)", "`one_hot` takes int64 ids, got int32", "cast(x, 'int64')"),
    ("gather(embed(t), cast(one_hot(t, 8), 'float32'), dim=1)", "`gather` takes int64 positions", "int64"),
    ("masked_softmax(reduce_sum(embed(t), dim=-1), t)", "bool or floating-point masks, got int64", "bool"),
])
def test_mismatches_are_located_errors_with_a_hint(write_spec, body, words, hint):
    err = error_of(write_spec, TOKENS, body)
    assert err.code == "E006" and words in err.message and hint in err.hint, err.render()
    assert err.span.line == 8 and "input dtype" in err.render()


def test_every_op_has_a_dtype_rule():
    """Its own (`dtypes=` in its registry entry), LAYER for a layer, or its family's."""
    for op in REGISTRY.all():
        assert op.dtypes is not None or op.layer_only or op.family in FAMILY_RULES, op.name
        assert callable(op.dtype_rule), op.name


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_zoo_spec_checks_with_a_dtype_on_every_node(path):
    spec = archdsl.load(str(path))
    spec.check()
    missing = [nid for nid, node in spec.graph.nodes() if node.meta.dtype is None]
    assert not missing, missing


# --- static against runtime ------------------------------------------------------------------------------------

def _dtype_facts(value):
    """What `probes._shapes` records, with dtypes: ('float32',) for a tensor, a list for several outputs."""
    if isinstance(value, (tuple, list)):
        return [f for v in value for f in (_dtype_facts(v) if isinstance(v, (tuple, list)) else [_dtype_facts(v)])]
    return (str(value.dtype).removeprefix("torch."),)


def _flat(fact) -> list:
    return [fact[0]] if isinstance(fact, tuple) else [d for f in fact for d in _flat(f)]


def runtime_dtypes(spec, dims: dict, monkeypatch) -> tuple[dict, dict]:
    """node id -> the dtypes its inline calls gave (probes reporting dtypes), and layer path -> the dtypes its
    module calls gave (a global forward hook)."""
    by_path = defaultdict(set)

    def hook(module, args, out):
        if isinstance(out, torch.Tensor):
            by_path[getattr(module, "_archdsl_path", None)].add(str(out.dtype).removeprefix("torch."))

    monkeypatch.setattr(probes, "_shapes", _dtype_facts)
    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        return probes.runtime_shapes(spec, dims=dims), by_path
    finally:
        handle.remove()


def static_vs_runtime(spec, dims: dict, monkeypatch) -> tuple[list, int]:
    """The nodes whose static dtype differs from PyTorch's, and how many nodes were compared."""
    real, by_path = runtime_dtypes(spec, dims, monkeypatch)
    bad, compared = [], 0
    for nid, seen in real.items():
        node = spec.graph.node(nid)
        static = node.meta.dtypes if node.meta.dtypes is not None else [node.meta.dtype]
        if node.kind == "input":
            continue
        if node.module and node.op is not None and not probed_call(node.op):  # a hooked layer
            runs = [[d] for d in by_path[node.module]]
        elif node.kind in LOOP_KINDS:
            runs = [_flat(list(seen))]
        else:
            runs = [_flat(fact) for fact in seen]
        compared += bool(runs)
        bad += [f"{nid} ({node.op.name if node.op else node.kind}): static {static}, runtime {run}"
                for run in runs if run != static]
    return bad, compared


@pytest.mark.parametrize("name, params", [
    ("seq2seq_attention", {}), ("resnet", {"depth": 18}), ("show_attend_tell", {}), ("ntm", {}),
    ("memn2n", {}), ("memnn", {}), ("capsnet", {}), ("lstm_classifier", {}), ("gru", {}), ("vae", {}),
])
def test_static_dtypes_equal_runtime_dtypes(name, params, monkeypatch):
    spec = archdsl.load(spec_path(name), **params)
    dims = {s: 3 for s in ("N", "T", "S", "J", "L", "M")}
    bad, compared = static_vs_runtime(spec, dims, monkeypatch)
    assert compared >= 3 and not bad, bad


# --- shown on request --------------------------------------------------------------------------------------------

def test_summary_shows_a_dtype_column_on_request(capsys):
    from archdsl.cli import main

    assert main(["summary", spec_path("seq2seq_attention"), "--dtypes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["layer", "op", "output", "shape"] and "dtype" in lines[1]
    row = next(line.split() for line in lines if line.startswith("token_mask "))
    assert row[:2] == ["token_mask", "token_mask"] and row[-1] == "bool"
    assert main(["summary", spec_path("seq2seq_attention")]) == 0
    assert "dtype" not in capsys.readouterr().out


def test_diagram_labels_arrows_with_dtypes_on_request():
    spec = archdsl.load(spec_path("seq2seq_attention"))
    labels = spec.to_dot(dtypes=True)
    assert 'label="N x S (int64)"' in labels and 'label="N x S (bool)"' in labels
    assert "(int64)" not in spec.to_dot()
