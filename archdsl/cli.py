"""The `archdsl` command: check, compile and summarise specs. Exit 0 ok, 1 spec error, 2 usage error."""
from __future__ import annotations

import argparse
import os
import sys

from .cli_commands import add_parsers, limit_flags, limits_of, run_standalone, run_test
from .errors import ArchDSLError, LimitError, ParamError, Span
from .files import check_target, os_error, write_atomic

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


def _define(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise ParamError(f"-D expects name=value, got {text!r}", hint="for example: -D num_classes=10")
    import yaml

    from .syntax.yaml_loader import load_value

    try:
        parsed = load_value(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    except LimitError as exc:
        raise exc.with_note(f"in `-D {text:.40}`") from None
    if not _plain_data(parsed):
        parsed = value
    return key.strip(), parsed


def _plain_data(v) -> bool:
    """Scalars and lists of scalars: what a parameter can be set to from the command line."""
    if isinstance(v, list):
        return all(_plain_data(x) for x in v)
    return isinstance(v, (int, float, bool, str))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archdsl", description="Check, compile and summarise neural-network specs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("spec", help="path of the spec (YAML)")
        c.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                       help="override a parameter or fix a symbolic dim (repeatable)")
        limit_flags(c)
        return c

    command("check", "check every shape statically and report the model's size")
    c = command("compile", "generate PyTorch source")
    c.add_argument("-o", "--output", help="write the source to this file (default: standard output)")
    c.add_argument("--onnx", metavar="FILE", help="also export ONNX (dynamic symbolic dims), checked with "
                   "onnx.checker and, when installed, onnxruntime; needs the `onnx` extra")
    c.add_argument("--emit", action="append", default=[], choices=("torchscript", "exported"),
                   help="also write TorchScript (.torchscript.pt) or a torch.export program (.pt2) beside "
                   "the source (repeatable)")
    c.add_argument("--weights", metavar="FILE", help="load this state_dict (torch.save) before exporting")
    c = command("summary", "per-layer table of shapes, parameters and multiply-adds")
    c.add_argument("--format", choices=("text", "markdown", "csv", "json"), default="text")
    c.add_argument("--depth", type=int, metavar="K", help="one row per block nested deeper than K (0: top level)")
    c = command("draw", "draw the architecture with Graphviz: .svg, .png, .pdf or .dot, by the file's suffix")
    c.add_argument("-o", "--output", required=True, help="the diagram file (.svg, .png, .pdf or .dot)")
    c.add_argument("--depth", type=int, metavar="K", help="fold each block nested deeper than K into one box")
    c.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top to bottom (TB) or left to right")
    c.add_argument("--model", help="draw only this model of a multi-model spec (default: each in its own frame)")
    c.add_argument("--allow-errors", action="store_true",
                   help="draw a spec with shape errors, each failing input in red (the exit code is still 1)")
    c.add_argument("--no-fuse", dest="fuse", action="store_false",
                   help="draw every activation as its own box (default: `conv2d 3x3, 64 + relu` in one box)")
    add_parsers(sub, command)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ArchDSLError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE if exc.code == "E013" else EXIT_SPEC
    except RecursionError:
        print("error[E011]: the spec nests too deeply to process", file=sys.stderr)
        return EXIT_SPEC
    except KeyboardInterrupt:
        return EXIT_SPEC
    except BrokenPipeError:  # `archdsl compile spec | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # an output the exporters write themselves (--emit, --onnx), a full disk, ...
        print(os_error(exc).render(), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug in archdsl, never the user's: no traceback unless ARCHDSL_DEBUG is set
        if os.environ.get("ARCHDSL_DEBUG"):
            raise
        print(f"error: internal error in archdsl ({type(exc).__name__}: {exc}); please report it with the spec "
              "(ARCHDSL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_SPEC


def _run(args) -> int:
    from .api import load

    done = run_standalone(args)
    if done is not None:
        return done
    params = dict(_define(d) for d in args.defines)
    spec = load(args.spec, limits=limits_of(args), **params)
    _check_outputs(spec, args)
    if args.command == "draw":
        return _draw(spec, args)
    spec.check()
    for code, span, message in spec.warnings:
        print(f"{span}: warning[{code}]: {message}", file=sys.stderr)
    if args.command == "test":
        return run_test(spec, args)
    if args.command == "check":
        s = spec.summary()
        from .dims import fmt_shape
        from .ir.graph import flat_tensors
        from .summary import human

        def shapes(outs) -> str:
            return ", ".join(fmt_shape(spec.graph.shape(t)) for t in flat_tensors(outs))

        for model in spec.models:
            print(f"{args.spec}: model `{model}` ok: output {shapes(spec.graph.outputs[model])}")
            for method, view in spec.graph.roots[model].methods.items():
                print(f"{args.spec}: method `{model}.{method}` ok: output {shapes(view.output)}")
        print(f"{len(s.rows)} ops, {s.params:,} parameters, {human(s.macs)} MACs")
    elif args.command == "compile":
        source = spec.compile(args.output) if args.output else spec.source
        if args.output:
            write_atomic(args.output, source, (args.spec,))
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(source)
        if args.onnx or args.emit:
            _export_artifacts(spec, args)
    elif args.command == "summary":
        from .summary import FORMATS

        print(FORMATS[args.format](spec.summary(depth=args.depth), f"{spec.name} ({args.spec})"))
    return EXIT_OK


def _draw(spec, args) -> int:
    from .backends.graphviz import format_of

    format_of(args.output)  # a bad suffix is reported before any work
    errors = spec.draw(args.output, depth=args.depth, direction=args.direction, model=args.model,
                       allow_errors=args.allow_errors, fuse=args.fuse)
    for code, span, message in spec.warnings if not errors else ():
        print(f"{span}: warning[{code}]: {message}", file=sys.stderr)
    for err in errors:
        print(err.render(), file=sys.stderr)
    note = f" with {len(errors)} shape error{'s' if len(errors) > 1 else ''} drawn in red" if errors else ""
    print(f"wrote {args.output}{note}", file=sys.stderr)
    return EXIT_SPEC if errors else EXIT_OK


def _check_outputs(spec, args) -> None:
    """Before any work: no output may be the spec, a device, a FIFO or a folder (see files.py)."""
    outputs = [args.output] if args.command in ("compile", "draw") and args.output else []
    if args.command == "compile":
        outputs += [path for _, paths in _artifact_jobs(spec, args) for path in paths.values()]
    for path in outputs:
        check_target(path, (args.spec,))


def _artifact_jobs(spec, args) -> list:
    """(format, {model: path}) of every deployment file that `compile --onnx/--emit` writes."""
    from . import export

    jobs = [("onnx", export.artifact_paths(spec, "onnx", args.onnx, exact=True))] if args.onnx else []
    base = args.output or spec.name
    return jobs + [(fmt, export.artifact_paths(spec, fmt, base)) for fmt in dict.fromkeys(args.emit)]


def _export_artifacts(spec, args) -> None:
    """`compile --onnx FILE` and `--emit torchscript|exported`: deployment files beside the source."""
    from . import export

    jobs = _artifact_jobs(spec, args)
    for fmt, paths in jobs:
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


if __name__ == "__main__":
    sys.exit(main())
