"""`archdsl lsp` driven as an editor drives it: pygls's LanguageClient runs `python -m archdsl.cli lsp` over
stdio (initialize, didOpen, incremental didChange, requests) and the tests read what the server publishes."""
from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from tests.helpers import copy_libraries  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Editor:
    """An editor with a running server; `log` receives the server's stderr."""

    def __init__(self, log: Path, debounce_ms: int = 50, options: dict | None = None):
        self.loop = asyncio.new_event_loop()
        self.log = log
        self.client = LanguageClient("archdsl-tests", "0")
        self.published: list[T.PublishDiagnosticsParams] = []  # in arrival order
        self.messages: list[str] = []
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params):
            self.published.append(params)

        @self.client.feature(T.WINDOW_SHOW_MESSAGE)
        def shown(params):
            self.messages.append(params.message)

        self.run(self._start({"debounce_ms": debounce_ms, **(options or {})}))

    def run(self, coro, timeout: float = 30):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    async def _start(self, options: dict) -> None:
        cmd = f"exec {shlex.quote(sys.executable)} -m archdsl.cli lsp 2>{shlex.quote(str(self.log))}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        await self.client.start_io("/bin/sh", "-c", cmd, cwd=str(ROOT), env=env)
        await self.client.initialize_async(T.InitializeParams(
            capabilities=T.ClientCapabilities(), initialization_options=options))
        self.client.initialized(T.InitializedParams())

    @property
    def alive(self) -> bool:
        server = self.client._server
        return server is not None and server.returncode is None

    def stop(self) -> None:
        async def stop():
            await self.client.shutdown_async(None)
            self.client.exit(None)
            await self.client.stop()

        self.run(stop())
        self.loop.close()

    # --- documents
    def open(self, path: Path, text: str) -> str:
        uri = path.resolve().as_uri()
        self.versions[uri], self.texts[uri] = 1, text
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "yaml", 1, text)))
        return uri

    def change(self, uri: str, text: str) -> int:
        """Replace the whole text (a change without a range, which incremental sync allows: a range computed
        here could disagree with the server's lines where the text holds \u2028 or a lone \r); return the
        new version."""
        return self._send(uri, text, [T.TextDocumentContentChangeWholeDocument(text=text)])

    def edit(self, uri: str, line: int, col: int, length: int, new: str) -> int:
        """One incremental edit: replace `length` characters at 0-based (line, col) of an ASCII line."""
        lines = self.texts[uri].split("\n")
        lines[line] = lines[line][:col] + new + lines[line][col + length:]
        change = T.TextDocumentContentChangePartial(range=T.Range(T.Position(line, col), T.Position(line, col + length)),
                                                    text=new)
        return self._send(uri, "\n".join(lines), [change])

    def _send(self, uri: str, text: str, changes: list) -> int:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]), changes))
        return self.versions[uri]

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 30) -> list[T.Diagnostic]:
        """The diagnostics published for `version` (default: the current one), waiting for them."""
        version = self.versions[uri] if version is None else version

        async def wait():
            while True:
                for p in reversed(self.published):
                    if p.uri == uri and p.version == version:
                        return list(p.diagnostics)
                await asyncio.sleep(0.005)

        return self.run(wait(), timeout)

    # --- requests
    def hover(self, uri: str, line: int, col: int) -> str | None:
        h = self.run(self.client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                         T.Position(line, col))))
        return h.contents.value if h is not None else None

    def definition(self, uri: str, line: int, col: int):
        return self.run(self.client.text_document_definition_async(
            T.DefinitionParams(T.TextDocumentIdentifier(uri), T.Position(line, col))))

    def completion(self, uri: str, line: int, col: int) -> dict:
        out = self.run(self.client.text_document_completion_async(
            T.CompletionParams(T.TextDocumentIdentifier(uri), T.Position(line, col))))
        items = out.items if isinstance(out, T.CompletionList) else out
        return {i.label: i for i in items}

    def formatting(self, uri: str):
        return self.run(self.client.text_document_formatting_async(T.DocumentFormattingParams(
            T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=2, insert_spaces=True))))

    def symbols(self, uri: str):
        return self.run(self.client.text_document_document_symbol_async(
            T.DocumentSymbolParams(T.TextDocumentIdentifier(uri))))

    def command(self, name: str, *args):
        return self.run(self.client.workspace_execute_command_async(T.ExecuteCommandParams(name, list(args))), 60)


# --- the tests ------------------------------------------------------------------------------------------

SPEC = """\
inputs:
  x: [N, 3, 32, 32]
layers:
  conv: conv2d(8, 3, padding=1)
  fc: linear(10)
forward: |
  y = x >> conv >> relu
  y >> flatten >> fc
"""


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    ed = Editor(tmp_path_factory.mktemp("lsp") / "server.log")
    yield ed
    assert ed.alive, "the server exited"
    ed.stop()
    assert "Traceback" not in ed.log.read_text(), ed.log.read_text()
    assert not [m for m in ed.messages if m.startswith("Error in server")], ed.messages


@pytest.fixture
def doc(editor, tmp_path):
    """The small spec, open in the editor, checked clean."""
    uri = editor.open(tmp_path / "net.yaml", SPEC)
    assert editor.diagnostics(uri) == []
    return uri


def test_an_error_has_one_diagnostic_at_its_place_and_fixing_it_clears_it(editor, doc):
    editor.edit(doc, 6, 19, 4, "reluu")  # `y = x >> conv >> relu` -> `... >> reluu`
    [d] = editor.diagnostics(doc)
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (6, 19, 24)
    assert d.code == "E005" and d.severity == T.DiagnosticSeverity.Error and "`reluu` is not defined" in d.message
    assert "hint: did you mean `relu`" in d.message
    editor.edit(doc, 6, 19, 5, "relu")
    assert editor.diagnostics(doc) == []


def test_shape_errors_and_warnings_are_located(editor, tmp_path):
    text = SPEC.replace("  fc: linear(10)\n", "  fc: linear(10)\n  unused: linear(4)\n")
    text = text.replace("y >> flatten >> fc", "z = y + x\n  z >> flatten >> fc")
    uri = editor.open(tmp_path / "bad.yaml", text)
    found = {(d.code, d.range.start.line, d.severity) for d in editor.diagnostics(uri)}
    assert ("W001", 5, T.DiagnosticSeverity.Warning) in found
    assert ("E009", 8, T.DiagnosticSeverity.Error) in found  # `z = y + x`: 8 channels and 3


def test_hover_over_a_layer_in_forward_shows_its_shape(editor, doc):
    text = editor.hover(doc, 6, 11)  # `conv` in `y = x >> conv >> relu`
    assert "[N, 8, 32, 32]" in text and "conv2d" in text and "224 params" in text and "MACs" in text
    assert "[N, 3, 32, 32]" in editor.hover(doc, 6, 6)  # the input `x`
    assert "float32" in editor.hover(doc, 6, 6)
    assert "[N, 8, 32, 32]" in editor.hover(doc, 7, 2)  # the variable `y`
    assert "[N, 10]" in editor.hover(doc, 4, 3)  # the layer `fc` where it is defined


def test_hover_after_an_edit_shows_the_new_shape(editor, tmp_path):
    """The block cache (archdsl/incremental.py) serves no layer of an older text: the edited conv's width."""
    text = SPEC.replace("layers:\n", "blocks:\n  Unit:\n    layers:\n      conv: conv2d(8, 3, padding=1)\n"
                        "    forward: |\n      x >> conv\nlayers:\n  unit: Unit()\n")
    text = text.replace("y >> flatten >> fc", "y >> unit >> flatten >> fc")
    uri = editor.open(tmp_path / "unit.yaml", text)
    assert editor.diagnostics(uri) == []
    line = text.split("\n").index("      conv: conv2d(8, 3, padding=1)")
    assert "[N, 8, 32, 32]" in editor.hover(uri, line, 7)
    editor.edit(uri, line, 19, 1, "5")  # conv2d(8, ...) -> conv2d(5, ...)
    assert editor.diagnostics(uri) == []
    assert "[N, 5, 32, 32]" in editor.hover(uri, line, 7)


def test_hover_over_parameters_shows_their_values(editor, tmp_path):
    text = (ROOT / "specs" / "resnet.yaml").read_text()
    copy_libraries(tmp_path)
    uri = editor.open(tmp_path / "resnet.yaml", text)
    lines = text.split("\n")
    depth = next(i for i, l in enumerate(lines) if l.startswith("  depth:"))
    assert "`50`" in editor.hover(uri, depth, 3)
    header = next(i for i, l in enumerate(lines) if l.lstrip().startswith("Bottleneck("))
    col = lines[header].index("planes")
    hover = editor.hover(uri, header, col)
    assert "layer1.0" in hover and "`64`" in hover and "set at line" in hover


def test_definition_of_layers_variables_and_params(editor, doc):
    loc = editor.definition(doc, 6, 11)  # `conv` in forward -> its key under `layers:`
    assert (loc.range.start.line, loc.range.start.character) == (3, 2)
    loc = editor.definition(doc, 7, 2)  # `y` -> its assignment
    assert (loc.range.start.line, loc.range.start.character) == (6, 2)
    assert editor.definition(doc, 6, 19) is None  # `relu` is an op: no place in the spec


def test_completion_offers_ops_with_signatures_and_the_names_in_scope(editor, doc):
    items = editor.completion(doc, 7, 2)
    assert items["conv2d"].detail.startswith("conv2d(out_channels, kernel_size")
    assert "2-D convolution" in items["conv2d"].documentation.value
    assert {"conv", "fc", "x", "y"} <= set(items)


def test_formatting_gives_the_canonical_text(editor, tmp_path):
    uri = editor.open(tmp_path / "ugly.yaml", SPEC.replace("conv2d(8, 3, padding=1)", "conv2d( 8,3,padding = 1 )"))
    [edit] = editor.formatting(uri)
    assert edit.new_text == SPEC
    editor.change(uri, SPEC)
    assert list(editor.formatting(uri)) == []
    editor.change(uri, "inputs: [")
    assert not editor.formatting(uri)  # a spec that does not parse is left alone


def test_symbols_name_models_blocks_and_layers(editor, tmp_path):
    copy_libraries(tmp_path)
    uri = editor.open(tmp_path / "resnet.yaml", (ROOT / "specs" / "resnet.yaml").read_text())
    symbols = {s.name: s for s in editor.symbols(uri)}
    assert {"resnet", "BasicBlock", "Bottleneck"} <= set(symbols)
    assert {"conv1", "layer1", "fc"} <= {c.name for c in symbols["resnet"].children}
    assert {"conv3", "downsample"} <= {c.name for c in symbols["Bottleneck"].children}


def test_show_diagram_writes_the_svg_beside_the_file(editor, doc, tmp_path):
    out = editor.command("archdsl.showDiagram", doc)
    assert out == str(tmp_path / "net.svg")
    assert (tmp_path / "net.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_rapid_edits_publish_the_last_version_only_once_and_never_a_stale_one(editor, doc):
    for k in range(30):
        editor.edit(doc, 4, 13, 2, f"{10 + k}")  # `fc: linear(10)` -> linear(10 + k), one edit at a time
    last = editor.versions[doc]
    assert editor.diagnostics(doc, last) == []
    editor.run(asyncio.sleep(0.3))
    mine = [p.version for p in editor.published if p.uri == doc]
    assert mine == sorted(mine) and mine[-1] == last  # in order, the newest last
    assert len(mine) < 10  # debounced: most edits were never checked


def test_requests_about_documents_not_open_find_nothing(editor):
    uri = (ROOT / "no-such-spec.yaml").as_uri()
    assert editor.hover(uri, 0, 0) is None and editor.definition(uri, 0, 0) is None
    assert list(editor.symbols(uri)) == [] and "conv2d" in editor.completion(uri, 0, 0)
    assert editor.command("archdsl.showDiagram", uri) is None


def test_lsp_without_pygls_is_a_usage_error(monkeypatch):
    from archdsl.cli import main

    monkeypatch.setitem(sys.modules, "pygls", None)
    assert main(["lsp"]) == 2


@pytest.mark.parametrize("spec, defines", [("densenet", {}), ("resnet", {"depth: 50 ": "depth: 152 "})])
def test_one_character_edits_of_a_large_spec_are_rechecked(editor, tmp_path, spec, defines):
    """Each isolated edit of densenet121 and resnet152 gets its own diagnostics. How fast is measured by
    benchmarks/bench_lsp.py (docs/benchmarks.md), not here."""
    text = (ROOT / "specs" / f"{spec}.yaml").read_text()
    for old, new in defines.items():
        text = text.replace(old, new)
    copy_libraries(tmp_path)
    uri = editor.open(tmp_path / f"{spec}.yaml", text)
    assert editor.diagnostics(uri) == []
    line = next(k for k, l in enumerate(text.split("\n")) if l.strip().startswith("num_classes: 1000"))
    col = text.split("\n")[line].index("1000") + 3
    for k in range(3):
        editor.run(asyncio.sleep(0.08))  # a pause in typing, longer than the debounce
        version = editor.edit(uri, line, col, 1, str(k + 1))
        assert editor.diagnostics(uri, version) == []
    editor.edit(uri, line, col - 3, 4, "x")  # `num_classes: x`: an error, then fixed
    assert editor.diagnostics(uri)
    editor.edit(uri, line, col - 3, 1, "1000")
    assert editor.diagnostics(uri) == []


def test_the_vscode_extension_files_are_current():
    """The schema it registers is `archdsl schema`'s; the grammar and the schema it names exist."""
    from archdsl.syntax.schema import spec_schema

    folder = ROOT / "editors" / "vscode"
    package = json.loads((folder / "package.json").read_text())
    assert json.loads((folder / "archdsl.schema.json").read_text()) == spec_schema()
    for entry in package["contributes"]["grammars"] + package["contributes"]["yamlValidation"]:
        json.loads((folder / entry.get("path", entry.get("url"))).read_text())
    assert package["contributes"]["configuration"]["properties"]["archdsl.args"]["default"] == ["lsp"]


def test_saving_an_imported_library_checks_its_importers_again(editor, tmp_path):
    # imports read the library on disk: after it is saved with a wider layer, the importer's (unchanged) text
    # must be checked against the new file, not served from the analysis cache
    (tmp_path / "lib.yaml").write_text("blocks:\n  Head():\n    layers: {fc: linear(3)}\n"
                                       "    forward: |\n      x >> fc\n")
    main = ("imports: {lib.yaml: [Head]}\ninputs: {x: [N, 4]}\nlayers:\n  head: Head()\n"
            "  out: linear(2)\nforward: |\n  x >> head >> reshape([0, 3]) >> out\n")
    uri = editor.open(tmp_path / "main.yaml", main)
    assert editor.diagnostics(uri) == []
    seen = len(editor.published)
    (tmp_path / "lib.yaml").write_text("blocks:\n  Head():\n    layers: {fc: linear(5)}\n"
                                       "    forward: |\n      x >> fc\n")
    lib = (tmp_path / "lib.yaml").resolve().as_uri()
    editor.client.text_document_did_save(T.DidSaveTextDocumentParams(T.TextDocumentIdentifier(lib)))

    async def republished():
        while True:
            fresh = [p for p in editor.published[seen:] if p.uri == uri]
            if fresh:
                return list(fresh[-1].diagnostics)
            await asyncio.sleep(0.005)

    problems = editor.run(republished())
    assert len(problems) == 1 and "reshape" in problems[0].message and problems[0].range.start.line == 6
