"""Shared pieces of the fuzz tests: mutation strategies over the zoo, the outcome oracle, case counts.

Every fuzz case must end in success or in an ArchDSLError whose location lies inside the file that was
checked. Anything else (a Python exception, a span outside the file, a render() that fails) is a bug.

Case counts: CI runs the numbers given to `examples()`; `ARCHDSL_FUZZ=long` scales every fuzz test so
that the suite runs 20,000 cases in all (see docs/robustness.md). With `ARCHDSL_FUZZ_REPORT=path`, the
outcome tallies are written there as JSON when the session ends.
"""
from __future__ import annotations

import ast
import json
import os
import re
import signal
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, settings, strategies as st

import archdsl
from archdsl.errors import ArchDSLError

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted((ROOT / "specs").glob("*.yaml"))
ZOO_TEXT = {p.stem: p.read_bytes() for p in ZOO}
# the block libraries the zoo specs import (specs/blocks/), written beside each case so that its imports read
LIBRARIES = {p.relative_to(ROOT / "specs"): p.read_bytes() for p in (ROOT / "specs").glob("*/*.yaml")}

LONG = os.environ.get("ARCHDSL_FUZZ", "") == "long"
LONG_TOTAL = 20_000
CI_TOTAL = 600  # the sum of the CI counts of the fuzz tests that share LONG_TOTAL (each scaled to its share)

TALLY: Counter = Counter()  # (test name, outcome) -> count


def examples(ci: int, long: int | None = None) -> int:
    """`ci` cases in CI; in the long profile `long` if given (a test with its own target), else a share of
    LONG_TOTAL."""
    if not LONG:
        return ci
    return long if long is not None else round(ci * LONG_TOTAL / CI_TOTAL)


def fuzz_settings(ci: int, long: int | None = None, **kw) -> settings:
    return settings(max_examples=examples(ci, long), deadline=None, database=None, derandomize=not LONG,
                    suppress_health_check=list(HealthCheck), **kw)


def write_report() -> None:
    path = os.environ.get("ARCHDSL_FUZZ_REPORT")
    if not path:
        return
    old = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    for (test, outcome), n in TALLY.items():
        old.setdefault(test, {})
        old[test][outcome] = old[test].get(outcome, 0) + n
    Path(path).write_text(json.dumps(old, indent=1, sort_keys=True))
    TALLY.clear()


# --- the oracle ---------------------------------------------------------------------------------------

def assert_located(err: ArchDSLError, path: str, data: bytes) -> None:
    """The error names the file (or a file it imports, in its folder) and a line and column inside it, and
    renders without failing."""
    assert err.span is not None, f"error without a location: {err}"
    if err.span.file != path:  # inside an imported file
        folder = os.path.dirname(os.path.realpath(path))
        assert os.path.realpath(err.span.file).startswith(folder + os.sep), \
            f"error located in {err.span.file}, not {path} or a file beside it: {err}"
        data = Path(err.span.file).read_bytes()
    lines = data.decode("utf-8", "replace").splitlines()
    assert 1 <= err.span.line <= max(1, len(lines)), f"line {err.span.line} outside the file: {err}"
    width = len(lines[err.span.line - 1]) if lines else 0
    assert 1 <= err.span.col <= width + 1, f"column {err.span.col} outside line {err.span.line} ({width}): {err}"
    assert err.span.length >= 1
    rendered = err.render()
    assert rendered.startswith(f"{err.span}: error[{err.code}]")


CASE_SECONDS = 60  # a case running longer is a hang (the slowest zoo spec checks and builds in ~2 s)


def check_file(path: str, data: bytes, deep: bool = True) -> str:
    """Load and check a spec file; return the outcome ('ok' or an error code); fail on anything else.
    `deep`: what checks ok is also summarized, compiled, parsed, imported and built (on the meta device,
    so no weights are allocated): the generated file must be valid Python that builds the model."""
    with time_limit(CASE_SECONDS):
        try:
            spec = archdsl.load(path)
            spec.check()
            if deep:
                spec.summary()
                ast.parse(spec.source)
                spec.build(device="meta")
            return "ok"
        except ArchDSLError as err:
            assert_located(err, path, data)
            return err.code


@contextmanager
def time_limit(seconds: int):
    def hang(*_):
        raise AssertionError(f"the case ran for more than {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(tmp_dir: Path, data: bytes, test: str, name: str = "spec.yaml", deep: bool = True) -> str:
    path = tmp_dir / name
    path.write_bytes(data)
    for lib, text in LIBRARIES.items():
        (tmp_dir / lib).parent.mkdir(exist_ok=True)
        (tmp_dir / lib).write_bytes(text)
    outcome = check_file(str(path), data, deep)
    TALLY[(test, outcome)] += 1
    return outcome


# --- mutations ----------------------------------------------------------------------------------------

NUMBER = re.compile(rb"(?<![\w.])\d+(\.\d+)?(e-?\d+)?(?![\w.])")
IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
CALL = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)\(")

NEW_NUMBERS = [b"0", b"-1", b"-3", b"1", b"2", b"7", b"1000000", b"999999999999", b"10**12", b"2**63",
               b"1e308", b"1e400", b"0.5", b"-0.0", b"nan", b".inf", b"100000", b"3.5", b"65536"]
WRONG_TYPES = [b"'text'", b"true", b"false", b"null", b"[1, 2]", b"{a: 1}", b"[]", b"{}", b"()", b"relu",
               b"conv2d", b"x", b"N", b"(1, 2, 3)", b"'same'", b"''", b"[[1]]", b"-", b"~", b"|", b"*",
               b"!!python/object:os.system", b"&a", b"*a", b"!!binary aGk=", b"!!set {a}", b"!!timestamp 2001-01-01"]
UNKNOWN_OPS = [b"conv3d", b"frobnicate", b"Conv2d", b"lstm", b"eval", b"exec", b"__import__", b"open", b"print",
               b"getattr", b"torch", b"nn", b"self", b"os", b"lambda"]
JUNK = [b":", b"[", b"]", b"(", b")", b"{", b"}", b"#", b"'", b'"', b"|", b">", b">>", b",", b"=", b"\t", b"\\",
        b"- ", b"---\n", b"...\n", b"%YAML 1.1\n", b"\x00", b"\r", b"*", b"**", b"if", b"else", b"for", b"in",
        b"\xff\xfe", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", "é".encode(), "∑".encode(), b"\xef\xbb\xbf", b"; "]


def _replace(data: bytes, m: re.Match, new: bytes, group: int = 0) -> bytes:
    return data[:m.start(group)] + new + data[m.end(group):]


def _misspell(draw, word: bytes) -> bytes:
    kind = draw(st.sampled_from(["drop", "double", "swap", "case", "append"]))
    i = draw(st.integers(0, max(0, len(word) - 1)))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i:i + 1] + word[i:]
    if kind == "swap" and len(word) > 1:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1:i + 2] + word[i:i + 1] + word[i + 2:]
    if kind == "case":
        return word.swapcase()
    return word + b"_x"


@st.composite
def mutation(draw, data: bytes) -> bytes:
    """One random edit of the spec text."""
    lines = data.split(b"\n")
    n = len(lines)
    line = draw(st.integers(0, max(0, n - 1)))
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "wrong_type", "unknown_op",
                                 "misspell", "indent", "junk", "bytes", "truncate", "empty", "join"]))
    if kind == "delete" and n > 1:
        return b"\n".join(lines[:line] + lines[line + 1:])
    if kind == "duplicate":
        return b"\n".join(lines[:line + 1] + [lines[line]] + lines[line + 1:])
    if kind == "swap" and n > 1:
        other = draw(st.integers(0, n - 1))
        lines[line], lines[other] = lines[other], lines[line]
        return b"\n".join(lines)
    if kind == "join" and n > 1 and line < n - 1:
        return b"\n".join(lines[:line] + [lines[line] + b" " + lines[line + 1].lstrip()] + lines[line + 2:])
    if kind == "number":
        found = list(NUMBER.finditer(data))
        if found:
            m = draw(st.sampled_from(found))
            return _replace(data, m, draw(st.sampled_from(NEW_NUMBERS)))
    if kind == "wrong_type":
        found = list(NUMBER.finditer(data)) + list(IDENT.finditer(data))
        if found:
            m = draw(st.sampled_from(found))
            return _replace(data, m, draw(st.sampled_from(WRONG_TYPES)))
    if kind == "unknown_op":
        found = list(CALL.finditer(data))
        if found:
            m = draw(st.sampled_from(found))
            return _replace(data, m, draw(st.sampled_from(UNKNOWN_OPS)), group=1)
    if kind == "misspell":
        found = list(IDENT.finditer(data))
        if found:
            m = draw(st.sampled_from(found))
            return _replace(data, m, _misspell(draw, m.group(0)))
    if kind == "indent":
        text = lines[line]
        change = draw(st.sampled_from([b" ", b"  ", b"\t", b"-", b"", b"    "]))
        lines[line] = change + text if change or not text.startswith(b" ") else text[1:]
        if change == b"":
            lines[line] = text.lstrip()
        return b"\n".join(lines)
    if kind == "junk" or kind == "bytes":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from(JUNK)) if kind == "junk" else draw(st.binary(min_size=1, max_size=4))
        return data[:at] + junk + data[at:]
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   \n", b"# only a comment\n", b"---\n", b"null\n", b"[]\n",
                                     b"42\n", b"'text'\n", b"\xef\xbb\xbf"]))
    return data


@st.composite
def mutated_spec(draw, names=None) -> tuple[str, bytes]:
    """A zoo spec after 1 to 3 random edits: (zoo name, bytes)."""
    name = draw(st.sampled_from(sorted(names or ZOO_TEXT)))
    data = ZOO_TEXT[name]
    for _ in range(draw(st.integers(1, 3))):
        data = draw(mutation(data))
    return name, data
