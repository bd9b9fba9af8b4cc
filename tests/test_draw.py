"""Diagram structure, read from the DOT text (no Graphviz needed): clusters, shapes on arrows, folding, errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import archdsl
from archdsl.backends.graphviz.labels import caption_text, count_text, shape_text
from archdsl.errors import ShapeError, UsageError
from archdsl.ops.registry import REGISTRY
from tests.counts import bottleneck, conv
from tests.helpers import ROOT, spec_path

# --- a small reader for the DOT this backend writes ------------------------------------------------------------

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<)')


def _attrs(text: str) -> dict:
    """`[a="1" label=<<b>x</b>>]` -> {'a': '1', 'label': '<b>x</b>'}; HTML labels by balanced brackets."""
    out, pos = {}, 0
    while True:
        m = _ATTR.search(text, pos)
        if not m:
            return out
        key, start = m.group(1), m.group(2)
        if start == "<":
            depth, i = 0, m.start(2)
            while True:
                depth += {"<": 1, ">": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
            out[key], pos = text[m.start(2) + 1:i - 1], i
        else:
            out[key], pos = start[1:-1].replace('\\"', '"').replace("\\\\", "\\"), m.end()


class Dot:
    """Nodes, edges and clusters (with the clusters enclosing each node) of a DOT text."""

    def __init__(self, text: str):
        self.text = text
        self.nodes: dict[str, dict] = {}
        self.edges: list[tuple[str, str, dict]] = []
        self.clusters: dict[str, dict] = {}
        self.parents: dict[str, list] = {}   # node or cluster -> enclosing clusters, outermost first
        self.graph: dict = {}
        stack: list[str] = []
        for line in text.splitlines():
            s = line.strip()
            if m := re.match(r'subgraph "(cluster_[^"]*)" \{$', s):
                self.parents[m.group(1)] = list(stack)
                stack.append(m.group(1))
            elif s == "}":
                if stack:
                    stack.pop()
            elif s.startswith("graph ["):
                if stack:
                    self.clusters[stack[-1]] = _attrs(s)
                else:
                    self.graph = _attrs(s)
            elif m := re.match(r'"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" (\[.*\])$', s):
                self.edges.append((m.group(1), m.group(2), _attrs(m.group(3))))
            elif m := re.match(r'"((?:[^"\\]|\\.)*)" (\[.*\])$', s):
                self.nodes[m.group(1)] = _attrs(m.group(2))
                self.parents[m.group(1)] = list(stack)

    def labelled(self) -> dict[str, str]:
        """tensor id -> the shape written on its arrow."""
        return {a["id"]: a["label"] for _, _, a in self.edges if a.get("id", "").startswith("tensor:")}

    def ties(self) -> list:
        """(tail, head, attributes) of each dashed tie edge: a layer's weight reused by another."""
        return [(t, h, a) for t, h, a in self.edges if a.get("id", "").startswith("tie:")]

    def edges_into(self, head: str) -> list:
        return [(t, a) for t, h, a in self.edges if h == head]


def dot_of(name: str, params: dict | None = None, **options) -> Dot:
    return Dot(archdsl.load(spec_path(name), **(params or {})).to_dot(**options))


BAD = """\
name: bad
inputs: {x: [N, 3, 32, 32]}
blocks:
  Basic(planes):
    layers:
      conv1: conv2d(planes, 3, padding=1, bias=false)
      bn1: batchnorm2d()
    forward: |
      relu(x >> conv1 >> bn1) + x
layers:
  stem: conv2d(16, 3, padding=1)
  layer1: "[Basic(32)] * 2"
  fc: linear(10)
forward: |
  x >> stem >> relu >> layer1 >> global_avgpool2d >> fc
"""

TWO_MODELS = """\
name: autoencoder
params: {latent: 4}
models:
  encoder:
    inputs: {x: [N, 16]}
    layers: {l1: linear(8), l2: linear(latent)}
    forward: |
      x >> l1 >> relu >> l2
  decoder:
    inputs: {z: [N, latent]}
    layers:
      out: "[linear(16), sigmoid]"
    forward: |
      out(z)
"""


# --- clusters -----------------------------------------------------------------------------------------------------

def test_a_cluster_per_block_instance_and_sequence_nested_like_the_spec():
    spec = archdsl.load(spec_path("googlenet"))
    dot = Dot(spec.to_dot())
    root = spec.graph.roots["googlenet"]
    containers = [m for m in root.walk() if m is not root and m.kind in ("block", "seq")]
    assert {f"cluster_{m.path}" for m in containers} == set(dot.clusters)
    assert dot.parents["cluster_inception3a.branch2.0"] == ["cluster_inception3a", "cluster_inception3a.branch2"]
    assert dot.parents["inception3a.branch2.0.conv"][-1] == "cluster_inception3a.branch2.0"
    label = dot.clusters["cluster_inception3a"]["label"]
    assert "inception3a" in label and "Inception" in label
    assert "BasicConv2d" in dot.clusters["cluster_inception3a.branch2.0"]["label"]


def test_every_op_is_a_box_inside_the_cluster_of_its_block():
    spec = archdsl.load(spec_path("resnet"), depth=18)
    dot = Dot(spec.to_dot(fuse=False))
    for nid, node in spec.graph.nodes():
        if node.op is None:
            continue
        assert nid in dot.nodes
        scope = node.scope
        assert dot.parents[nid][-1:] == ([f"cluster_{node.module.rpartition('.')[0]}"]
                                         if node.module and "." in node.module else
                                         [f"cluster_{scope}"] if scope else [])


# --- shapes on the arrows ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, depth", [
    ("googlenet", {}, None), ("googlenet", {}, 1), ("resnet", {}, 1), ("resnet", {"depth": 18}, None),
    ("lenet5", {}, None), ("vgg", {}, 0), ("mlp", {}, None),
])
def test_arrow_labels_are_the_statically_inferred_shapes(name, params, depth):
    spec = archdsl.load(spec_path(name), **params)
    shapes = spec.check()
    dot = Dot(spec.to_dot(depth=depth))
    labelled = dot.labelled()
    assert labelled, "no shapes drawn"
    for tid, label in labelled.items():
        assert label == shape_text(shapes[tid.removeprefix("tensor:")])
    assert f"tensor:{spec.graph.outputs[name].node}" in labelled   # the output arrow too


def test_shapes_are_written_with_symbols_kept_symbolic():
    dot = dot_of("resnet")
    # He et al. 2016, Table 1: after the 3x3/2 max pool, 64 channels of 56x56
    assert dot.labelled()["tensor:maxpool2d"] == "N x 64 x 56 x 56"
    assert dot_of("resnet", {"N": 8}).labelled()["tensor:maxpool2d"] == "8 x 64 x 56 x 56"


def test_a_tensor_read_twice_is_labelled_once_at_a_junction():
    dot = dot_of("resnet", {"depth": 18})
    out_of_pool = [(h, a) for t, h, a in dot.edges if t == "maxpool2d"]
    assert len(out_of_pool) == 1 and out_of_pool[0][0].startswith("split:")
    readers = {h for t, h, _ in dot.edges if t == out_of_pool[0][0]}
    assert readers == {"layer1.0.conv1", "layer1.0.add"}
    assert dot.nodes[out_of_pool[0][0]]["shape"] == "point"


# --- boxes ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op, attrs, text", [
    ("conv2d", dict(out_channels=64, kernel_size=3, stride=2), "conv2d 3x3/2, 64"),
    ("conv2d", dict(out_channels=64, kernel_size=(1, 7)), "conv2d 1x7, 64"),
    ("conv2d", dict(out_channels=32, kernel_size=3, groups=32, dilation=2), "conv2d 3x3, 32, dilation 2, groups 32"),
    ("maxpool2d", dict(kernel_size=3, stride=2), "maxpool2d 3x3/2"),
    ("avgpool2d", dict(kernel_size=2), "avgpool2d 2x2/2"),
    ("adaptive_avgpool2d", dict(output_size=1), "adaptive_avgpool2d to 1x1"),
    ("linear", dict(out_features=1000), "linear 1000"),
    ("dropout", dict(p=0.5), "dropout 0.5"),
    ("relu", {}, "relu"),
    ("scalar_arith", dict(op="*", value=0.5), "x 0.5"),
])
def test_op_captions(op, attrs, text):
    from archdsl.errors import Span
    from archdsl.ops.registry import bind

    definition = REGISTRY.get(op)
    where = Span("t", 1, 1)
    bound = bind(definition, [], {k: (v, where) for k, v in attrs.items()}, where)
    assert caption_text(definition, bound) == text


def test_boxes_show_the_op_its_arguments_the_layer_and_its_parameters():
    dot = dot_of("resnet")
    label = dot.nodes["conv1"]["label"]
    # conv1: 7x7/2, 64 (He et al. 2016, Table 1), no bias: 7 * 7 * 3 * 64 = 9,408 weights
    assert conv(3, 64, 7, bias=False) == 9408
    assert "<b>conv2d</b> 7x7/2, 64" in label and "conv1 · 9.41K" in label
    assert dot.nodes["layer1.0.add"]["label"] == "+" and dot.nodes["layer1.0.add"]["shape"] == "circle"
    # count_text: three significant digits with a K/M suffix (arbitrary inputs of each magnitude)
    assert count_text(25_557_032) == "25.6M" and count_text(9408) == "9.41K" and count_text(120) == "120"


def test_op_families_have_fixed_colours():
    from archdsl.backends.graphviz.style import FAMILY_COLOURS

    spec = archdsl.load(spec_path("googlenet"))
    dot = Dot(spec.to_dot(fuse=False))
    seen = set()
    for nid, node in spec.graph.nodes():
        if node.op is not None:
            assert (dot.nodes[nid]["fillcolor"], dot.nodes[nid]["color"]) == FAMILY_COLOURS[node.op.family]
            seen.add(node.op.family)
    assert {"conv", "pool", "activation", "merge", "linear", "norm", "dropout"} <= seen


def test_an_activation_that_alone_reads_an_op_is_drawn_in_its_box():
    spec = archdsl.load(spec_path("resnet"), depth=18)
    dot = Dot(spec.to_dot())
    assert "relu" not in dot.nodes and "layer1.0.relu" not in dot.nodes
    assert "<b>batchnorm2d</b> + " in dot.nodes["bn1"]["label"] and "<b>relu</b>" in dot.nodes["bn1"]["label"]
    # the box's output is the activation's: conv1's 112x112x64 (He et al. 2016, Table 1)
    assert dot.labelled()["tensor:relu"] == "N x 64 x 112 x 112"
    assert "layer1.0.relu_1" in dot.nodes                               # after `+`: a box of its own
    # GoogLeNet's first layer: convolution 7x7/2, depth 64 (Szegedy et al. 2015, Table 1)
    assert dot_of("googlenet").nodes["conv1.conv"]["label"].startswith("<b>conv2d</b> 7x7/2, 64 + ")
    unfused = Dot(spec.to_dot(fuse=False))
    assert "relu" in unfused.nodes and "+" not in unfused.nodes["bn1"]["label"]


# --- folding with depth ------------------------------------------------------------------------------------------

def test_depth_folds_deeper_blocks_into_one_box_with_name_shape_and_parameters():
    spec = archdsl.load(spec_path("resnet"))
    dot = Dot(spec.to_dot(depth=1))
    assert set(dot.clusters) == {"cluster_layer1", "cluster_layer2", "cluster_layer3", "cluster_layer4"}
    assert not any(n.startswith("layer1.0.") for n in dot.nodes)
    label = dot.nodes["unit:layer2.0"]["label"]
    # conv3_x: 28x28x512 (He et al. 2016, Table 1); the projecting bottleneck 256 -> 128 -> 512 has
    # 379,392 parameters (tests/counts.py), drawn to three digits
    want = bottleneck(256, 128, downsample=True)
    assert want == 379_392
    assert "<b>Bottleneck</b>" in label and "N x 512 x 28 x 28" in label and f"{want // 1000}K params" in label
    assert dot.parents["unit:layer2.0"] == ["cluster_layer2"]
    rows = {r.name: r for r in spec.summary(depth=1)}
    assert rows["layer2.0"].params == want


def test_depth_zero_folds_every_top_level_block():
    dot = dot_of("resnet", depth=0)
    assert not dot.clusters
    assert {"unit:layer1", "unit:layer2", "unit:layer3", "unit:layer4"} <= set(dot.nodes)
    assert "Bottleneck" in dot.nodes["unit:layer1"]["label"]     # what the sequence holds


def test_a_run_of_identical_blocks_is_one_box_marked_x_n():
    # ResNet-50 has 3, 4, 6, 3 bottlenecks per stage (He et al. 2016, Table 1): after each stage's first
    # (projecting) block, runs of 2, 3, 5 and 2 identical ones
    dot = dot_of("resnet", depth=1)
    assert "<b>Bottleneck</b> x 2" in dot.nodes["unit:layer1.1"]["label"]     # layer1.1-2
    assert "<b>Bottleneck</b> x 5" in dot.nodes["unit:layer3.1"]["label"]     # layer3.1-5
    assert "<b>Bottleneck</b><br/>" in dot.nodes["unit:layer3.0"]["label"]    # the projecting one is different
    assert "unit:layer3.2" not in dot.nodes
    out_of_run = [a for t, h, a in dot.edges if t == "unit:layer3.1"]
    # conv4_x: 14x14x1024 (Table 1)
    assert [(a["id"], a["label"]) for a in out_of_run] == [("tensor:layer3.5.relu_2", "N x 1024 x 14 x 14")]
    small = dot_of("resnet", {"depth": 18}, depth=1)   # ResNet-18: 2 basic blocks per stage, layer1 has no projection
    assert "<b>BasicBlock</b> x 2" in small.nodes["unit:layer1.0"]["label"]


def test_full_depth_has_no_folded_boxes():
    assert not any(n.startswith("unit:") for n in dot_of("googlenet").nodes)


def test_negative_depth_is_a_usage_error():
    with pytest.raises(UsageError):
        archdsl.load(spec_path("lenet5")).to_dot(depth=-1)


# --- shape errors ---------------------------------------------------------------------------------------------

def test_a_shape_error_draws_the_offending_inputs_red_with_both_shapes(write_spec):
    spec = archdsl.load(write_spec(BAD))
    with pytest.raises(ShapeError):
        spec.to_dot()
    dot = Dot(spec.to_dot(allow_errors=True))
    into = dot.edges_into("layer1.0.add")
    assert len(into) == 2
    labels = set()
    for tail, attrs in into:
        if tail.startswith("split:"):      # x is read twice: its shape is on the arrow into the junction
            attrs = {**attrs, **next(a for t, h, a in dot.edges if h == tail)}
        assert attrs["color"] == "#dc2626"
        labels.add(attrs["label"])
    assert labels == {"N x 32 x 32 x 32", "N x 16 x 32 x 32"}   # BAD: Basic(32)'s conv output + the 16-wide stem
    box = dot.nodes["layer1.0.add"]
    assert box["color"] == "#dc2626" and "cannot broadcast" in box["label"]
    assert dot.labelled()["tensor:layer1.0.add"] == "?"                        # nothing checked after it
    assert "dashed" in dot.nodes["fc"]["style"]


def test_a_shape_error_inside_a_folded_block_marks_the_box(write_spec):
    dot = Dot(archdsl.load(write_spec(BAD)).to_dot(depth=1, allow_errors=True))
    assert dot.nodes["unit:layer1.0"]["color"] == "#dc2626"
    assert any(a.get("color") == "#dc2626" for _, a in dot.edges_into("unit:layer1.0"))


# --- layout options, models, determinism ------------------------------------------------------------------------

def test_direction():
    assert dot_of("lenet5", direction="LR").graph["rankdir"] == "LR"
    assert dot_of("lenet5").graph["rankdir"] == "TB"
    with pytest.raises(UsageError):
        archdsl.load(spec_path("lenet5")).to_dot(direction="BT")


def test_each_model_is_its_own_cluster_or_one_is_picked(write_spec):
    spec = archdsl.load(write_spec(TWO_MODELS))
    dot = Dot(spec.to_dot())
    assert {"cluster_model_encoder", "cluster_model_decoder"} <= set(dot.clusters)
    assert dot.parents["encoder.l1"] == ["cluster_model_encoder"]
    assert dot.parents["decoder.out.0"] == ["cluster_model_decoder", "cluster_decoder.out"]
    only = Dot(spec.to_dot(model="decoder"))
    assert "encoder.l1" not in only.nodes and "decoder.out.0" in only.nodes
    assert "cluster_model_decoder" not in only.clusters
    with pytest.raises(UsageError, match="encoder, decoder"):
        spec.to_dot(model="generator")


def test_same_spec_same_bytes_across_processes():
    code = "import archdsl, sys; sys.stdout.write(archdsl.load('specs/googlenet.yaml').to_dot(depth=1))"
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.append(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                                   text=True, check=True).stdout)
    assert outs[0] == outs[1] and outs[0].startswith("digraph")
    assert archdsl.load(spec_path("googlenet")).to_dot(depth=1) == outs[0]


# --- loops, drawn rolled ---------------------------------------------------------------------------------------

def _loops_spec(write_spec):
    import re as _re

    text = (ROOT / "tests" / "test_loops.py").read_text()
    return archdsl.load(write_spec(_re.search(r'LOOPS = """\\\n(.*?)"""', text, _re.S).group(1)))


def test_a_loop_is_one_frame_with_its_step_inputs_body_and_a_back_edge_per_carried_state(write_spec):
    spec = _loops_spec(write_spec)
    dot = Dot(spec.to_dot())
    frame = "cluster_loop_cell.scan"
    assert "T steps over dim 1" in dot.clusters[frame]["label"]
    assert dot.parents["cell.scan.x"] == [frame] and dot.parents["cell.scan"] == [frame]
    assert dot.parents["cell.ih"] == [frame, "cluster_cell"]          # the body's ops, drawn once
    back = {(t, h): a for t, h, a in dot.edges if a.get("constraint") == "false"}
    assert back[("cell.tanh", "cell.scan.h")]["label"] == "T steps over dim 1"
    assert back[("route.add", "route.loop.b")]["label"] == "3 iterations"             # LOOPS: loop(route, 3, ...)
    assert back[("step.tanh", "step.decode.h")]["label"].startswith("up to 6 steps")  # LOOPS: max_len=6
    assert back[("step.out", "step.decode.tok")]["label"] == "argmax"
    assert not any(t == "x" and h == "cell.scan" for t, h, _ in dot.edges)   # x enters through its step input
    shapes = dot.labelled()
    assert shapes["tensor:x"] == "N x T x 8" and shapes["tensor:cell.scan.x"] == "N x 8"   # sequence, one step
    assert shapes["tensor:cell.scan"] == "N x T x 16"                     # the stacked outputs
    assert shapes["tensor:step.decode:1"] == "N x 6 x 5"                # max_len 6, Step's out: linear(5)


def test_a_folded_loop_body_keeps_its_frame_and_back_edges(write_spec):
    dot = Dot(_loops_spec(write_spec).to_dot(depth=0))
    assert dot.parents["unit:cell"] == ["cluster_loop_cell.scan"]
    assert any(t == "unit:cell" and h == "cell.scan.h" for t, h, a in dot.edges if a.get("constraint") == "false")


# --- models that use models, objectives ---------------------------------------------------------------------------

VAE = """\
name: vae
params: {latent: 4}
models:
  encoder:
    inputs: {x: [N, 16]}
    layers: {l1: linear(8), mu: linear(latent), logvar: linear(latent)}
    forward: |
      h = x >> l1 >> relu
      mu(h), logvar(h)
  decoder:
    inputs: {z: [N, latent]}
    layers:
      out: "[linear(16), sigmoid]"
    forward: |
      out(z)
  vae:
    uses: [encoder, decoder]
    inputs: {x: [N, 16]}
    forward: |
      mu, logvar = encoder(x)
      z = reparameterize(mu, logvar)
      decoder(z), mu, logvar
objectives:
  neg_elbo:
    inputs:
      x: [N, 16]
      x_hat: vae[0]
      mu: vae[1]
      logvar: vae[2]
    forward: |
      bce(x_hat, x) + kl_normal(mu, logvar)
"""


def test_a_model_used_by_another_is_one_box_in_it_and_objectives_are_frames(write_spec):
    spec = archdsl.load(write_spec(VAE))
    dot = Dot(spec.to_dot())
    assert {"cluster_model_encoder", "cluster_model_vae", "cluster_model_neg_elbo"} <= set(dot.clusters)
    assert "objective" in dot.clusters["cluster_model_neg_elbo"]["label"]
    assert dot.parents["unit:encoder"] == ["cluster_model_vae"] and dot.parents["encoder.l1"] == ["cluster_model_encoder"]
    assert "<b>encoder</b>" in dot.nodes["unit:encoder"]["label"]
    assert dot.labelled()["tensor:vae.reparameterize"] == "N x 4"   # VAE's params: latent 4
    assert dot.parents["neg_elbo.bce"] == ["cluster_model_neg_elbo"]
    only = Dot(spec.to_dot(model="vae"))
    assert set(only.nodes) >= {"unit:encoder", "unit:decoder", "vae.reparameterize"}
    assert not any(n.startswith(("encoder.", "neg_elbo.")) for n in only.nodes)


# --- weight tying -------------------------------------------------------------------------------------------------

# GPT-2's lm_head reuses transformer.wte's weight (specs/gpt2.yaml), small enough to draw in milliseconds
SMALL_GPT2 = dict(vocab=97, n_ctx=16, d=32, n_layer=2, n_head=4)


@pytest.mark.parametrize("depth, source", [(None, "transformer.wte"), (2, "transformer.wte"),
                                           (1, "transformer.wte"), (0, "unit:transformer")])
def test_a_tie_is_a_dashed_labelled_edge_from_the_source_box_and_a_caption(depth, source):
    spec = archdsl.load(spec_path("gpt2"), **SMALL_GPT2)
    dot = Dot(spec.to_dot(depth=depth))
    # one tie, from the embedding's box (depth 0: the folded GPT2Model that holds it) to the head's
    assert [(t, h) for t, h, _ in dot.ties()] == [(source, "lm_head")]
    attrs = dot.ties()[0][2]
    assert attrs["style"] == "dashed" and attrs["label"] == "tied weight" and attrs["constraint"] == "false"
    assert attrs["tooltip"] == "transformer.wte.weight"
    label = dot.nodes["lm_head"]["label"]
    assert "<b>tied_linear</b> 97" in label and "lm_head · tied to transformer.wte.weight" in label   # vocab 97
    # the diagram's total counts the shared weight once, as torch does (its parameters() lists it once)
    assert count_text(spec.summary().params) in dot.graph["label"]


def test_a_tie_inside_a_folded_box_is_its_caption(write_spec):
    from tests.test_summary import TIED_IN_A_BLOCK

    spec = archdsl.load(write_spec(TIED_IN_A_BLOCK))
    open_ = Dot(spec.to_dot())
    assert [(t, h) for t, h, _ in open_.ties()] == [("lm.wte", "lm.head")]
    folded = Dot(spec.to_dot(depth=0))
    assert not folded.ties()                                     # both layers in one box
    # the box's parameters count the tied weight once: embedding 11 x 4, layernorm 2 x 4, the head's bias 11
    assert "63 params · tied to lm.wte.weight" in folded.nodes["unit:lm"]["label"]
    assert 11 * 4 + 2 * 4 + 11 == 63 == spec.summary().params
