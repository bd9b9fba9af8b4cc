"""Deployment of every zoo spec: torch.compile, torch.export (symbolic dims dynamic), ONNX and TorchScript.

Every specs/*.yaml is picked up by itself; CASES only gives a spec smaller parameters, values for its
symbolic dims, or marks it slow to compile. A spec that cannot be exported for a real reason is listed in
archdsl.backends.torch.export.LIMITS, a symbolic dim that torch.export cannot keep dynamic (a sequence length that a loop runs
over) in archdsl.backends.torch.export.STATIC_DIMS; both are listed in docs/export.md, and the tests check that each entry
is still needed (the export still fails, with the listed reason) and that the export works once the dim is fixed.

Tolerance, every comparison with eager PyTorch (float32, eval mode): max |a - b| <= 1e-4 and
max |a - b| <= 1e-3 * max |b| (the zoo's freshly initialised outputs are small, ~0.05). These are chosen
bounds, not measured ones: float32 kernels that sum in another order differ by about 1e-7 relative per
operation, far below them, while a wrong op (a missing activation, a transposed weight) changes outputs by
the order of the outputs themselves.

torch.export and TorchScript run every model of a spec; ONNX and torch.compile, the slower ones, only the models
that no other model `uses:` (a GAN's `gan` model runs the generator's and the discriminator's code).

Time: torch.compile on 2 CPUs costs ~3-15 s a model with a cold inductor cache (GoogLeNet 1-2 min), so each
run compiles the subset `compiled_in_ci()` picks (every op of the zoo at least once, cheapest specs first);
the whole zoo with ARCHDSL_SLOW_TESTS=1 (`ARCHDSL_SLOW_TESTS=1 python -m pytest tests/test_deploy.py -k compile`).
"""
from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl.backends.torch import export
from archdsl.cli import main as cli
from tests.helpers import skip_missing

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
SLOW = os.environ.get("ARCHDSL_SLOW_TESTS") == "1"
ATOL, RTOL_OF_SCALE = 1e-4, 1e-3


@dataclass(frozen=True)
class Case:
    file: str                                     # specs/<file>.yaml
    params: dict = field(default_factory=dict)    # smaller variants keep CI quick
    dims: dict = field(default_factory=dict)      # symbolic dims of the example inputs (default 2, 3, 5, ...)
    compile: str = "ci"                           # "ci", or "slow": compiled only with ARCHDSL_SLOW_TESTS=1


SMALL_GAN = {"ngf": 16, "ndf": 16}
# Per-spec settings; a spec not named here is tested with its defaults. Variants get an id "file[variant]".
CASES = {
    "resnet": Case("resnet", {"depth": 18}),
    "googlenet": Case("googlenet", compile="slow"),                     # 9 inception modules: ~1-2 min to compile
    "swin": Case("swin", compile="slow"),                               # 12 Swin blocks: 1-2 min to compile
    # one MaxViT layer at 24 x 24 (MaxViT-T: 7 min to compile, 1 min to export)
    "maxvit": Case("maxvit", {"stem_channels": 8, "block_channels": [16], "block_layers": [1], "head_dim": 8,
                              "partition_size": 3, "image_size": 24}, compile="slow"),
    "video_resnet": Case("video_resnet", {"frames": 4, "image_size": 32}),
    "s3d": Case("s3d", compile="slow"),                                 # 9 inception modules: ~3 min to compile
    "vgg": Case("vgg", {"depth": 11}),
    "capsnet": Case("capsnet", {"conv_channels": 16, "primary_caps": 4}),
    "dcgan": Case("dcgan", SMALL_GAN),
    "text_to_image_gan": Case("text_to_image_gan", SMALL_GAN),
    "seq2seq_attention": Case("seq2seq_attention", {"layers": 1, "hidden": 32, "embed": 16, "max_len": 4}),
    "show_attend_tell": Case("show_attend_tell", {"vocab": 50, "embed": 32, "hidden": 32, "att_units": 32,
                                                  "convs": [1, 1, 1, 1, 1], "widths": [8, 16, 16, 32, 32], "image_size": 64,
                                                  "max_len": 3}),
}


def all_cases() -> dict[str, Case]:
    out = {name: Case(name) for name in ZOO}
    out.update({k: v for k, v in CASES.items() if v.file in ZOO})
    return dict(sorted(out.items()))


CASE_IDS = list(all_cases())


def load(case_id: str, fix_static: bool = False) -> tuple[archdsl.Spec, Case]:
    """The case's spec; with `fix_static`, the dims in export.STATIC_DIMS fixed (to 3, 4, ...)."""
    case = all_cases()[case_id]
    params = dict(case.params)
    if fix_static:
        params.update(static_values(case.file, case.params))
    return archdsl.load(ROOT / "specs" / f"{case.file}.yaml", **params), case


def static_values(file: str, params: dict) -> dict:
    spec = archdsl.load(ROOT / "specs" / f"{file}.yaml", **params)
    return {d: v for d, v in zip(export.STATIC_DIMS.get(spec.name, {}), (3, 4, 5, 6))}


def flat(out) -> list:
    if isinstance(out, (list, tuple)):
        return [y for x in out for y in flat(x)]
    return [out]


def assert_matches(got, want, what: str) -> None:
    got, want = flat(got), flat(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, eager {len(want)}"
    for a, b in zip(got, want):
        a = torch.as_tensor(a)
        assert a.shape == b.shape, f"{what}: shape {list(a.shape)} != eager {list(b.shape)}"
        if not b.is_floating_point():
            assert torch.equal(a, b), f"{what}: integer outputs differ"
            continue
        diff = (a.float() - b.float()).abs().max().item() if b.numel() else 0.0
        scale = b.abs().max().item() if b.numel() else 0.0
        assert diff <= ATOL and diff <= RTOL_OF_SCALE * scale + 1e-12, \
            f"{what}: max |diff| {diff:.3g} (output scale {scale:.3g})"


def limited(spec, fmt: str):
    """For a spec in export.LIMITS: the export must still fail, with the listed reason."""
    reason = export.limit_reason(spec, fmt)
    if reason:
        with pytest.raises(export.ExportError, match="cannot be exported"):
            export.check_limits(spec, fmt)
    return reason


def models_and_inputs(spec, case, models=None):
    for model in spec.models:
        if models and model not in models:
            continue
        torch.manual_seed(0)
        net = spec.build(model if spec.doc.multi_model else None).eval()
        yield model, net, export.example_inputs(spec, model, case.dims)


# --- torch.export and ONNX -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", CASE_IDS)
def test_torch_export_and_onnx(case_id, tmp_path):
    """torch.export of every model with its symbolic dims dynamic; ONNX (from the same program) of the top models.
    One test, so that each model is exported once; without the ONNX extra it ends skipped, after the export checks."""
    spec, case = load(case_id)
    static = export.STATIC_DIMS.get(spec.name, {})
    if static and not limited(spec, "exported"):
        # the listed dims are still pinned by torch.export (or the entry is stale), and the error says why
        pinned = set()
        for model, net, _ in models_and_inputs(spec, case, [m for m in spec.models
                                                            if set(static) & set(export.symbols(spec, m))]):
            try:
                export.export_program(spec, model, net=net, dims=case.dims)
            except export.ExportError as exc:
                found = export.pinned_dims("\n".join(exc.notes))
                assert found, exc.render()
                for d in found:
                    assert static[d] in exc.message and f"-D {d}=" in exc.hint
                pinned.update(found)
        assert pinned == set(static), f"export.STATIC_DIMS[{spec.name!r}] lists {sorted(static)}, pinned: {sorted(pinned)}"
        spec, case = load(case_id, fix_static=True)
    onnx_missing = export.onnx_missing() or export.onnxruntime_missing()
    for model, net, args in models_and_inputs(spec, case):
        ep = None
        if not limited(spec, "exported"):
            ep = export.export_program(spec, model, net=net, dims=case.dims)
            check_program(case_id, spec, model, net, args, ep, case.dims)
        if not onnx_missing and model in export.top_models(spec) and not limited(spec, "onnx"):
            check_onnx(case, spec, model, net, ep, tmp_path)
    if onnx_missing:
        skip_missing(f"the ONNX extra (torch.export was checked): {onnx_missing}")


def check_program(case_id, spec, model, net, args, ep, dims) -> None:
    placeholders = [n.meta["val"] for n in ep.graph.nodes if n.op == "placeholder"][-len(args):]
    for name, val, shape in zip(export.input_names(spec, model), placeholders, spec.input_shapes(model)):
        for axis, d in enumerate(shape):
            if getattr(d, "free_symbols", None):   # every symbolic spec dim is dynamic in the program
                assert isinstance(val.shape[axis], torch.SymInt), f"{model}.{name} dim {axis} ({d}) is static"
    # at values of the symbols other than the traced ones: one smaller (batch 1); export_onnx runs one larger
    trial = {k: max(1, v - 1) for k, v in export.symbol_values(spec, model, dims).items()}
    xs = export.example_inputs(spec, model, trial, seed=3)
    with torch.no_grad():
        assert_matches(ep.module()(*xs), net(*xs), f"{case_id}/{model} exported at {trial}")


def check_onnx(case, spec, model, net, ep, tmp_path) -> None:
    """onnx.checker, onnxruntime parity (inside export_onnx), input names, dynamic and static dims."""
    import onnx

    path = tmp_path / f"{case.file}.{model}.onnx"
    try:
        info = export.export_onnx(spec, str(path), model, net=net, dims=case.dims, program=ep)
        assert info["max_abs_diff"] is not None and info["max_abs_diff"] <= info["tolerance"]
        graph = onnx.load(str(path), load_external_data=False).graph
        assert [i.name for i in graph.input] == export.input_names(spec, model)
        for inp, shape in zip(graph.input, spec.input_shapes(model)):
            for d, want in zip(inp.type.tensor_type.shape.dim, shape):
                if getattr(want, "free_symbols", None):   # named after the spec's symbol (N, T)
                    assert d.dim_param == str(want) if want.is_Symbol else d.dim_param, \
                        f"{inp.name}: dim {want} is not dynamic in the ONNX graph ({d})"
                else:
                    assert d.dim_value == int(want)
    finally:   # the big zoo models are hundreds of MB; keep tmp small
        for f in tmp_path.glob(f"{case.file}.{model}.onnx*"):
            f.unlink()


# --- TorchScript ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", CASE_IDS)
def test_torchscript_matches_eager(case_id):
    spec, case = load(case_id)
    if limited(spec, "torchscript"):
        return
    for model, net, args in models_and_inputs(spec, case):
        scripted = export.torchscript(spec, model, net=net)
        with torch.no_grad():
            assert_matches(scripted(*args), net(*args), f"{case_id}/{model} torchscript")


# --- torch.compile ---------------------------------------------------------------------------------------------------

def ops_of(spec, model: str) -> tuple[set, int]:
    """The ops (and node kinds: loops, scans) a model runs, with those of the models it `uses:`, and how many
    graph nodes that is (a proxy for the time inductor takes)."""
    names = {model} | {m for m, _ in getattr(spec.doc.models[model], "uses", ())}
    roots = [spec.graph.roots[m].path for m in names]
    ops, size = set(), 0
    for _, node in spec.graph.nodes():
        scope = node.scope
        if any(not r or scope == r or scope.startswith(r + ".") for r in roots):
            ops.add(node.op.name if node.op is not None else node.kind)
            size += 1
    return ops, size


@functools.lru_cache(maxsize=1)
def compiled_in_ci() -> dict[str, dict[str, set]]:
    """The models compiled in every run: cheapest first (by graph size), each one that uses an op or loop kind
    no cheaper model has compiled, so that every op of the zoo goes through inductor at least once.
    case id -> {model: the ops it is the first to cover}."""
    sized = []
    for case_id, case in all_cases().items():
        if case.compile == "slow":
            continue
        spec, _ = load(case_id)
        for model in export.top_models(spec):
            ops, size = ops_of(spec, model)
            sized.append((size, case_id, model, ops))
    covered, chosen = set(), {}
    for _, case_id, model, ops in sorted(sized):
        if ops - covered:
            chosen.setdefault(case_id, {})[model] = ops - covered
            covered |= ops
    return chosen


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_torch_compile_matches_eager(case_id):
    spec, case = load(case_id)
    if case.compile == "slow" and not SLOW:
        pytest.skip("slow to compile on CPU; run with ARCHDSL_SLOW_TESTS=1")
    if not SLOW and case_id not in compiled_in_ci():
        pytest.skip("its ops are all compiled with other specs; run with ARCHDSL_SLOW_TESTS=1")
    if limited(spec, "compile"):
        return
    models = export.top_models(spec) if SLOW else list(compiled_in_ci()[case_id])
    torch._dynamo.reset()
    for model, net, args in models_and_inputs(spec, case, models):
        compiled = torch.compile(net)
        with torch.no_grad():
            assert_matches(compiled(*args), net(*args), f"{case_id}/{model} torch.compile")
    torch._dynamo.reset()


def test_torch_compile_training_step_matches_eager():
    """Forward and backward under torch.compile give eager's loss and gradients (LeNet-5, train mode)."""
    spec = archdsl.load(ROOT / "specs" / "lenet5.yaml")
    torch.manual_seed(0)
    eager = spec.build().train()
    compiled_net = spec.build().train()
    compiled_net.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_net)
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 3])
    for net in (eager, compiled):
        torch.nn.functional.cross_entropy(net(x), y).backward()
    for (name, a), b in zip(eager.named_parameters(), compiled_net.parameters()):
        assert_matches(b.grad, a.grad, f"grad of {name}")
    torch._dynamo.reset()


# --- LIMITS and docs ---------------------------------------------------------------------------------------------

def test_limits_and_static_dims_are_listed_in_docs():
    text = " ".join((ROOT / "docs" / "export.md").read_text().split())
    for name, formats in export.LIMITS.items():
        for fmt, reason in formats.items():
            assert fmt in export.FORMATS
            assert f"`{name}`" in text and reason in text, f"docs/export.md does not list {name} / {fmt}"
    for name, dims in export.STATIC_DIMS.items():
        for dim, reason in dims.items():
            assert f"| `{name}` | `{dim}` | {reason} |" in text, f"docs/export.md does not list {name} / {dim}"


def test_cli_reports_a_listed_limit(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(export.LIMITS, "lenet5", {"onnx": "the loop count depends on the data"})
    code = cli(["compile", str(ROOT / "specs" / "lenet5.yaml"), "-o", str(tmp_path / "m.py"),
                "--onnx", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error[E014]: `lenet5` cannot be exported as onnx: the loop count depends on the data" in err
    assert not (tmp_path / "m.onnx").exists()


# --- CLI ---------------------------------------------------------------------------------------------------------

def test_cli_emits_torchscript_and_exported_beside_the_source(tmp_path, capsys):
    out = tmp_path / "out" / "lenet.py"
    code = cli(["compile", str(ROOT / "specs" / "lenet5.yaml"), "-o", str(out),
                "--emit", "torchscript", "--emit", "exported"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert out.exists()
    ts, pt2 = tmp_path / "out" / "lenet.torchscript.pt", tmp_path / "out" / "lenet.pt2"
    assert f"wrote {ts} (torchscript, dynamic dims: N)" in err and f"wrote {pt2} (exported, dynamic dims: N)" in err
    x = torch.randn(5, 1, 32, 32)      # a batch size other than the example's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript is deprecated upstream
        scripted = torch.jit.load(str(ts))
    program = torch.export.load(str(pt2))
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    net = ns["Lenet5"]()
    net.load_state_dict(program.state_dict)
    net.eval()
    with torch.no_grad():
        assert_matches(program.module()(x), net(x), "exported .pt2")
        net.load_state_dict(scripted.state_dict())   # the TorchScript file carries its own weights
        assert_matches(scripted(x), net(x), "torchscript .pt")


def test_cli_onnx_with_weights(tmp_path, capsys):
    if export.onnx_missing():
        skip_missing(f"the ONNX extra: {export.onnx_missing()}")
    spec = archdsl.load(ROOT / "specs" / "mlp.yaml", hidden=[32])
    torch.manual_seed(1)
    trained = spec.build()
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    onnx_path = tmp_path / "mlp.onnx"
    code = cli(["compile", str(ROOT / "specs" / "mlp.yaml"), "-D", "hidden=[32]", "-o", str(tmp_path / "mlp.py"),
                "--onnx", str(onnx_path), "--weights", str(tmp_path / "w.pt")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "onnx.checker ok" in err and "dynamic dims: N" in err
    if export.onnxruntime_missing():
        return
    x = torch.randn(7, 784)
    got = export.run_onnx(str(onnx_path), ["x"], (x,))
    with torch.no_grad():
        assert_matches(got[0], trained.eval()(x), "onnx with --weights")


def test_cli_explains_a_dim_the_model_pins(write_spec, tmp_path, capsys):
    # [N, 4] -> reshape to (2, -1): statically [2, 2*N], but torch specializes N to 2 when tracing it
    path = write_spec("name: pinned\ninputs:\n  x: [N, 4]\nlayers:\n  fc: linear(4)\n"
                      "forward: |\n  x >> fc >> reshape([2, -1])\n")
    code = cli(["compile", path, "-o", str(tmp_path / "p.py"), "--emit", "exported"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error[E014]: cannot export model `pinned`" in err and "the symbolic dim `N` cannot stay dynamic" in err
    assert "Traceback" not in err
    assert "-D N=" in err   # the way out: a static export
    code = cli(["compile", path, "-D", "N=2", "-o", str(tmp_path / "p.py"), "--emit", "exported"])
    assert code == 0, capsys.readouterr().err


def test_cli_onnx_without_the_extra_is_a_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(export, "onnx_missing", lambda: "onnx not installed (pip install 'archdsl[onnx]')")
    code = cli(["compile", str(ROOT / "specs" / "mlp.yaml"), "-o", str(tmp_path / "m.py"),
                "--onnx", str(tmp_path / "m.onnx")])
    assert code == 2
    assert "pip install 'archdsl[onnx]'" in capsys.readouterr().err


# --- devices and dtypes -------------------------------------------------------------------------------------------

def test_build_on_a_device_in_a_dtype():
    spec = archdsl.load(ROOT / "specs" / "resnet.yaml", depth=18)
    net = spec.build(device="meta", dtype=torch.bfloat16, channels_last=True)
    conv = net.conv1.weight
    assert conv.device.type == "meta" and conv.dtype == torch.bfloat16
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert net.bn1.num_batches_tracked.dtype == torch.long   # integer buffers keep their dtype
    assert sum(p.numel() for p in net.parameters()) == spec.summary().params
    cpu = spec.build(dtype="bfloat16")
    x = torch.randn(1, 3, 224, 224, dtype=torch.bfloat16)
    with torch.no_grad():
        assert cpu.eval()(x).dtype == torch.bfloat16
    assert not export.prefers_channels_last(cpu, "cpu") and export.prefers_channels_last(cpu, "cuda")



# --- benchmark scripts (their logic, on CPU: the lead runs gpu_check.py on a CUDA machine) ---------------------------

def test_gpu_check_and_bench_compile_scripts_run(capsys):
    import benchmarks.bench_compile as bench_compile
    import benchmarks.gpu_check as gpu_check

    if not torch.cuda.is_available():
        assert gpu_check.main([]) == []
        assert "CUDA is not available" in capsys.readouterr().out
    # the compiled path (forward + backward under inductor) takes ~20-80 s on 2 CPUs: opt-in
    flags = ["--budget", "0.001"] if SLOW else ["--no-compile"]
    rows = gpu_check.main(["--device", "cpu", "--specs", "mlp", "lenet5", "--iters", "1", *flags])
    out = capsys.readouterr().out
    assert [r["status"] for r in rows] == (["ok", "ok (not compiled: over --budget)"] if SLOW else ["ok", "ok"]), out
    # specs/mlp.yaml's default 784-512-256-128-10 with biases
    mlp = sum(a * b + b for a, b in zip([784, 512, 256, 128], [512, 256, 128, 10]))
    assert mlp == 567_434
    assert f"| mlp | {mlp:,} |" in out and all(r["eager_ms"] > 0 for r in rows)
    if SLOW:   # diff: |compiled - eager| relative to the output scale; a chosen bound for bf16-level rounding
        assert "compiled_ms" in rows[0] and rows[0]["diff"] < 0.05
    rows = bench_compile.main(["--spec", str(ROOT / "specs" / "mlp.yaml"), "-D", "hidden=[16]", "--batch", "2",
                               "--rounds", "1", "--reps", "1"])
    assert len(rows) == 1 and rows[0]["max_abs_diff"] <= ATOL and rows[0]["speedup"] > 0
    assert "| mlp | 2 |" in capsys.readouterr().out   # --batch 2
    torch._dynamo.reset()
