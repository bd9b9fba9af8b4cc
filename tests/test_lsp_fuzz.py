"""The language server under fuzzing: the CLI fuzz's mutated zoo specs (binary junk, truncation, wrong types,
unknown ops, ...) sent as bursts of edits, with requests at random places. The server must stay up, answer,
publish diagnostics inside the document for the newest version only, and log no traceback."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from tests.fuzzing import ROOT, fuzz_settings, mutated_spec
from tests.test_lsp import Editor

pytest.importorskip("pygls")


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    ed = Editor(tmp_path_factory.mktemp("lsp-fuzz") / "server.log")
    ed.uri = ed.open(tmp_path_factory.mktemp("doc") / "spec.yaml", "")
    yield ed
    assert ed.alive, "the server exited"
    ed.stop()
    log = ed.log.read_text()
    assert "Traceback" not in log and "internal error" not in log, log
    assert not [m for m in ed.messages if m.startswith("Error in server")], ed.messages


def _inside(text: str, d) -> bool:
    lines = re.split(r"\r\n|\r|\n", text)
    r = d.range
    return all(0 <= p.line < len(lines) and 0 <= p.character <= len(lines[p.line].encode("utf-16-le")) // 2
               for p in (r.start, r.end))


@fuzz_settings(ci=40)
@given(st.lists(mutated_spec(), min_size=1, max_size=3), st.integers(0, 80), st.integers(0, 60))
def test_server_survives_bursts_of_mutated_specs(editor, cases, line, col):
    for _, data in cases:  # a burst: no waiting between the edits
        editor.change(editor.uri, data.decode("utf-8", "replace"))
    text = editor.texts[editor.uri]
    diagnostics = editor.diagnostics(editor.uri, timeout=60)
    assert all(_inside(text, d) for d in diagnostics), diagnostics
    assert all(d.code != "internal" for d in diagnostics), diagnostics
    editor.hover(editor.uri, line, col)
    editor.definition(editor.uri, line, col)
    editor.completion(editor.uri, line, col)
    editor.symbols(editor.uri)
    editor.formatting(editor.uri)
    assert editor.alive


def test_server_survives_garbage_on_its_input(tmp_path):
    """Bytes that are no JSON-RPC, then a valid request: the server answers it."""
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown"}'
    garbage = bytes(range(256)) + b"Content-Length: 5\r\n\r\n{{{{{" + b"Content-Length: x\r\n\r\n"
    request = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    exit_ = b'{"jsonrpc": "2.0", "method": "exit"}'
    stdin = garbage + request + b"Content-Length: %d\r\n\r\n%s" % (len(exit_), exit_)
    proc = subprocess.run([sys.executable, "-m", "archdsl.cli", "lsp"], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=60)
    assert b'"id": 1' in proc.stdout or b'"id":1' in proc.stdout, (proc.stdout, proc.stderr[-2000:])
