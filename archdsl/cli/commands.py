"""The command table: every verb of `archdsl`, its options and what it runs. The CLI fuzz test iterates it.

A command that `loads` a spec takes SPEC and -D; the CLI loads and checks the spec (refusing outputs that
would destroy something first) and passes the Spec to `run`. The others get the parsed arguments only.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from ..errors import UsageError
from ..files import write_atomic
from .. import zoo as zoo_catalogue
from .options import limits_of, positive

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[..., int]           # run(spec, args) when `loads`, else run(args)
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    loads: bool = True                # takes SPEC and -D; the spec is loaded (and checked unless `draw`)
    takes_file: bool = True           # takes a SPEC path (fmt: a file it does not elaborate)
    description: str = ""


# --- check, compile, summary ---------------------------------------------------------------------------

def run_check(spec, args) -> int:
    from ..dims import fmt_shape
    from ..ir.graph import MODES, ModeChoice, flat_tensors
    from ..reporting.summary import totals

    s = spec.summary()

    def shapes(outs) -> str:
        if isinstance(outs, ModeChoice):  # `(logits, aux) if training else logits`
            return "; ".join(f"{mode}: {shapes(outs.side(mode))}" for mode in MODES)
        return ", ".join(fmt_shape(spec.graph.shape(t)) for t in flat_tensors(outs))

    ok = f"ok under {', '.join(spec.assumptions)}" if spec.assumptions else "ok"
    for model in spec.models:
        print(f"{args.spec}: model `{model}` {ok}: output {shapes(spec.graph.outputs[model])}")
        for method, view in spec.graph.roots[model].methods.items():
            print(f"{args.spec}: method `{model}.{method}` {ok}: output {shapes(view.output)}")
    head, entries = totals(s, memory=False)
    print(f"{len(s.rows)} ops, {head}", *entries, sep="\n")
    return EXIT_OK


def compile_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("-o", "--output", help="write the source to this file (default: standard output)")
    c.add_argument("--onnx", metavar="FILE", help="also export ONNX (dynamic symbolic dims), checked with "
                   "onnx.checker and, when installed, onnxruntime; needs the `onnx` extra")
    c.add_argument("--emit", action="append", default=[], choices=("torchscript", "exported"),
                   help="also write TorchScript (.torchscript.pt) or a torch.export program (.pt2) beside "
                   "the source (repeatable)")
    c.add_argument("--weights", metavar="FILE", help="load this state_dict (torch.save) before exporting")


def run_compile(spec, args) -> int:
    source = spec.compile(args.output) if args.output else spec.source
    if args.output:
        write_atomic(args.output, source, (args.spec,))
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(source)
    if args.onnx or args.emit:
        _export_artifacts(spec, args)
    return EXIT_OK


def artifact_jobs(spec, args) -> list:
    """(format, {model: path}) of every deployment file that `compile --onnx/--emit` writes."""
    from ..backends.torch import export

    jobs = [("onnx", export.artifact_paths(spec, "onnx", args.onnx, exact=True))] if args.onnx else []
    base = args.output or spec.name
    return jobs + [(fmt, export.artifact_paths(spec, fmt, base)) for fmt in dict.fromkeys(args.emit)]


def _export_artifacts(spec, args) -> None:
    """`compile --onnx FILE` and `--emit torchscript|exported`: deployment files beside the source."""
    from ..backends.torch import export

    jobs = artifact_jobs(spec, args)
    for fmt, _ in jobs:
        export.check_limits(spec, fmt)
    for fmt, paths in jobs:
        for model, path in paths.items():
            net = spec.build(model if spec.doc.multi_model else None)
            if args.weights:
                export.load_weights(net, args.weights)
            info = export.emit(spec, fmt, path, model, net=net)
            dyn = ", ".join(info["dynamic"]) or "none"
            extra = ""
            if fmt == "onnx":
                diff = info.get("max_abs_diff")
                extra = ", onnx.checker ok, " + (f"max |onnxruntime - torch| = {diff:.1e}" if diff is not None
                                                 else "onnxruntime not installed: outputs not compared")
            print(f"wrote {path} ({fmt}, dynamic dims: {dyn}{extra})", file=sys.stderr)


def summary_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--format", choices=("text", "markdown", "csv", "json"), default="text")
    c.add_argument("--depth", type=int, metavar="K", help="one row per block nested deeper than K (0: top level)")
    c.add_argument("--dtypes", action="store_true", help="a column with each output's dtype (float32, int64, bool)")


def run_summary(spec, args) -> int:
    from ..reporting.summary import FORMATS

    print(FORMATS[args.format](spec.summary(depth=args.depth), f"{spec.name} ({args.spec})", dtypes=args.dtypes))
    return EXIT_OK


# --- draw ----------------------------------------------------------------------------------------------

def draw_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("-o", "--output", required=True, help="the diagram file (.svg, .png, .pdf or .dot)")
    c.add_argument("--depth", type=int, metavar="K", help="fold each block nested deeper than K into one box")
    c.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top to bottom (TB) or left to right")
    c.add_argument("--model", help="draw only this model of a multi-model spec (default: each in its own frame)")
    c.add_argument("--allow-errors", action="store_true",
                   help="draw a spec with shape errors, each failing input in red (the exit code is still 1)")
    c.add_argument("--no-fuse", dest="fuse", action="store_false",
                   help="draw every activation as its own box (default: `conv2d 3x3, 64 + relu` in one box)")
    c.add_argument("--dtypes", action="store_true", help="label each arrow with its dtype too: `N x T (int64)`")


def run_draw(spec, args) -> int:
    from ..backends.graphviz import format_of

    format_of(args.output)  # a bad suffix is reported before any work
    errors = spec.draw(args.output, depth=args.depth, direction=args.direction, model=args.model,
                       allow_errors=args.allow_errors, fuse=args.fuse, dtypes=args.dtypes)
    for code, span, message in spec.warnings if not errors else ():
        print(f"{span}: warning[{code}]: {message}", file=sys.stderr)
    for err in errors:
        print(err.render(), file=sys.stderr)
    note = f" with {len(errors)} shape error{'s' if len(errors) > 1 else ''} drawn in red" if errors else ""
    print(f"wrote {args.output}{note}", file=sys.stderr)
    return EXIT_SPEC if errors else EXIT_OK


# --- test ----------------------------------------------------------------------------------------------

def test_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--examples", type=positive, default=20, metavar="N", help="how many examples (default 20)")
    c.add_argument("--model", help="test only this model of a multi-model spec")
    c.add_argument("--device", choices=("auto", "meta", "cpu", "cuda"), default="auto",
                   help="run on PyTorch's meta device (no memory), the CPU, a CUDA GPU, or meta where ops allow "
                        "(default)")
    c.add_argument("--seed", type=int, default=0, help="seed of the examples (default 0)")


def run_test(spec, args) -> int:
    try:
        from ..testing import format_report, run_property
    except ImportError:
        raise UsageError("`archdsl test` needs hypothesis: pip install hypothesis") from None
    device = None if args.device == "auto" else args.device
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: CUDA is not available on this machine")
    if args.model is not None and args.model not in spec.models:
        raise UsageError(f"{args.spec} has no model `{args.model}`; models: {', '.join(spec.models)}")
    result = run_property(spec, args.examples, args.model, device, args.seed)
    if result.nodes:
        print(format_report(spec, result))
    if result.failure is not None:
        print(f"{args.spec}: error: the shape property fails; smallest counterexample found:", file=sys.stderr)
        print(str(result.failure), file=sys.stderr)
        return EXIT_SPEC
    n = len(result.examples)
    print(f"{args.spec}: ok: static shapes equal PyTorch's at all {len(result.nodes)} nodes in "
          f"{n} example{'s' * (n != 1)}")
    return EXIT_OK


# --- fmt, schema ---------------------------------------------------------------------------------------

def fmt_options(c: argparse.ArgumentParser) -> None:
    how = c.add_mutually_exclusive_group()
    how.add_argument("--check", action="store_true", help="print nothing; exit 1 if the spec is not canonical")
    how.add_argument("-w", "--write", action="store_true", help="rewrite the file in place")


def run_fmt(args) -> int:
    from ..limits import resolve
    from ..pipeline import limited
    from ..syntax.fmt import format_file

    with limited(resolve(limits_of(args)), args.spec):
        original, formatted = format_file(args.spec)
    if args.check:
        if formatted != original:
            print(f"{args.spec}: not in canonical form (run `archdsl fmt -w {args.spec}`)", file=sys.stderr)
            return EXIT_SPEC
        return EXIT_OK
    if args.write:
        if formatted != original:
            write_atomic(args.spec, formatted)
            print(f"formatted {args.spec}", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(formatted)
    return EXIT_OK


def schema_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("-o", "--output", help="write the schema to this file")


def run_schema(args) -> int:
    import json

    from ..syntax.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run_lsp(args) -> int:
    try:
        import pygls  # noqa: F401  (the optional extra)
    except ImportError:
        raise UsageError("`archdsl lsp` needs pygls: pip install 'archdsl[lsp]'") from None
    from ..lsp.server import serve

    serve()
    return EXIT_OK


COMMANDS = {c.name: c for c in [
    Command("check", "check every shape statically and report the model's size", run_check),
    Command("compile", "generate PyTorch source", run_compile, compile_options),
    Command("summary", "per-layer table of shapes, parameters and multiply-adds", run_summary, summary_options),
    Command("draw", "draw the architecture with Graphviz: .svg, .png, .pdf or .dot, by the file's suffix", run_draw,
            draw_options),
    Command("test", "check, over many values of the symbolic dims, that every static shape is PyTorch's", run_test,
            test_options),
    Command("fmt", "print the spec in canonical form", run_fmt, fmt_options, loads=False, description=(
        "Print the spec in canonical form: sections in a fixed order, two-space indentation, expressions "
        "normalized, comments kept. Parsing the result gives the same graph.")),
    Command("schema", "print the JSON Schema of spec files (for editors)", run_schema, schema_options, loads=False,
            takes_file=False, description="Print a JSON Schema of the YAML structure of a spec, for "
            "yaml-language-server and other editors: `# yaml-language-server: $schema=archdsl.schema.json`."),
    Command("lsp", "run the language server over stdin and stdout (for editors; needs the `lsp` extra)", run_lsp,
            loads=False, takes_file=False, description="A Language Server Protocol server for spec files: "
            "diagnostics as you type, hover, definitions, completion, formatting, symbols; see docs/editors.md."),
    Command("zoo", "list the zoo: each model's spec, variant parameters, parameters and MACs", zoo_catalogue.cli_run,
            zoo_catalogue.cli_options, loads=False, takes_file=False, description="List every zoo model under "
            "torchvision's names (and the other specs of specs/), with the spec and parameters that build it, its "
            "parameter count and its multiply-adds for one sample; see docs/zoo.md and archdsl.zoo."),
]}
