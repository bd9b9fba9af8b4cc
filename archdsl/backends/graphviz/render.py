"""Turn DOT text into SVG, PNG or PDF with Graphviz's `dot` program; pick the format from a file's suffix."""
from __future__ import annotations

import os
import shutil
import subprocess

from ...errors import UsageError

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI = 144   # sharp text at the default size; SVG and PDF are vector formats
INSTALL_HINT = "install Graphviz (`apt-get install graphviz`, `brew install graphviz`, or https://graphviz.org/download/)"


def format_of(path: str) -> str:
    suffix = os.path.splitext(str(path))[1].lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the diagram format from `{path}`: "
                         f"use a file name ending in {', '.join('.' + f for f in FORMATS)}")
    return suffix


def dot_program() -> str | None:
    return shutil.which("dot")


def render(dot_text: str, fmt: str) -> bytes:
    """The diagram as `fmt` bytes; DOT text needs no Graphviz."""
    if fmt == "dot":
        return dot_text.encode("utf-8")
    if fmt not in FORMATS:
        raise UsageError(f"unknown diagram format `{fmt}`; formats: {', '.join(FORMATS)}")
    program = dot_program()
    if program is None:
        raise UsageError(f"writing .{fmt} needs Graphviz's `dot` program, which is not installed: "
                         f"{INSTALL_HINT}, or write a .dot file")
    args = [program, f"-T{fmt}"] + ([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])
    try:
        done = subprocess.run(args, input=dot_text.encode("utf-8"), capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise UsageError("Graphviz's `dot` took more than 300 s; draw fewer levels with --depth") from None
    if done.returncode != 0:
        first = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[0]
        raise UsageError(f"Graphviz's `dot` failed to write .{fmt}: {first}")
    return done.stdout


def write(path: str, data: bytes) -> None:
    from ...files import write_atomic

    write_atomic(str(path), data)  # a temporary file renamed over `path`: never a half-written diagram
