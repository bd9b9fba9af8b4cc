"""The `archdsl` command: check, compile and summarise specs. Exit 0 ok, 1 spec error, 2 usage error."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import ArchDSLError, ParamError, Span

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


def _define(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise ParamError(f"-D expects name=value, got {text!r}", hint="for example: -D num_classes=10")
    import yaml

    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
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
        return c

    command("check", "check every shape statically and report the model's size")
    c = command("compile", "generate PyTorch source")
    c.add_argument("-o", "--output", help="write the source to this file (default: standard output)")
    c = command("summary", "per-layer table of shapes, parameters and multiply-adds")
    c.add_argument("--format", choices=("text", "json"), default="text")
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


def _run(args) -> int:
    from .api import load

    params = dict(_define(d) for d in args.defines)
    spec = load(args.spec, **params)
    spec.check()
    for code, span, message in spec.warnings:
        print(f"{span}: warning[{code}]: {message}", file=sys.stderr)
    if args.command == "check":
        s = spec.summary()
        from .dims import fmt_shape
        from .summary import human

        for model in spec.models:
            outs = spec.graph.outputs[model]
            shapes = ", ".join(fmt_shape(spec.graph.node(t.node)["shape"]) for t in _flat(outs))
            print(f"{args.spec}: model `{model}` ok: output {shapes}")
        print(f"{len(s.rows)} ops, {s.params:,} parameters, {human(s.macs)} MACs")
    elif args.command == "compile":
        source = spec.source
        if args.output:
            os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(source)
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(source)
    elif args.command == "summary":
        from .summary import summary_json, summary_text

        s = spec.summary()
        print(summary_json(s) if args.format == "json" else summary_text(s, f"{spec.name} ({args.spec})"))
    return EXIT_OK


def _flat(v):
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from _flat(x)
    else:
        yield v


if __name__ == "__main__":
    sys.exit(main())
