"""`archdsl summary`: per-layer rows or per-block rows (--depth), totals, parameter memory, four formats."""
from __future__ import annotations

import csv
import io
import json

import pytest

import archdsl
from archdsl.cli import main
from tests.counts import LENET5, bottleneck, conv, float32_mb
from tests.helpers import spec_path
from tests.reference import zoo

RESNET50 = zoo()["resnet50"]["published"]["num_params"]   # torchvision's published count (reference json)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_depth_aggregates_per_block_and_keeps_the_totals():
    spec = archdsl.load(spec_path("resnet"), N=1)
    full, folded = spec.summary(), spec.summary(depth=1)
    assert (folded.params, folded.macs) == (full.params, full.macs)
    assert full.params == RESNET50 == 25_557_032
    # torchvision publishes 4.089 G multiply-adds for one 224x224 image (reference json, `_ops`, 3 decimals)
    assert round(full.macs / 1e9, 3) == zoo()["resnet50"]["published"]["_ops"]
    assert sum(r.params for r in folded) == full.params and sum(r.macs for r in folded) == full.macs
    rows = {r.name: r for r in folded}
    # He et al. 2016, Table 1 (50-layer): conv2_x outputs 56x56 with 256 channels, conv5_x 7x7 with 2048
    assert rows["layer1.0"].op == "Bottleneck" and rows["layer1.0"].shape == (1, 256, 56, 56)
    assert rows["layer4.2"].shape == (1, 2048, 7, 7)
    assert rows["layer1.0"].params == bottleneck(64, 64, downsample=True)
    assert [r.name for r in folded][:5] == ["conv1", "bn1", "relu", "maxpool2d", "layer1.0"]


def test_depth_zero_gives_one_row_per_top_level_layer():
    rows = archdsl.load(spec_path("googlenet")).summary(depth=0)
    names = [r.name for r in rows]
    # Szegedy et al. 2015, Table 1 top to bottom, with Figure 3's two LocalRespNorm layers and the flatten
    # before the linear layer
    assert names == ["conv1", "maxpool1", "norm1", "conv2", "conv3", "norm2", "maxpool2", "inception3a",
                     "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d",
                     "inception4e", "maxpool4", "inception5a", "inception5b", "avgpool", "flatten", "dropout", "fc"]
    assert {r.op for r in rows if r.name.startswith("inception")} == {"Inception"}
    assert len(rows.rows) == len(names)


def test_sequences_fold_as_sequential():
    rows = {r.name: r for r in archdsl.load(spec_path("vgg")).summary(depth=0)}
    # Simonyan & Zisserman 2015, Table 1: the last convolutions have 512 channels, 7x7 after the 5th max pool
    assert rows["features"].op == "Sequential" and rows["features"].shape[1:] == (512, 7, 7)


def test_text_has_totals_and_megabytes(capsys):
    code, out, _ = run(capsys, "summary", spec_path("lenet5"))
    assert code == 0 and f"total: {LENET5:,} parameters ({float32_mb(LENET5):.2f} MB as float32)" in out
    assert f"{float32_mb(LENET5):.2f}" == "0.24"   # 61,706 * 4 bytes / 2**20


def test_markdown(capsys):
    code, out, _ = run(capsys, "summary", spec_path("resnet"), "--format", "markdown", "--depth", "1")
    lines = out.splitlines()
    assert code == 0 and lines[2] == "| layer | op | output shape | params | MACs |"
    assert bottleneck(64, 64, downsample=True) == 75_008   # tests/counts.py: He et al. 2016, Table 1
    assert f"| `layer1.0` | Bottleneck | [N, 256, 56, 56] | {bottleneck(64, 64, True):,} |" in out
    assert f"{RESNET50:,} parameters ({float32_mb(RESNET50):.2f} MB as float32)" in out


def test_csv(capsys):
    code, out, _ = run(capsys, "summary", spec_path("lenet5"), "--format", "csv", "-D", "N=1")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["layer", "op", "output_shape", "params", "macs"]
    # C1: 6 5x5 kernels on one map, 28 x 28 outputs, one multiply-add per weight per output position
    assert rows[1] == ["c1", "conv2d", "[1, 6, 28, 28]", str(conv(1, 6, 5)), str(6 * 28 * 28 * 5 * 5 * 1)]
    assert rows[-1][0] == "total" and rows[-1][3] == str(LENET5)


def test_json_with_depth(capsys):
    code, out, _ = run(capsys, "summary", spec_path("resnet"), "--format", "json", "--depth", "0", "-D", "N=1")
    data = json.loads(out)
    assert code == 0 and data["params"] == RESNET50
    assert data["param_mb"] == pytest.approx(float32_mb(RESNET50), abs=0.005)   # rounded to 2 decimals
    assert [r["name"] for r in data["rows"]][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    # He et al. 2016, Table 1: conv2_x (layer1) outputs 56x56x256
    assert data["rows"][4]["op"] == "Sequential" and data["rows"][4]["shape"] == [1, 256, 56, 56]


def test_negative_depth_is_a_usage_error(capsys):
    assert run(capsys, "summary", spec_path("lenet5"), "--depth", "-2")[0] == 2


# --- weight tying -------------------------------------------------------------------------------------------------

# GPT-2's lm_head reuses the token embedding's weight (specs/gpt2.yaml), at a size that builds in milliseconds
SMALL_GPT2 = dict(vocab=97, n_ctx=16, d=32, n_layer=2, n_head=4)

TIED_IN_A_BLOCK = """\
name: tiny_lm
params: {vocab: 11, d: 4}
inputs:
  tokens: {shape: [N, T], dtype: int64, high: vocab}
blocks:
  LM(vocab, d):
    inputs: [tokens]
    layers:
      wte: embedding(vocab, d)
      ln: layernorm()
      head: tied_linear('wte', bias=true)
    forward: |
      tokens >> wte >> ln >> head
layers:
  lm: LM(vocab, d)
forward: |
  lm(tokens)
"""


def reused_parameters(net, path: str) -> dict:
    """torch's own view of a tie: `named_parameters()` lists a shared tensor once, under its first key. The
    parameters of the layer at `path` that torch lists under another layer's key -> that key."""
    first = {id(p): name for name, p in net.named_parameters()}
    layer = net.get_submodule(path)
    return {name: first[id(p)] for name, p in layer.named_parameters() if first[id(p)] != f"{path}.{name}"}


def test_a_tied_layer_counts_no_weight_and_names_the_one_it_reuses():
    import torch
    spec = archdsl.load(spec_path("gpt2"), **SMALL_GPT2)
    full = spec.summary()
    rows = {r.name: r for r in full}
    with torch.device("meta"):
        net = spec.build()
    assert rows["lm_head"].params == 0
    assert rows["lm_head"].tied == tuple(reused_parameters(net, "lm_head").values()) == ("transformer.wte.weight",)
    assert full.params == sum(p.numel() for p in net.parameters()) == sum(r.params for r in full)
    assert rows["transformer.wte"].params == 97 * 32 and not rows["transformer.wte"].tied   # vocab x d, once
    for depth in (0, 1):   # lm_head is a top-level layer: its row and its tie at every depth
        folded = {r.name: r for r in spec.summary(depth=depth)}
        assert folded["lm_head"].tied == ("transformer.wte.weight",) and folded["lm_head"].params == 0
        assert sum(r.params for r in folded.values()) == full.params


def test_gpt2_small_counts_its_tied_weight_once():
    # issue 14: GPT-2 small with tied input and output embeddings has 124,439,808 parameters (Hugging Face's
    # GPT2LMHeadModel has the same); untied, the output layer would add vocab x d = 50257 x 768
    summary = archdsl.load(spec_path("gpt2")).summary(depth=0)
    assert summary.params == 124_439_808 == sum(r.params for r in summary)
    assert [(r.name, r.params, r.tied) for r in summary][-1] == ("lm_head", 0, ("transformer.wte.weight",))


def test_a_tied_row_says_so_in_every_format(capsys):
    path, sizes = spec_path("gpt2"), [f"-D{k}={v}" for k, v in SMALL_GPT2.items()]
    _, text, _ = run(capsys, "summary", path, *sizes)
    head = next(line for line in text.splitlines() if line.startswith("lm_head "))
    assert "tied to transformer.wte.weight" in head
    assert "1 tied weight counted once (transformer.wte.weight)" in text.splitlines()[-1]
    _, md, _ = run(capsys, "summary", path, *sizes, "--format", "markdown")
    assert "| `lm_head` | tied_linear | [N, T, 97] | tied to `transformer.wte.weight` |" in md
    _, out, _ = run(capsys, "summary", path, *sizes, "--format", "csv", "-DN=1", "-DT=8")
    table = list(csv.DictReader(io.StringIO(out)))
    assert {r["layer"]: r["tied"] for r in table if r["tied"]} == {"lm_head": "transformer.wte.weight"}
    assert table[-1]["params"] == str(sum(int(r["params"]) for r in table[:-1]))
    _, js, _ = run(capsys, "summary", path, *sizes, "--format", "json")
    rows = json.loads(js)["rows"]
    assert [(r["name"], r["params"]) for r in rows if "tied" in r] == [("lm_head", 0)]
    # without ties, no `tied` column or key
    _, plain, _ = run(capsys, "summary", spec_path("lenet5"), "--format", "csv")
    assert "tied" not in plain.splitlines()[0]


def test_a_tied_layer_inside_a_folded_block_marks_its_row(write_spec, capsys):
    import torch
    spec = archdsl.load(write_spec(TIED_IN_A_BLOCK))
    with torch.device("meta"):
        net = spec.build()
    # torch: the head's weight is lm.wte.weight; its bias (vocab entries) is its own
    rows = {r.name: r for r in spec.summary()}
    assert rows["lm.head"].tied == tuple(reused_parameters(net, "lm.head").values()) == ("lm.wte.weight",)
    assert rows["lm.head"].params == net.lm.head.bias.numel() == 11    # its own bias: vocab = 11 entries
    folded = spec.summary(depth=0).rows
    assert [(r.name, r.tied) for r in folded] == [("lm", ("lm.wte.weight",))]
    assert folded[0].params == sum(p.numel() for p in net.parameters())
    code, out, _ = run(capsys, "summary", write_spec(TIED_IN_A_BLOCK))
    assert code == 0 and "11 + tied to lm.wte.weight" in out


def test_the_docs_table_of_a_summary_shows_the_tie():
    from archdsl.embed import request, summary_table

    table = summary_table(request(spec_path("gpt2"), {"params": "n_layer=1, vocab=97, d=32, n_head=4",
                                                       "depth": "0"}))
    assert ("lm_head", "tied_linear", "[N, T, 97]", "tied to transformer.wte.weight") == table.rows[-1][:4]
    assert "1 tied weight counted once (transformer.wte.weight)" in table.totals[0]


# --- entry points: a forward, its methods, the models of a spec, the modes --------------------------------------

def flop_counter_macs(net, *inputs) -> int:
    """torch's own count of one call: FlopCounterMode's FLOPs (2 per multiply-add, as
    tests/test_macs_flopcounter.py explains) halved."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as flops:
        net(*inputs)
    return flops.get_total_flops() // 2


def meta_inputs(spec, model: str) -> list:
    import torch

    graph = spec.graph
    return [torch.zeros(graph.node(n).meta.shape, dtype=getattr(torch, graph.node(n).meta.dtype), device="meta")
            for n in graph.inputs[model]]


def test_the_total_is_the_forward_and_each_method_has_its_own_line(capsys):
    import torch
    spec = archdsl.load(spec_path("lstm_classifier"), N=1, T=16)
    summary = spec.summary()
    net = spec.build(device="meta").eval()
    forward = flop_counter_macs(net, torch.zeros(1, 16, dtype=torch.int64, device="meta"))
    # the LSTM's 4 gates, 4H(in + H) per step (H = in = 128) over T = 16 steps, then fc's 128 x 2
    assert summary.macs == forward == 4 * 128 * (128 + 128) * 16 + 128 * 2 == 2_097_408
    # classify_padded runs the same layers (a packed LSTM, which FlopCounterMode cannot count on meta or CPU):
    # the equation above again, on its own line and not added to the total
    assert summary.entry(method="classify_padded").macs == 2_097_408
    code, out, _ = run(capsys, "summary", spec_path("lstm_classifier"), "-DN=1", "-DT=16")
    assert code == 0 and "2.097M MACs per forward pass" in out.splitlines()[-2]
    assert out.splitlines()[-1] == "method `lstm_classifier.classify_padded`: 2.097M MACs per call"
    assert "4.195M" not in out and "parameters · 2.10M MACs" in spec.to_dot()   # the diagram's title too


def test_each_model_counts_the_models_it_uses_once_and_nothing_sums_the_models(capsys):
    spec = archdsl.load(spec_path("vae"), N=1)
    summary = spec.summary()
    for model in spec.models:   # each model built alone, as torch runs it
        net = spec.build(model, device="meta").eval()
        assert summary.entry(model).macs == flop_counter_macs(net, *meta_inputs(spec, model)), model
    # Kingma & Welling's MNIST MLP as the spec sizes it: 784 -> 500 -> (20, 20), and 20 -> 500 -> 784
    encoder, decoder = 784 * 500 + 2 * 500 * 20, 20 * 500 + 500 * 784
    assert [summary.entry(m).macs for m in spec.models] == [encoder, decoder, encoder + decoder]
    assert summary.macs == encoder + decoder                      # the vae, which uses the other two
    assert summary.entry("vae").params == summary.params == 815_824
    code, out, _ = run(capsys, "summary", spec_path("vae"), "-DN=1")
    assert code == 0 and "model `vae` (uses `encoder`, `decoder`): 815,824 parameters, 814.000K MACs" in out
    assert f"{(2 * (encoder + decoder)) / 1e6:.3f}M" not in out   # 1.628M: the encoder and decoder twice
    assert main(["zoo", "vae"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["815,824", "814.000K"]
    # the diagram's title: the vae's figure, for the whole spec and for the vae drawn alone (its weights too)
    assert "816K parameters · 814K MACs" in spec.to_dot() and "816K parameters · 814K MACs" in spec.to_dot(model="vae")
    assert "413K parameters · 412K MACs" in spec.to_dot(model="encoder")   # 412,540 parameters


def test_several_models_that_no_model_uses_have_no_one_figure():
    summary = archdsl.load(spec_path("rnn"), N=1, T=10).summary()
    assert summary.macs is None and [e.model for e in summary.top()] == ["elman", "fused"]
    with pytest.raises(ValueError, match="elman, fused"):
        summary.macs_at(T=5)
    # specs/rnn.yaml: a tanh RNN of H = 64 over 16 features is H(in + H) per step, then the linear 64 -> 16; T = 10
    assert summary.entry("elman").macs == summary.entry("fused").macs == 10 * (64 * (16 + 64) + 64 * 16)


def test_the_headline_is_eval_mode_and_training_mode_is_said_beside_it(capsys):
    spec = archdsl.load(spec_path("inception_v3"), N=2, aux_logits=True)   # batchnorm trains on 2 samples
    entry = spec.summary().entry()
    net = spec.build(device="meta")
    x = meta_inputs(spec, "inception_v3")
    assert entry.macs == flop_counter_macs(net.eval(), *x)
    assert entry.training_macs == flop_counter_macs(net.train(), *x)
    # torchvision publishes inception_v3's eval figure, 5.713 G for one image (reference json, `_ops`)
    assert round(entry.macs / 2 / 1e9, 3) == zoo()["inception_v3"]["published"]["_ops"]
    code, out, _ = run(capsys, "check", spec_path("inception_v3"), "-Daux_logits=true", "-DN=1")
    assert code == 0 and out.splitlines()[-1].endswith(
        "5.713G MACs per forward pass in eval mode (training mode: 5.719G, +5.683M)")
