"""The `test`, `fmt` and `schema` commands of the `archdsl` CLI, and the limit flags every command takes."""
from __future__ import annotations

import argparse
import sys

from .errors import UsageError
from .limits import LIMITS, fmt as fmt_limit, parse_size

EXIT_OK, EXIT_SPEC = 0, 1


# --- limits ------------------------------------------------------------------------------------------------

def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _size(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return value


def limit_flags(parser: argparse.ArgumentParser) -> None:
    """--max-repeat N, --max-memory 16GiB, ...: one flag per limit of archdsl/limits.py."""
    group = parser.add_argument_group("limits (raise them for very large specs)")
    for limit in LIMITS.values():
        size = limit.name == "max_memory"
        group.add_argument(limit.flag, dest=f"limit_{limit.name}", metavar="SIZE" if size else "N",
                           type=_size if size else _positive,
                           help=f"{limit.what} (default {fmt_limit(limit.name, limit.default)})")


def limits_of(args) -> dict:
    return {name: getattr(args, f"limit_{name}") for name in LIMITS
            if getattr(args, f"limit_{name}", None) is not None}


# --- the commands ------------------------------------------------------------------------------------------

def add_parsers(sub, command) -> None:
    """Register `test`, `fmt` and `schema`; `command(name, help)` makes a subcommand taking SPEC and -D."""
    c = command("test", "check, over many values of the symbolic dims, that every static shape is PyTorch's")
    c.add_argument("--examples", type=_positive, default=20, metavar="N", help="how many examples (default 20)")
    c.add_argument("--model", help="test only this model of a multi-model spec")
    c.add_argument("--device", choices=("auto", "meta", "cpu", "cuda"), default="auto",
                   help="run on PyTorch's meta device (no memory), the CPU, a CUDA GPU, or meta where ops allow "
                        "(default)")
    c.add_argument("--seed", type=int, default=0, help="seed of the examples (default 0)")
    c = sub.add_parser("fmt", help="print the spec in canonical form", description=(
        "Print the spec in canonical form: sections in a fixed order, two-space indentation, expressions "
        "normalized, comments kept. Parsing the result gives the same graph."))
    c.add_argument("spec", help="path of the spec (YAML)")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--check", action="store_true", help="print nothing; exit 1 if the spec is not canonical")
    how.add_argument("-w", "--write", action="store_true", help="rewrite the file in place")
    limit_flags(c)
    c = sub.add_parser("schema", help="print the JSON Schema of spec files (for editors)",
                       description="Print a JSON Schema of the YAML structure of a spec, for yaml-language-server "
                                   "and other editors: `# yaml-language-server: $schema=archdsl.schema.json`.")
    c.add_argument("-o", "--output", help="write the schema to this file")


def run_standalone(args) -> int | None:
    """Commands that do not check a spec first; None for the others."""
    if args.command == "schema":
        return run_schema(args)
    if args.command == "fmt":
        return run_fmt(args)
    return None


def run_schema(args) -> int:
    import json

    from .schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if args.output:
        from .files import write_atomic

        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run_fmt(args) -> int:
    from .fmt import format_file
    from .limits import active, resolve

    with active(resolve(limits_of(args))):
        original, formatted = format_file(args.spec)
    if args.check:
        if formatted != original:
            print(f"{args.spec}: not in canonical form (run `archdsl fmt -w {args.spec}`)", file=sys.stderr)
            return EXIT_SPEC
        return EXIT_OK
    if args.write:
        if formatted != original:
            from .files import write_atomic

            write_atomic(args.spec, formatted)
            print(f"formatted {args.spec}", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(formatted)
    return EXIT_OK


def run_test(spec, args) -> int:
    try:
        from .testing import format_report, run_property
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
