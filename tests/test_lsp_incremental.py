"""Incremental checking (archdsl/incremental.py, archdsl/passes/carry.py): an edit re-evaluates only the block
instances it can change and traces again only the calls of them it can change, the passes evaluate the rules of
only the nodes it can change, and what the server shows after any sequence of edits equals a check from
scratch."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import fields, replace

import pytest
from hypothesis import given, strategies as st

from archdsl import pipeline
from archdsl.incremental import BlockCache, Uncachable, fingerprint
from archdsl.elaborate.build import Builder
from archdsl.ir.graph import Meta, Node, Tensor
from archdsl.limits import resolve
from archdsl.lsp.analysis import _check
from archdsl.lsp.info import hover
from archdsl.ops.registry import REGISTRY
from archdsl.syntax import expr
from tests.fuzzing import ROOT, ZOO_TEXT, fuzz_settings, mutation

SPEC = """\
name: net
params:
  width: 16
  groups: 1
  num_classes: 10
let:
  wide: width * 2
inputs:
  x: [N, 3, 32, 32]
blocks:
  Unit(planes, stride=1):
    layers:
      conv: conv2d(planes, 3, stride=stride, padding=1, groups=groups, bias=false)
      bn: batchnorm2d()
    forward: |
      x >> conv >> bn >> relu
  Stage(planes, n=2):
    layers:
      units: "[Unit(planes, stride=2)] + [Unit(planes)] * (n - 1)"
    forward: |
      x >> units
layers:
  stem: conv2d(width, 3, padding=1)
  stage1: Stage(width)
  stage2: Stage(wide, n=3)
  fc: linear(num_classes)
forward: |
  x = x >> stem >> relu >> stage1 >> stage2
  x >> adaptive_avgpool2d(1) >> flatten >> fc
"""
PATH = str(ROOT / "specs" / "net.yaml")  # beside the zoo, whose specs import blocks from specs/blocks/
UNIT_KINDS = 4  # Unit(16, stride=2), Unit(16), Unit(32, stride=2), Unit(32): the instances with other arguments


def edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def outcome(analysis) -> tuple:
    """Everything a check shows: the diagnostics, the document's symbols and where each name is defined, the
    graph (each node's fields and shapes, dtypes and costs, the edges, the models' inputs and outputs), the
    layer instances with their calls and recorded programs, and every hover over a definition or a use."""
    problems = [(p.severity, p.code, p.message, p.span, p.hint, p.notes) for p in analysis.problems]
    index = analysis.index
    if index is None:
        return problems, None
    names = [(d.kind, d.name, d.span, d.owner.name if d.owner else None, d.order) for d in index.defs]
    resolved = [(r.name, r.span, r.order, index.resolve(r) and index.resolve(r).span) for r in index.refs]
    graph = analysis.graph
    if graph is None:
        return problems, names, resolved, None
    doc = analysis.doc
    blocks = [*doc.blocks.values(), *doc.models.values(), *doc.objectives.values(),
              *(m for model in doc.models.values() for m in model.methods.values())]
    nodes = [(nid, n.op.name if n.op else None, exact(n.attrs), meta(n),
              [getattr(n, f.name) for f in fields(Node) if f.name not in ("op", "attrs", "meta")])
             for nid, n in graph.nodes()]
    modules = []
    for root in [*graph.roots.values(), *graph.objectives.values()]:
        for m in [*root.walk(), *root.methods.values()]:
            # a reused instance runs the block of this document, never an equal one of an older text
            assert m.block is None or any(m.block is b for b in blocks), m.path
            program = [(s.kind, s.callee, s.args, s.result, s.span, s.target) for s in m.program or ()]
            modules.append((m.path, m.kind, m.span, m.op.name if m.op else None, exact(m.attrs),
                            m.block.name if m.block else None, repr(m.args), m.disabled, m.calls, program,
                            m.inputs, m.output))
    hovers = [hover(index, graph, d) for d in [*index.defs, *index.refs]]
    return (problems, names, resolved, nodes, sorted(graph.g.edges), graph.inputs, graph.outputs, modules,
            hovers)


def exact(value):
    """A value with its types (fingerprint), or its repr where it has none."""
    try:
        return fingerprint(value)
    except Uncachable:
        return repr(value)


def meta(node) -> tuple:
    """What the passes wrote on a node, with exact types (sympy dims by structure): shapes, loop counts,
    parameters, MACs, repeats and dtypes."""
    return tuple(fingerprint(getattr(node.meta, f.name)) for f in fields(Meta))


def check(text: str, cache: BlockCache):
    return _check(text, PATH, cache)


def scratch(text: str):
    """A check from scratch: no block cache, and no expression parsed before. The parses cached at their places
    are put back after it, so that the incremental checks get the trees of before where the text is."""
    placed = dict(expr._placed)
    expr.clear_caches()
    try:
        return _check(text, PATH)
    finally:
        expr._placed.update(placed)


def test_an_edit_of_a_blocks_layers_re_evaluates_only_that_block():
    cache = BlockCache()
    check(SPEC, cache)
    assert dict(cache.evaluated) == {"net": 1, "Stage": 2, "Unit": UNIT_KINDS}
    assert dict(cache.reused) == {"Unit": 1}  # stage2's third Unit, equal to its second
    text = edited(SPEC, "groups=groups, bias=false)", "groups=groups, bias=true)")
    after = check(text, cache)
    assert dict(cache.evaluated) == {"Unit": UNIT_KINDS}  # Stage reads only Unit's signature
    assert dict(cache.reused) == {"net": 1, "Stage": 2, "Unit": 5 - UNIT_KINDS}  # 5 Units: 2 + 3
    assert outcome(after) == outcome(scratch(text))
    assert all(n.attrs["bias"] for _, n in after.graph.nodes() if n.module and n.module.endswith(".conv"))


def test_an_edit_of_a_parameter_re_evaluates_only_what_reads_it():
    cache = BlockCache()
    check(SPEC, cache)
    text = edited(SPEC, "num_classes: 10", "num_classes: 11")  # read by the model's `fc` only
    after = check(text, cache)
    assert dict(cache.evaluated) == {"net": 1}
    assert outcome(after) == outcome(scratch(text))
    text = edited(text, "groups: 1", "groups: 2")  # read by each Unit's conv
    after = check(text, cache)
    assert dict(cache.evaluated) == {"Unit": UNIT_KINDS}
    assert outcome(after) == outcome(scratch(text))


def test_an_edit_of_a_signature_re_evaluates_the_blocks_that_use_it():
    cache = BlockCache()
    check(SPEC, cache)
    text = edited(SPEC, "Unit(planes, stride=1):", "Unit(planes, stride=1, dilation=1):")
    after = check(text, cache)
    assert dict(cache.evaluated) == {"Unit": UNIT_KINDS, "Stage": 2}
    assert outcome(after) == outcome(scratch(text))


def test_an_edit_of_a_forward_re_evaluates_no_layers():
    cache = BlockCache()
    check(SPEC, cache)
    text = edited(SPEC, "x >> conv >> bn >> relu", "x >> conv >> bn >> sigmoid")
    after = check(text, cache)
    assert dict(cache.evaluated) == {}
    assert outcome(after) == outcome(scratch(text))


def test_text_that_moves_is_evaluated_again_with_its_new_places():
    cache = BlockCache()
    check(SPEC, cache)
    text = "# a new first line\n" + SPEC
    after = check(text, cache)
    assert dict(cache.evaluated) == {"net": 1, "Stage": 2, "Unit": UNIT_KINDS}
    assert dict(cache.reused) == {"Unit": 1}  # stage2's third Unit, equal to its second in this check
    assert outcome(after) == outcome(scratch(text))
    stem = after.graph.node("stem")
    assert (stem.span.line, stem.span.col) == (SPEC.split("\n").index("  stem: conv2d(width, 3, padding=1)") + 2, 9)


def test_an_error_stores_nothing_and_its_fix_is_checked_in_full():
    cache = BlockCache()
    check(SPEC, cache)
    broken = edited(SPEC, "groups=groups, bias=false", "groups=groupz, bias=false")
    after = check(broken, cache)
    assert [p.code for p in after.problems] == ["E005"]  # `groupz` is not defined
    assert outcome(after) == outcome(scratch(broken))
    assert outcome(check(SPEC, cache)) == outcome(scratch(SPEC))
    assert dict(cache.evaluated) == {}  # the entries of before the error are kept


@pytest.mark.parametrize("old, new", [("stem: conv2d(width, 3, padding=1)", "stem: conv2d(width, 3, padding={})"),
                                      ("Unit(planes, stride=1):", "Unit(planes, stride={}):")])
def test_a_constant_of_another_type_in_the_same_place_is_another_declaration(old, new):
    """`100` then `1e2`: equal numbers of the same length, in the same place; the AST's own `==` holds them equal,
    elaboration does not (a float is no padding or stride)."""
    cache = BlockCache()
    assert check(edited(SPEC, old, new.format("100")), cache).problems == []
    text = edited(SPEC, old, new.format("1e2"))
    after = check(text, cache)
    assert [p.code for p in after.problems] == ["E007"] and "got 100.0" in after.problems[0].message
    assert outcome(after) == outcome(scratch(text))


def test_fingerprints_tell_apart_what_elaboration_tells_apart():
    assert fingerprint(1) != fingerprint(1.0) != fingerprint(True)
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint([1, (2, "a")]) == fingerprint([1, (2, "a")]) != fingerprint([1, [2, "a"]])
    assert fingerprint({"a": 1, "b": 2}) != fingerprint({"b": 2, "a": 1})  # order is iteration order
    try:
        fingerprint(object())
    except Uncachable:
        pass
    else:
        raise AssertionError("an unknown value must be uncachable")


@fuzz_settings(ci=5, long=400)
@given(st.sampled_from(sorted(ZOO_TEXT)), st.data())
def test_incremental_checks_equal_checks_from_scratch(name, data):
    """A zoo spec, then 1 to 4 random edits (the CLI fuzz's mutations, each of the text before), then the
    spec again: after each, the incremental check shows what a check from scratch shows."""
    text = ZOO_TEXT[name]
    cache = BlockCache()
    check(text.decode("utf-8", "replace"), cache)
    for _ in range(data.draw(st.integers(1, 4))):
        text = data.draw(mutation(text))
        decoded = text.decode("utf-8", "replace")
        assert outcome(check(decoded, cache)) == outcome(scratch(decoded))
    original = ZOO_TEXT[name].decode()
    assert outcome(check(original, cache)) == outcome(scratch(original))


@pytest.fixture
def statements(monkeypatch) -> Counter:
    """Block name -> how many statements of its forward were evaluated (in all its instances)."""
    counted: Counter = Counter()
    run = Builder._stmt

    def counting(self, stmt, scope, target):
        counted[self.frame.module.block.name] += 1
        return run(self, stmt, scope, target)

    monkeypatch.setattr(Builder, "_stmt", counting)
    return counted


def test_an_edit_in_one_block_traces_the_forwards_of_no_other_blocks_instances(statements):
    cache = BlockCache()
    check(SPEC, cache)
    assert statements == Counter({"net": 2, "Stage": 2, "Unit": 5})  # one statement per instance: 2 Stages, 5 Units
    statements.clear()
    text = edited(SPEC, "    forward: |\n      x >> units", "    forward: |\n      x >> units >> relu")
    after = check(text, cache)
    assert statements == Counter({"net": 2, "Stage": 2})  # the Units' calls replayed inside the Stages' new traces
    assert dict(cache.replayed) == {"Unit": 5}
    assert outcome(after) == outcome(scratch(text))
    statements.clear()
    text = edited(text, "num_classes: 10", "num_classes: 12")  # read by the model's fc only
    after = check(text, cache)
    assert statements == Counter({"net": 2}) and dict(cache.replayed) == {"Stage": 2}
    assert outcome(after) == outcome(scratch(text))
    statements.clear()
    text = edited(text, "stage2: Stage(wide, n=3)", "stage2: Stage(wide, n=2)")  # one Unit fewer in stage2
    after = check(text, cache)
    assert statements == Counter({"net": 2, "Stage": 1}) and dict(cache.replayed) == {"Stage": 1, "Unit": 2}
    assert outcome(after) == outcome(scratch(text))
    statements.clear()
    text = edited(text, "x >> conv >> bn >> relu", "x >> conv >> bn >> gelu")  # every Unit, and what holds them
    after = check(text, cache)
    assert statements == Counter({"net": 2, "Stage": 2, "Unit": 4}) and dict(cache.replayed) == {}
    assert outcome(after) == outcome(scratch(text))


def test_a_replayed_call_is_rewired_to_its_new_inputs(statements):
    """An op inserted before stage1 in the model's forward: stage1's input is another node, stage1's trace is
    replayed onto it (its nodes keep their ids), and stage2 follows stage1's output as before."""
    cache = BlockCache()
    check(SPEC, cache)
    statements.clear()
    text = edited(SPEC, "x >> stem >> relu >> stage1", "x >> stem >> gelu >> stage1")
    after = check(text, cache)
    assert statements == Counter({"net": 2}) and dict(cache.replayed) == {"Stage": 2}
    first = after.graph.node("stage1.units.0.conv")
    assert first.inputs == [Tensor("gelu")]
    assert outcome(after) == outcome(scratch(text))


TWIN = """\
name: twin
params:
  width: 8
  rate: 0.1
  depth: 2
inputs:
  a: [N, 8, 16, 16]
  b: [N, 8, 16, 16]
blocks:
  Enc(planes):
    layers:
      conv: conv2d(planes, 3, padding=1)
      scale: parameter([1, planes, 1, 1])
      blocks: "[conv2d(planes, 3, padding=1) for _ in range(depth)]"
    forward: |
      y = x >> conv >> relu
      for layer in blocks:
        y = y + layer(y)
      y = y * scale
      dropout(y, p=rate)
  Pair(planes):
    layers:
      enc: Enc(planes)
    forward: |
      e = enc(x)
      f = enc(e)
      e + f
layers:
  left: Pair(width)
  shared: Enc(width)
methods:
  one:
    inputs:
      a: [N, 8, 16, 16]
    forward: |
      a >> left >> shared
forward: |
  p = shared(a)
  q = shared(b)
  r = left(p + q)
  (r, shared(r))
"""


def test_instances_called_several_times_with_loops_parameters_and_methods_replay_exactly(statements):
    """Shared instances (each call its own trace: `@k` ids), `for` over layers (a first call's program records
    it: replayed onto the same inputs only), a `parameter` layer, a method calling the model's layers again, a
    forward reading a top-level parameter: after each edit, what a check from scratch shows."""
    cache = BlockCache()
    check(TWIN, cache)
    text = TWIN
    for old, new, traced, replayed in [
            ("e + f", "e - f", {"Pair": 2}, {"Enc": 8}),  # left's two calls (forward, method); its enc's inside
            ("rate: 0.1", "rate: 0.2", {"Pair": 2, "Enc": 8}, {}),  # every Enc's forward reads `rate`
            ("p = shared(a)", "p = shared(b)", {"Enc": 1}, {"Enc": 3, "Pair": 2}),  # the first call, on another
            ("  r = left(p + q)", "  r = left(p * q)", {"Pair": 1, "Enc": 1}, {"Enc": 5, "Pair": 1}),  # input
            ("depth: 2", "depth: 3", {"Pair": 2, "Enc": 8}, {})]:
        statements.clear()
        text = edited(text, old, new)
        after = check(text, cache)
        assert (dict(cache.traced), dict(cache.replayed)) == (traced, replayed), old
        assert set(statements) == {"twin", "one", *traced}
        assert outcome(after) == outcome(scratch(text))


def test_a_zoo_spec_edited_at_its_head_traces_only_the_models_forward(statements):
    text = ZOO_TEXT["resnet"].decode()
    cache = BlockCache()
    check(text, cache)
    statements.clear()
    text = edited(text, "num_classes: 1000", "num_classes: 1001")
    after = check(text, cache)
    assert set(statements) == {"resnet"}
    assert dict(cache.replayed) == {"Bottleneck": 16}  # resnet50: 3 + 4 + 6 + 3
    assert outcome(after) == outcome(scratch(text))


@pytest.fixture
def rule_calls(monkeypatch) -> Counter:
    """(op name, 'shape' | 'macs') -> how often that rule of the op ran: every op of the registry counting."""
    calls: Counter = Counter()

    def counted(rule, key):
        def run(*args):
            calls[key] += 1
            return rule(*args)
        return run

    for op in REGISTRY.all():
        monkeypatch.setitem(REGISTRY._ops, op.name, replace(op, shape=counted(op.shape, (op.name, "shape")),
                                                            macs=counted(op.macs, (op.name, "macs"))))
    return calls


def test_an_edit_in_one_block_evaluates_the_rules_of_its_nodes_only(rule_calls):
    cache = BlockCache()
    check(SPEC, cache)
    rule_calls.clear()
    text = edited(SPEC, "groups=groups, bias=false)", "groups=groups, bias=true)")
    after = check(text, cache)
    # Unit's conv (5 instances: 2 in stage1, 3 in stage2) has other attributes; the same output shape, so the
    # nodes after it (its bn, relu, the next Unit, the model's pool and fc) keep theirs
    assert rule_calls == Counter({("conv2d", "shape"): 5, ("conv2d", "macs"): 5})
    convs = {nid for nid, n in after.graph.nodes() if n.module and re.fullmatch(r"stage\d\.units\.\d\.conv", n.module)}
    assert len(convs) == 5
    ops = {nid for nid, n in after.graph.nodes() if n.kind == "op"}
    assert cache.carry.latest.kept == cache.carry.latest.macs == ops - convs
    assert outcome(after) == outcome(scratch(text))


def test_an_edit_that_changes_a_shape_evaluates_the_nodes_it_reaches(rule_calls):
    cache = BlockCache()
    check(SPEC, cache)
    rule_calls.clear()
    after = check(edited(SPEC, "num_classes: 10", "num_classes: 11"), cache)
    assert rule_calls == Counter({("linear", "shape"): 1, ("linear", "macs"): 1})  # fc, the last node
    rule_calls.clear()
    text = edited(SPEC, "width: 16", "width: 8")
    after = check(text, cache)
    # every layer's channels change: every node after the input is evaluated again; stage2's third Unit is
    # evaluated as its second is (the graph's own nodes are not compared with each other)
    assert sum(rule_calls[op, "shape"] for op in ("conv2d", "batchnorm2d", "relu", "linear")) == sum(
        1 for _, n in after.graph.nodes() if n.op is not None and n.op.name in ("conv2d", "batchnorm2d", "relu", "linear"))
    assert cache.carry.latest.kept == set()
    assert outcome(after) == outcome(scratch(text))


def test_nothing_is_carried_where_assumptions_are_accepted():
    """With `assume`, rules record the conditions they assume in the graph's facts: they always run."""
    limits, cache = resolve(None), BlockCache()
    for _ in range(2):
        doc = pipeline.read(PATH, limits, text=SPEC)
        pipeline.elaborate(doc, {}, limits, collect_errors=True, assume=True, blocks=cache, carry=cache.carry)
        assert cache.carry.latest is None


def number_edit(text: bytes):
    """One integer literal of the spec replaced by another: the text stays YAML and mostly a model, with other
    sizes, counts or attributes (or an error)."""
    spots = [m.span() for m in re.finditer(rb"(?<![\w.])\d+(?![\w.])", text)]
    return st.tuples(st.sampled_from(spots), st.sampled_from([b"0", b"1", b"2", b"3", b"5", b"8", b"64"])).map(
        lambda edit: text[:edit[0][0]] + edit[1] + text[edit[0][1]:])


@fuzz_settings(ci=4, long=200)
@given(st.sampled_from(sorted(ZOO_TEXT)), st.data())
def test_checks_after_number_edits_equal_checks_from_scratch(name, data):
    """A zoo spec, then 1 to 3 edits of its numbers, each checked (after the first, with the nodes of the
    check before carried over): every node's shapes, dtypes, parameters and MACs and every diagnostic are
    those of a check from scratch."""
    text = ZOO_TEXT[name]
    cache = BlockCache()
    check(text.decode(), cache)
    for _ in range(data.draw(st.integers(1, 3))):
        text = data.draw(number_edit(text))
        assert outcome(check(text.decode(), cache)) == outcome(scratch(text.decode()))


SAME_LENGTH_OPS = [b"relu", b"gelu", b"silu", b"tanh"]  # elementwise ops whose names have 4 letters


def op_edit(text: bytes):
    """One of these ops (in a forward, a layer or a let) replaced by another: nothing else in the text moves, so
    every unchanged block instance can be reused, its forward's trace included."""
    spots = [m.span() for m in re.finditer(rb"(?<![\w.])(relu|gelu|silu|tanh)(?![\w])", text)]
    if not spots:
        return number_edit(text)
    return st.tuples(st.sampled_from(spots), st.sampled_from(SAME_LENGTH_OPS)).map(
        lambda edit: text[:edit[0][0]] + edit[1] + text[edit[0][1]:])


WITH_BLOCKS = sorted(name for name, text in ZOO_TEXT.items() if b"\nblocks:" in text)  # instances to reuse


@fuzz_settings(ci=5, long=200)
@given(st.sampled_from(WITH_BLOCKS), st.data())
def test_checks_after_edits_that_move_nothing_equal_checks_from_scratch(name, data):
    """A zoo spec, then 1 to 4 edits of its numbers or of its ops' names that keep every other expression in
    place (block instances and their forwards' traces reused): each check shows what a check from scratch
    shows."""
    text = ZOO_TEXT[name]
    cache = BlockCache()
    check(text.decode(), cache)
    for _ in range(data.draw(st.integers(1, 4))):
        text = data.draw(st.one_of(op_edit(text), number_edit(text)))
        assert outcome(check(text.decode(), cache)) == outcome(scratch(text.decode()))


def test_the_server_collects_garbage_after_a_pause_or_every_few_checks(monkeypatch):
    """The server's garbage collector runs between checks (archdsl/lsp/server.py): after a pause in editing,
    or at once after COLLECT_EVERY checks without one."""
    import asyncio

    from archdsl.lsp import server as S

    async def run():
        ls = S.SpecServer()
        collected = []
        monkeypatch.setattr(ls, "collect", lambda: collected.append(ls.uncollected))
        loop = asyncio.get_running_loop()
        for _ in range(S.COLLECT_EVERY - 1):
            ls.collect_soon()
        assert ls.collection.when() - loop.time() > S.COLLECT_IDLE_S / 2  # waits for a pause
        await asyncio.sleep(S.COLLECT_IDLE_S * 1.5)
        assert collected == [S.COLLECT_EVERY - 1]
        ls.uncollected = 0
        for _ in range(S.COLLECT_EVERY):
            ls.collect_soon()
        await asyncio.sleep(0.05)  # the tenth check: at once
        assert collected == [S.COLLECT_EVERY - 1, S.COLLECT_EVERY]
        ls.checker.shutdown()

    asyncio.run(run())


def test_attributes_compare_with_their_types():
    """passes/carry.py carries a node over only where its attributes are equal with the same types."""
    from archdsl.ops.registry import Attrs
    from archdsl.passes.carry import _equal

    assert _equal(Attrs(k=3, s=(1, 2), eps=1e-5), Attrs(k=3, s=(1, 2), eps=1e-5))
    assert not _equal(Attrs(k=1), Attrs(k=True)) and not _equal(Attrs(k=1), Attrs(k=1.0))
    assert not _equal(Attrs(k=0.0), Attrs(k=-0.0)) and not _equal(Attrs(s=(1, 2)), Attrs(s=[1, 2]))
    assert not _equal(Attrs(s=(1, (2, 3))), Attrs(s=(1, (2, 3.0))))
    assert not _equal(Attrs(x=1, y=True), Attrs(y=1, x=True))  # equal as dicts, not key by key
