"""Deployment outputs of a compiled spec: torch.export programs, ONNX files and TorchScript.

Every symbolic dim of a model's `inputs:` (`N`, `T`, `H`, ...) is declared dynamic (`torch.export.Dim`),
so one exported program or ONNX file serves every batch size (sequence length, image size) the spec
allows. Example inputs give the symbols distinct values 2, 3, 5, ... unless told otherwise. Dims that
torch.export cannot keep dynamic (a sequence length that a loop runs over) are listed in `STATIC_DIMS`.

    spec = archdsl.load("specs/resnet.yaml", depth=18)
    ep = export_program(spec)                       # torch.export.ExportedProgram, N dynamic
    export_onnx(spec, "resnet18.onnx")              # + onnx.checker + onnxruntime parity when installed

Failures become an `ExportError` (E014) whose message says why (a dim the model pins to a constant,
data-dependent control flow, an op the format lacks); the CLI prints it like any spec error.
Specs that cannot be exported for a known, real reason are listed in `LIMITS` (and in docs/export.md).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import Any

from ...errors import ArchDSLError, UsageError


class ExportError(ArchDSLError):
    """A model cannot be exported to the requested format; the message says why."""

    code = "E014"
    title = "export"


FORMATS = ("compile", "exported", "onnx", "torchscript")

# Specs that cannot be exported for a real reason: spec name -> {format: reason}. The CLI reports the
# reason before trying; tests check that each entry still fails (and so is still needed);
# docs/export.md lists them all.
LIMITS: dict[str, dict[str, str]] = {}

# Symbolic dims that torch.export (and so ONNX) cannot keep dynamic in a spec, with the reason: spec name ->
# {dim: reason}. Such a dim is fixed with -D (`archdsl compile specs/rnn.yaml -D T=20 --onnx rnn.onnx`): the
# export is then for that value, the other dims stay dynamic. The CLI adds the reason to its error.
_RNN = "torch.export runs torch's {} one time step at a time, so the sequence length is fixed"
STATIC_DIMS: dict[str, dict[str, str]] = {
    "gru": {"T": _RNN.format("nn.GRU")},
    "lstm_classifier": {"T": _RNN.format("nn.LSTM")},
    "stacked_lstm": {"T": _RNN.format("nn.LSTM")},
    "rnn": {"T": "model `elman` scans the T steps with a Python loop, which torch.export unrolls; model `fused`: "
                 + _RNN.format("nn.RNN")},
    "ntm": {"T": "the scan over the T input steps is a Python loop, which torch.export unrolls"},
    "memnn": {"S": "the facts are written to memory one at a time, a Python loop over S that torch.export unrolls"},
    "seq2seq_attention": {"S": "the encoder: " + _RNN.format("nn.LSTM"),
                          "T": "the teacher-forced decoder scans the T target steps with a Python loop, "
                               "which torch.export unrolls"},
    "show_attend_tell": {"T": "the teacher-forced decoder scans the T words with a Python loop, which "
                              "torch.export unrolls"},
}

DEFAULT_DIM = 2          # first value of a symbolic dim in example inputs (not 0 or 1, which torch specializes)
ONNX_ATOL = 1e-4         # onnxruntime vs torch: absolute, times the outputs' magnitude where it exceeds 1
SINGLE_FILE_LIMIT = 1_800_000_000   # bytes of weights above which ONNX weights go to an external .data file


def limit_reason(spec, fmt: str) -> str | None:
    return LIMITS.get(spec.name, {}).get(fmt)


def check_limits(spec, fmt: str) -> None:
    reason = limit_reason(spec, fmt)
    if reason:
        raise ExportError(f"`{spec.name}` cannot be exported as {fmt}: {reason}",
                          hint="see docs/export.md for the specs and formats that cannot be exported and why")


# --- inputs and dims -----------------------------------------------------------------------------------------------

def _model_name(spec, model: str | None) -> str:
    if model is None:
        return spec.models[0]
    if model not in spec.models:
        raise UsageError(f"{spec.doc.file} has no model `{model}`; models: {', '.join(spec.models)}")
    return model


def top_models(spec) -> list[str]:
    """The models no other model of the spec uses (`uses:`): running them runs the code of all the others."""
    used = {name for m in spec.doc.models.values() for name, _ in getattr(m, "uses", ())}
    return [m for m in spec.models if m not in used]


def _input_nodes(spec, model: str) -> list[dict]:
    return [spec.graph.node(n) for n in spec.graph.inputs[model]]


def symbols(spec, model: str | None = None) -> list[str]:
    """The symbolic dims of the model's inputs, in order of first appearance."""
    model = _model_name(spec, model)
    seen: list[str] = []
    for node in _input_nodes(spec, model):
        for d in node.meta.shape:
            for s in sorted(getattr(d, "free_symbols", ()), key=lambda s: s.name):
                if s.name not in seen:
                    seen.append(s.name)
    return seen


def symbol_values(spec, model: str | None = None, dims: dict | None = None) -> dict[str, int]:
    """A value for each symbolic input dim: `dims[name]`, else 2, 3, 5, 7, ... in order, each distinct from
    the others and from the inputs' static dims (torch.export assumes that dims of equal example sizes are
    equal, and would tie N to T, or T to a fixed width)."""
    dims = dims or {}
    model = _model_name(spec, model)
    names = symbols(spec, model)
    for node in _input_nodes(spec, model):   # symbols that only bound token ids: [low, high)
        for bound in (node.low, node.high):
            names += [b.name for b in sorted(getattr(bound, "free_symbols", ()), key=lambda b: b.name)
                      if b.name not in names]
    taken = {int(d) for node in _input_nodes(spec, model) for d in node.meta.shape if isinstance(d, int)}
    taken |= {int(v) for v in dims.values()}
    out, candidate = {}, DEFAULT_DIM
    decls = spec.graph.facts.decls
    for s in names:
        if s in dims:
            out[s] = int(dims[s])
        elif s in decls:   # a declared dim: its smallest allowed value not taken
            out[s] = _declared_value(decls[s], taken)
        else:
            while candidate in taken or any(candidate % p == 0 for p in range(2, candidate)):
                candidate += 1
            out[s] = candidate
        taken.add(out[s])
    return out


def _declared_value(decl, taken: set) -> int:
    """The smallest value above 1 that `decl` allows and no other dim has (as `max` permits)."""
    m = decl.multiple_of
    v = max(-(-max(decl.min, 2) // m) * m, m)
    while v in taken and (decl.max is None or v + m <= decl.max):
        v += m
    return v


def input_names(spec, model: str | None = None) -> list[str]:
    return [node.name for node in _input_nodes(spec, _model_name(spec, model))]


def example_inputs(spec, model: str | None = None, dims: dict | None = None, seed: int = 0,
                   device=None, dtype=None) -> tuple:
    """Random inputs of the model's declared shapes and dtypes (token ids in [low, high)), symbolic dims from
    `dims` or `symbol_values`; `dtype` casts the floating-point ones."""
    from .probes import example_inputs as declared_inputs

    model = _model_name(spec, model)
    out = []
    for x in declared_inputs(spec, model, symbol_values(spec, model, dims), seed):
        if dtype is not None and x.is_floating_point():
            x = x.to(dtype)
        out.append(x.to(device) if device is not None else x)
    return tuple(out)


def dynamic_shapes(spec, model: str | None = None) -> tuple:
    """torch.export's `dynamic_shapes`: one {axis: Dim} per input; a dim that is a symbol `S` becomes
    `Dim("S", min=1)` (shared by every input that uses S), `a*S + b` a derived dim; constants stay static.
    A declared dim keeps its range, `Dim("S", min=..., max=...)`, and a `multiple_of: k` dim is `k*Dim("S_k")`."""
    import sympy

    model = _model_name(spec, model)
    made: dict[str, Any] = {}
    decls = spec.graph.facts.decls

    def dim_of(name: str):
        if name not in made:
            made[name] = _export_dim(name, decls.get(name))
        return made[name]

    out = []
    for node in _input_nodes(spec, model):
        axes = {}
        for axis, d in enumerate(node.meta.shape):
            free = getattr(d, "free_symbols", ())
            if len(free) != 1:
                continue              # a constant, or an expression of several symbols (left static)
            (s,) = free
            poly = sympy.Poly(d, s)
            if poly.degree() != 1 or not all(c.is_integer for c in poly.all_coeffs()):
                continue
            a, b = (int(c) for c in poly.all_coeffs())
            base, k = dim_of(s.name)
            a *= k
            axes[axis] = base if (a, b) == (1, 0) else (base * a + b if a != 1 else base + b)
        out.append(axes or None)
    return tuple(out)


def _export_dim(name: str, decl) -> tuple:
    """(the root Dim of a symbol, its factor): Dim(name, min, max), or Dim(f"{name}_{k}") for multiples of k."""
    from torch.export import Dim

    if decl is None:
        return Dim(name, min=1), 1
    k = decl.multiple_of
    low, high = -(-decl.min // k), None if decl.max is None else decl.max // k
    kw = {"min": low} if high is None else {"min": low, "max": high}
    return Dim(name if k == 1 else f"{name}_{k}", **kw), k


# --- torch.export -----------------------------------------------------------------------------------------------

def _prepare(spec, model, net, dims):
    model = _model_name(spec, model)
    if net is None:
        net = spec.build(model if spec.doc.multi_model else None)
    net = net.eval()
    return model, net, example_inputs(spec, model, dims)


def export_program(spec, model: str | None = None, *, net=None, dims: dict | None = None):
    """torch.export.export of the model (eval mode) with every symbolic input dim dynamic."""
    check_limits(spec, "exported")
    model, net, args = _prepare(spec, model, net, dims)
    return _export(spec, model, net, args)[0]


def _export(spec, model: str, net, args):
    """(ExportedProgram, the dynamic_shapes it was made with)."""
    import torch
    from torch.export.dynamic_shapes import refine_dynamic_shapes_from_suggested_fixes

    shapes = dynamic_shapes(spec, model)
    names = input_names(spec, model)
    for attempt in range(2):
        try:
            with _quiet():
                ep = torch.export.export(net, args, dynamic_shapes=shapes, strict=False)
            ep._archdsl_dynamic_shapes = shapes
            return ep, shapes
        except torch._dynamo.exc.UserError as exc:   # constraints: a dim has a minimum, or is pinned
            message = str(exc)
            if attempt == 0 and "Suggested fixes" in message:
                try:
                    refined = refine_dynamic_shapes_from_suggested_fixes(message, shapes)
                except Exception:   # noqa: BLE001  (unparsable suggestions: report the original error)
                    refined = None
                if refined is not None and _still_dynamic(refined, shapes):
                    shapes = refined     # e.g. T = Dim('T', min=5): retry with the range torch found
                    continue
            raise _export_error(spec, model, "torch.export", exc, names) from None
        except Exception as exc:   # noqa: BLE001  (any torch failure becomes a located, explained error)
            raise _export_error(spec, model, "torch.export", exc, names) from None
    raise AssertionError("unreachable")


def _still_dynamic(refined, original) -> bool:
    """True when the refinement only narrows ranges, without making a declared dim a constant."""
    for new, old in zip(refined, original):
        for axis in (old or {}):
            if not new or isinstance(new.get(axis), int):
                return False
    return True


def pinned_dims(message: str) -> list[str]:
    """The dims torch.export reports as specialized to a constant, from its error message."""
    import re

    names = re.findall(r"You marked (\w+) as dynamic but your code specialized it", message)
    return list(dict.fromkeys(names))


def _export_error(spec, model: str, what: str, exc: BaseException, names: list[str]) -> ExportError:
    text = str(exc).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    pinned = pinned_dims(text)
    if pinned:
        names_ = ", ".join(f"`{d}`" for d in pinned)
        known = [STATIC_DIMS.get(spec.name, {}).get(d) for d in pinned]
        why = (f"the symbolic dim{'s' if len(pinned) > 1 else ''} {names_} cannot stay dynamic: the model "
               f"specializes {'them' if len(pinned) > 1 else 'it'} to the example's value")
        if any(known):
            why += f" ({'; '.join(k for k in known if k)})"
        else:
            why += (" (a Python loop over its steps is unrolled, torch's LSTM/GRU/RNN export needs a fixed length,"
                    " or a reshape fixes the size)")
        fix = " ".join(f"-D {d}=<value>" for d in pinned)
        hint = f"fix {'them' if len(pinned) > 1 else 'it'} to export for one value ({fix}); the other symbolic " \
               "dims stay dynamic"
    elif "data-dependent" in text or "GuardOnDataDependent" in type(exc).__name__ or "data dependent" in text:
        why = "the forward branches or loops on tensor values (data-dependent control flow)"
        hint = "torch.export needs control flow that depends only on shapes and parameters"
    else:
        why = first
        hint = None
    err = ExportError(f"cannot export model `{model}` of `{spec.name}` with {what}: {why}", hint=hint)
    detail = [ln for ln in text.splitlines() if ln.strip()][:8]
    for ln in detail:
        err.with_note(ln.strip()[:240])
    err.with_note(f"inputs: {', '.join(names)}")
    return err


# --- ONNX --------------------------------------------------------------------------------------------------------

def onnx_missing() -> str | None:
    """None when ONNX export and checking can run; otherwise which package is missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install 'archdsl[onnx]')"
    return None


def onnxruntime_missing() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("onnxruntime") else "onnxruntime not installed (pip install 'archdsl[onnx]')"


def export_onnx(spec, path: str, model: str | None = None, *, net=None, dims: dict | None = None,
                verify: bool = True, program=None) -> dict:
    """Write the model as ONNX (via torch.export, symbolic dims dynamic) and check it with onnx.checker;
    with `verify` and onnxruntime installed, also run it and compare with torch (max abs diff <= 1e-4).
    `program`: what `export_program(spec, model, net=net, dims=dims)` returned, to save exporting again.
    Returns {"path", "dynamic": [dims], "max_abs_diff": float or None}."""
    import torch

    check_limits(spec, "onnx")
    missing = onnx_missing()
    if missing:
        raise UsageError(f"ONNX export needs the optional extra: {missing}")
    model = _model_name(spec, model)
    if net is None:
        net = spec.build(model if spec.doc.multi_model else None)
    net = net.eval()
    args = example_inputs(spec, model, dims)
    if program is not None:
        ep, shapes = program, program._archdsl_dynamic_shapes
    else:
        ep, shapes = _export(spec, model, net, args)    # explained errors, refined dim ranges
    names = input_names(spec, model)
    with torch.no_grad():
        n_out = len(_flat_outputs(net(*args)))
    outputs = ["output"] if n_out == 1 else [f"output{i}" for i in range(n_out)]
    try:
        with _quiet():
            # dynamic_shapes again, so that ONNX's dims are named after the spec's symbols
            program = torch.onnx.export(ep, args, None, dynamic_shapes=shapes, input_names=names,
                                        output_names=outputs, dynamo=True, verbose=False, optimize=True)
    except Exception as exc:   # noqa: BLE001
        raise _export_error(spec, model, "the ONNX exporter", exc, names) from None
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    weight_bytes = sum(p.numel() * p.element_size() for p in net.state_dict().values())
    program.save(path, external_data=weight_bytes > SINGLE_FILE_LIMIT)
    check_onnx_file(path)
    result = {"path": path, "dynamic": symbols(spec, model), "max_abs_diff": None}
    if verify and not onnxruntime_missing():
        # at the example dims, and with every symbolic dim one larger (the file must not be pinned to 2)
        values = symbol_values(spec, model, dims)
        worst, scale = 0.0, 1.0
        for trial in ([dict(values)] + ([{k: v + 1 for k, v in values.items()}] if values else [])):
            xs = example_inputs(spec, model, trial, seed=1)
            with torch.no_grad():
                want = _flat_outputs(net(*xs))
            worst = max(worst, max_abs_diff(run_onnx(path, names, xs), want))
            scale = max([scale] + [float(y.detach().abs().max()) for y in want if y.is_floating_point() and y.numel()])
        result["max_abs_diff"], result["tolerance"] = worst, ONNX_ATOL * scale
        if worst > ONNX_ATOL * scale:  # float32 rounding grows with the values (GPT-2's logits reach ~10^2)
            raise ExportError(f"the ONNX model `{path}` disagrees with torch: max |onnxruntime - torch| = "
                              f"{worst:.3g} > {ONNX_ATOL * scale:.3g}")
    return result


def check_onnx_file(path: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:   # noqa: BLE001
        raise ExportError(f"the ONNX model `{path}` fails onnx.checker: {str(exc).splitlines()[0]}") from None


def run_onnx(path: str, names: list[str], args) -> list:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {name: x.detach().cpu().numpy() for name, x in zip(names, args)}
    return session.run(None, feed)


def _flat_outputs(out) -> list:
    if isinstance(out, (list, tuple)):
        return [y for x in out for y in _flat_outputs(x)]
    return [out]


def max_abs_diff(got, expected) -> float:
    import numpy as np

    if len(got) != len(expected):
        raise ExportError(f"the ONNX model has {len(got)} outputs, torch {len(expected)}")
    worst = 0.0
    for a, b in zip(got, expected):
        b = b.detach().float().cpu().numpy()
        a = np.asarray(a, dtype=b.dtype)
        if a.shape != b.shape:
            raise ExportError(f"ONNX output shape {list(a.shape)} != torch output shape {list(b.shape)}")
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
    return worst


# --- TorchScript and saved programs --------------------------------------------------------------------------------

def torchscript(spec, model: str | None = None, *, net=None, dims: dict | None = None):
    """TorchScript of the model (eval mode): torch.jit.script, or torch.jit.trace where scripting fails (a
    generated call TorchScript cannot type); a trace is checked at other values of the symbolic dims, so it
    is not pinned to the example's. TorchScript is deprecated upstream; prefer `exported`."""
    import torch

    check_limits(spec, "torchscript")
    model = _model_name(spec, model)
    if net is None:
        net = spec.build(model if spec.doc.multi_model else None)
    net = net.eval()
    names = input_names(spec, model)
    try:
        with _quiet():
            scripted = torch.jit.script(net)
        scripted._archdsl_method = "script"
        return scripted
    except Exception as exc:   # noqa: BLE001
        script_error = exc
    args = example_inputs(spec, model, dims)
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(net, args, check_trace=False)
            values = symbol_values(spec, model, dims)
            for trial in ({k: v + 1 for k, v in values.items()},) if values else ():
                xs = example_inputs(spec, model, trial, seed=1)
                diff = max_abs_diff([y.numpy() for y in _flat_outputs(traced(*xs))], _flat_outputs(net(*xs)))
                if diff > ONNX_ATOL:
                    raise ExportError(f"the trace is pinned to the example's dims (max diff {diff:.3g} at {trial})")
    except Exception as exc:   # noqa: BLE001
        err = _export_error(spec, model, "torch.jit.script", script_error, names)
        return_note = f"torch.jit.trace failed too: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
        raise err.with_note(return_note) from None
    traced._archdsl_method = "trace"
    return traced


def emit(spec, fmt: str, path: str, model: str | None = None, *, net=None, dims: dict | None = None) -> dict:
    """Write one deployment artifact: fmt is 'torchscript' (.pt), 'exported' (.pt2) or 'onnx'."""
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if fmt == "onnx":
        return export_onnx(spec, path, model, net=net, dims=dims)
    if fmt == "torchscript":
        scripted = torchscript(spec, model, net=net, dims=dims)
        with _quiet():
            torch.jit.save(scripted, path)
        return {"path": path, "dynamic": symbols(spec, model), "method": scripted._archdsl_method}
    if fmt == "exported":
        ep = export_program(spec, model, net=net, dims=dims)
        torch.export.save(ep, path)
        return {"path": path, "dynamic": symbols(spec, model)}
    raise UsageError(f"unknown export format `{fmt}`; choose onnx, torchscript or exported")


SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported": ".pt2"}


def artifact_paths(spec, fmt: str, base: str, exact: bool = False) -> dict[str, str]:
    """model -> path. `exact`: `base` is the file to write (a spec with several models gets `stem.MODEL.ext`);
    otherwise `base` (the -o path or the spec's name) loses a known suffix and gets the format's."""
    if exact:
        if not spec.doc.multi_model:
            return {spec.models[0]: base}
        root, ext = os.path.splitext(base)
        return {m: f"{root}.{m}{ext}" for m in spec.models}
    for known in (".torchscript.pt", ".pt2", ".onnx", ".py", ".pt"):
        if base.endswith(known):
            base = base[: -len(known)]
            break
    if not spec.doc.multi_model:
        return {spec.models[0]: base + SUFFIX[fmt]}
    return {m: f"{base}.{m}{SUFFIX[fmt]}" for m in spec.models}


def load_weights(net, path: str) -> None:
    """Load a state_dict saved with torch.save (or a training checkpoint holding one under `model`)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many kinds (UnpicklingError, KeyError, ...) on a foreign file
        raise UsageError(f"cannot read weights from `{path}` ({type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0]})",
                         hint="save them with torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise UsageError(f"`{path}` holds {type(state).__name__}, not a state_dict",
                         hint="save them with torch.save(model.state_dict(), path)")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise UsageError(f"the weights in `{path}` do not fit the model: {str(exc).splitlines()[0]}") from None


# --- devices ---------------------------------------------------------------------------------------------------------

def has_conv2d(net) -> bool:
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in net.modules())


def prefers_channels_last(net, device) -> bool:
    """channels_last helps 2d convolutions on CUDA (tensor cores, cuDNN NHWC kernels); elsewhere leave NCHW."""
    import torch

    return torch.device(device).type == "cuda" and has_conv2d(net)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress prints, deprecation warnings and registration logs."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "torch.fx",
                                               "torch._dynamo", "torch.utils._sympy", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
