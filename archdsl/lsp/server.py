"""The language server on pygls: diagnostics as you type, hover, definitions, completion, formatting,
document symbols and a "show diagram" command. Checks run on one worker thread, so the server answers
while a spec elaborates; every request reads the analysis of the document's current text (cached)."""
from __future__ import annotations

import asyncio
import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types as T
from pygls import uris
from pygls.lsp.server import LanguageServer

from ..errors import ArchDSLError
from ..limits import resolve
from ..ops.registry import REGISTRY, signature
from ..pipeline import limited
from .analysis import Analysis, analyze
from .index import Def, Index
from .info import hover as hover_text, op_doc
from .positions import Lines

DEBOUNCE_S = 0.2      # an edit within this time of the last one waits this long for the next
COLLECT_IDLE_S = 1.0  # Python's garbage collector runs after a pause in editing this long,
COLLECT_EVERY = 10    # or after this many checks without one (each leaves a graph's cycles: tens of ms)
SHOW_DIAGRAM = "archdsl.showDiagram"
SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning}
SYMBOL_KIND = {"model": T.SymbolKind.Module, "block": T.SymbolKind.Class, "objective": T.SymbolKind.Function,
               "method": T.SymbolKind.Method, "layer": T.SymbolKind.Field}
COMPLETION_KIND = {"layer": T.CompletionItemKind.Field, "var": T.CompletionItemKind.Variable,
                   "input": T.CompletionItemKind.Variable, "let": T.CompletionItemKind.Constant,
                   "param": T.CompletionItemKind.Constant, "block param": T.CompletionItemKind.Constant,
                   "block": T.CompletionItemKind.Class, "model": T.CompletionItemKind.Module}


class SpecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archdsl", "0.1.0", text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archdsl-check")
        self.debounce = DEBOUNCE_S
        self.incremental = True  # unchanged blocks are not evaluated again (off: for measuring the gain)
        self.pending: dict[str, asyncio.Task] = {}
        self.last_edit: dict[str, float] = {}
        self.last_index: dict[str, Index] = {}  # the last index that parsed, for completion in broken text
        self.uncollected = 0  # checks since the garbage collector last ran
        self.collection: asyncio.TimerHandle | None = None

    # --- documents and their analyses
    def path_of(self, uri: str) -> str:
        return uris.to_fs_path(uri) or uri

    def lines(self, text: str) -> Lines:
        return Lines(text, str(self.server_capabilities.position_encoding or "utf-16"))

    def text_of(self, uri: str) -> str:
        """The editor's text of an open document; a request about another one finds an empty document."""
        doc = self.workspace.text_documents.get(uri)
        return doc.source if doc is not None else ""

    async def analysis(self, uri: str) -> Analysis:
        text = self.text_of(uri)
        result = await asyncio.get_running_loop().run_in_executor(self.checker, analyze, text, self.path_of(uri),
                                                                    self.incremental)
        if result.index is not None:
            self.last_index[uri] = result.index
        return result

    def schedule(self, uri: str) -> None:
        """Check the document soon: at once after a pause in editing, else after the debounce delay."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wait = self.debounce if now - self.last_edit.get(uri, -1e9) < self.debounce else 0.0
        self.last_edit[uri] = now
        old = self.pending.pop(uri, None)
        if old is not None:
            old.cancel()
        self.pending[uri] = asyncio.ensure_future(self._check(uri, wait))

    async def _check(self, uri: str, wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        doc = self.workspace.text_documents.get(uri)
        if doc is None:  # closed meanwhile
            return
        version, text = doc.version, doc.source
        result = await self.analysis(uri)
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:  # closed or edited meanwhile: a newer check follows
            return
        self.publish(uri, version, text, result)
        self.collect_soon()

    def collect_soon(self) -> None:
        """Python's garbage collector is off (serve()): run on its own, it scans every object the server holds
        (the cached analyses' graphs) every few checks, up to hundreds of ms within a check. It runs on the
        checking thread instead, after the diagnostics are out: after a pause in editing, or after
        COLLECT_EVERY checks (what they leave is bounded)."""
        self.uncollected += 1
        if self.collection is not None:
            self.collection.cancel()
        wait = 0.0 if self.uncollected >= COLLECT_EVERY else COLLECT_IDLE_S
        self.collection = asyncio.get_running_loop().call_later(wait, self.collect)

    def collect(self) -> None:
        self.uncollected, self.collection = 0, None
        asyncio.get_running_loop().run_in_executor(self.checker, gc.collect)

    def publish(self, uri: str, version: int | None, text: str, result: Analysis) -> None:
        lines, path = self.lines(text), self.path_of(uri)
        out = []
        for p in result.problems:
            span, message = p.span, p.text
            if span is not None and span.file != path:  # in an imported file: shown at its import, with its place
                span, message = imported_at(result, path, span.file), f"{span}: {message}"
            start, end = lines.range(span)
            out.append(T.Diagnostic(T.Range(T.Position(*start), T.Position(*end)), message, SEVERITY[p.severity],
                                    p.code, source="archdsl"))
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri, out, version))


server = SpecServer()


def _range(lines: Lines, span) -> T.Range:
    start, end = lines.range(span)
    return T.Range(T.Position(*start), T.Position(*end))


def imported_at(result: Analysis, path: str, file: str):
    """The `imports:` entry of the document through which it reaches `file` (else its first entry, else None)."""
    from ..syntax.spec import parse_spec

    if result.doc is not None and file in result.doc.origins:
        return result.doc.origins[file]
    try:  # the imports did not resolve: the entries as written
        entries = result.doc.imports if result.doc is not None else parse_spec(result.text, path).imports
    except ArchDSLError:
        return None
    here = os.path.dirname(path)
    direct = [e.span for e in entries if os.path.normpath(os.path.join(here, e.path)) == file]
    return (direct or [e.span for e in entries] or [None])[0]


def file_text(path: str) -> str | None:
    """The text of an imported spec file (bounded like any spec read), or None where it cannot be read."""
    from ..syntax.spec import read_text

    try:
        return read_text(path)
    except ArchDSLError:
        return None


async def _item_at(ls: SpecServer, uri: str, pos: T.Position):
    """(analysis, the definition or use under the cursor, the lines)."""
    result = await ls.analysis(uri)
    lines = ls.lines(result.text)
    if result.index is None:
        return result, None, lines
    return result, result.index.at(*lines.span_point(pos.line, pos.character)), lines


@server.feature(T.INITIALIZE)
def initialize(ls: SpecServer, params: T.InitializeParams) -> None:
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("debounce_ms"), (int, float)):
        ls.debounce = max(0.0, options["debounce_ms"] / 1000)
    if isinstance(options, dict) and isinstance(options.get("incremental"), bool):
        ls.incremental = options["incremental"]


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: SpecServer, params: T.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: SpecServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: SpecServer, params: T.DidSaveTextDocumentParams) -> None:
    """A saved file may be a block library that other open specs import (imports read the file on disk): check
    them again; those that import nothing that changed come from the analysis cache at once."""
    for uri in list(ls.workspace.text_documents):
        if uri != params.text_document.uri:
            ls.schedule(uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: SpecServer, params: T.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.last_index.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri, []))


@server.feature(T.TEXT_DOCUMENT_HOVER)
async def hover(ls: SpecServer, params: T.HoverParams) -> T.Hover | None:
    result, item, lines = await _item_at(ls, params.text_document.uri, params.position)
    text = hover_text(result.index, result.graph, item) if item is not None else None
    if not text:
        return None
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text), _range(lines, item.span))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
async def definition(ls: SpecServer, params: T.DefinitionParams) -> T.Location | None:
    result, item, lines = await _item_at(ls, params.text_document.uri, params.position)
    target = item if isinstance(item, Def) or item is None else result.index.resolve(item)
    if target is None:
        return None
    if target.span.file != result.doc.file:  # an imported block: in its own file
        other = file_text(target.span.file)
        return T.Location(uris.from_fs_path(target.span.file), _range(ls.lines(other), target.span)) \
            if other is not None else None
    return T.Location(params.text_document.uri, _range(lines, target.span))


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[">", "(", " "]))
async def completion(ls: SpecServer, params: T.CompletionParams) -> T.CompletionList:
    uri = params.text_document.uri
    result = await ls.analysis(uri)
    index = result.index or ls.last_index.get(uri)
    items = {}
    if index is not None:
        line = ls.lines(result.text).span_point(params.position.line, params.position.character)[0]
        for d in index.visible(index.owner_at(line)):
            items.setdefault(d.name, T.CompletionItem(d.name, kind=COMPLETION_KIND.get(d.kind), detail=d.kind))
    for op in REGISTRY.all():
        items.setdefault(op.name, T.CompletionItem(op.name, kind=T.CompletionItemKind.Function,
                                                   detail=signature(op),
                                                   documentation=T.MarkupContent(T.MarkupKind.Markdown, op_doc(op))))
    return T.CompletionList(is_incomplete=False, items=list(items.values()))


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
async def formatting(ls: SpecServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    from ..syntax.fmt import format_text

    uri = params.text_document.uri
    text, path = ls.text_of(uri), ls.path_of(uri)

    def run() -> str:
        with limited(resolve(None), path):
            return format_text(text, path)

    try:
        formatted = await asyncio.get_running_loop().run_in_executor(ls.checker, run)
    except ArchDSLError:  # a spec that does not parse (the diagnostics show why), or one fmt cannot format
        return None
    if formatted == text:
        return []
    lines = ls.lines(text)
    return [T.TextEdit(T.Range(T.Position(0, 0), T.Position(*lines.end())), formatted)]


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def symbols(ls: SpecServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    result = await ls.analysis(params.text_document.uri)
    if result.index is None:
        return []
    lines, index, doc = ls.lines(result.text), result.index, result.doc

    def symbol(d: Def, children=()) -> T.DocumentSymbol:
        r = _range(lines, d.span)
        return T.DocumentSymbol(d.name, SYMBOL_KIND[d.kind], r, r, detail=d.kind, children=list(children))

    def members(owner) -> list:
        return [symbol(d) for d in index.defs if d.owner is owner and d.kind in ("layer", "method")]

    out = [symbol(d, members(index.defined(d))) for d in index.defs if d.kind in ("block", "model", "objective")
           and d.span.file == doc.file]
    if not doc.multi_model and not doc.library:  # the spec is its model
        model = next(iter(doc.models.values()))
        out.insert(0, symbol(Def("model", doc.name, model.span, None), members(model)))
    return out


@server.feature(T.TEXT_DOCUMENT_CODE_LENS)
def code_lens(ls: SpecServer, params: T.CodeLensParams) -> list[T.CodeLens]:
    here = T.Range(T.Position(0, 0), T.Position(0, 0))
    return [T.CodeLens(here, T.Command("Show diagram", SHOW_DIAGRAM, arguments=[params.text_document.uri]))]


@server.command(SHOW_DIAGRAM)
async def show_diagram(ls: SpecServer, *args) -> str | None:
    """Write the diagram of the document's current text beside its file, as SPEC.svg; return its path."""
    from ..api import Spec

    uri = args[0] if args and isinstance(args[0], str) else None
    if uri is None or uri not in ls.workspace.text_documents or not uri.startswith("file:"):
        ls.window_show_message(T.ShowMessageParams(T.MessageType.Error, f"{SHOW_DIAGRAM}: give the URI of an open "
                                                   "spec file"))
        return None
    result = await ls.analysis(uri)
    if result.doc is None:
        ls.window_show_message(T.ShowMessageParams(T.MessageType.Error, "the spec does not parse: see its errors"))
        return None
    out = str(Path(ls.path_of(uri)).with_suffix(".svg"))
    try:
        await asyncio.get_running_loop().run_in_executor(
            ls.checker, lambda: Spec(result.doc).draw(out, allow_errors=True))
    except (ArchDSLError, OSError) as err:
        message = err.render() if isinstance(err, ArchDSLError) else str(err)
        ls.window_show_message(T.ShowMessageParams(T.MessageType.Error, message))
        return None
    ls.window_show_message(T.ShowMessageParams(T.MessageType.Info, f"wrote {out}"))
    return out


def serve() -> None:
    """Serve over stdin and stdout; stray prints go to stderr, never into the protocol. The garbage collector
    runs between checks (SpecServer.collect_soon); what is loaded by now (modules) is never scanned again."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    gc.collect()
    gc.freeze()
    gc.disable()
    server.start_io(stdin, stdout)
