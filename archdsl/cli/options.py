"""Options every command shares: the limit flags and `-D name=value`."""
from __future__ import annotations

import argparse
import re

from ..errors import LimitError, ParamError
from ..limits import LIMITS, fmt as fmt_limit, parse_size


def positive(text: str) -> int:
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
                           type=_size if size else positive,
                           help=f"{limit.what} (default {fmt_limit(limit.name, limit.default)})")


def limits_of(args) -> dict:
    return {name: getattr(args, f"limit_{name}") for name in LIMITS
            if getattr(args, f"limit_{name}", None) is not None}


def define(text: str) -> tuple[str, object]:
    """`-D name=value`: the value read as YAML data (numbers, booleans, lists), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise ParamError(f"-D expects name=value, got {text!r}", hint="for example: -D num_classes=10")
    import yaml

    from ..syntax.yaml_loader import load_value

    try:
        parsed = load_value(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    except LimitError as exc:
        raise exc.with_note(f"in `-D {text:.40}`") from None
    if not _plain_data(parsed) or (isinstance(parsed, int) and not isinstance(parsed, bool)
                                   and not _INT_LITERAL.fullmatch(value)):
        parsed = value  # `1_0`, `010`, `+5`, ` 5`, `0x10`, `1:30`: YAML reads integers there; a -D value keeps its text
    return key.strip(), parsed


_INT_LITERAL = re.compile(r"-?(0|[1-9][0-9]*)")  # what -D reads as an integer, exactly


def _plain_data(v) -> bool:
    """Scalars and lists of scalars: what a parameter can be set to from the command line."""
    if isinstance(v, list):
        return all(_plain_data(x) for x in v)
    return isinstance(v, (int, float, bool, str))
