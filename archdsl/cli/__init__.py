"""The `archdsl` command. Exit 0 ok, 1 spec error, 2 usage error; never a traceback for what a user did."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ArchDSLError
from ..files import check_target, os_error
from .commands import COMMANDS, EXIT_OK, EXIT_SPEC, EXIT_USAGE, artifact_jobs
from .options import define, limit_flags, limits_of


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archdsl", description="Check, compile and summarise neural-network specs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for c in COMMANDS.values():
        command = sub.add_parser(c.name, help=c.help, description=c.description or c.help)
        if c.takes_file:
            command.add_argument("spec", help="path of the spec (YAML)")
        if c.loads:
            command.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                                 help="override a parameter or fix a symbolic dim (repeatable)")
            command.add_argument("--assume", action="store_true",
                                 help="accept dims that are equal only under a condition (H %% 2 == 0) as "
                                      "assumptions, and state them, instead of an error")
        c.options(command)
        if c.takes_file:
            limit_flags(command)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    from ..api import load

    command = COMMANDS[args.command]
    if not command.loads:
        return command.run(args)
    spec = load(args.spec, limits=limits_of(args), assume=args.assume, **dict(define(d) for d in args.defines))
    if spec.doc.library and command.name == "check":  # nothing to elaborate: its blocks are read and parsed
        print(f"{args.spec}: a block library (no model), ok: blocks {', '.join(spec.doc.blocks)}")
        return EXIT_OK
    _check_outputs(spec, args)
    if command.name != "draw":  # draw checks itself: with --allow-errors it draws what fails
        spec.check()
        for code, span, message in spec.warnings:
            print(f"{span}: warning[{code}]: {message}", file=sys.stderr)
    return command.run(spec, args)


def _check_outputs(spec, args) -> None:
    """Before any work: no output may be the spec, a device, a FIFO or a folder (see files.py)."""
    outputs = [args.output] if getattr(args, "output", None) else []
    if args.command == "compile":
        outputs += [path for _, paths in artifact_jobs(spec, args) for path in paths.values()]
    for path in outputs:
        check_target(path, (args.spec,))
