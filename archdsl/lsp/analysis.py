"""Check a document's text as the CLI checks a file: every located error and warning, cached by text.

A document is read and elaborated with shape errors collected (as `draw --allow-errors` does), so a spec
with shape errors still has a graph for hover. Unchanged text is not checked again (an LRU keyed by path
and text); unchanged expressions are not parsed again (syntax/expr.py caches parses by their text and
place), the block instances of an unchanged block are not evaluated again and their unchanged calls not traced
again (archdsl/incremental.py: one BlockCache per document), and an unchanged node keeps the shapes and MACs
of the document's previous check (passes/carry.py: the BlockCache's Carry).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field

from .. import pipeline
from ..errors import ArchDSLError, Span
from ..incremental import BlockCache
from ..limits import resolve
from ..syntax.spec import SpecDoc
from .index import Index


@dataclass(frozen=True)
class Problem:
    severity: str            # 'error' | 'warning'
    code: str
    message: str
    span: Span | None
    hint: str | None = None
    notes: tuple = ()

    @property
    def text(self) -> str:
        """The message with its notes and hint, as the CLI renders them below the caret."""
        return "\n".join([self.message, *(f"note: {n}" for n in self.notes)]
                         + ([f"hint: {self.hint}"] if self.hint else []))


@dataclass
class Analysis:
    text: str
    doc: SpecDoc | None = None
    result: pipeline.Elaborated | None = None
    problems: list = field(default_factory=list)
    index: Index | None = None

    @property
    def graph(self):
        return self.result.graph if self.result is not None else None


CACHE_SIZE = 32
_cache: OrderedDict = OrderedDict()
_blocks: OrderedDict = OrderedDict()  # path -> its BlockCache, for the CACHE_SIZE latest documents


def analyze(text: str, path: str, incremental: bool = True) -> Analysis:
    """The checked document; cached, so an undo or a re-request costs nothing. `incremental`: reuse the
    unchanged block instances of the document's earlier checks and the unchanged nodes' pass results of its
    previous check (the result is the same)."""
    key = (path, text)
    if key in _cache:
        out, stamps = _cache[key]
        if stamps is not None and stamps == _stamps(f for f, _, _ in stamps):  # its imported files unchanged
            _cache.move_to_end(key)
            return out
    out = _check(text, path, block_cache(path) if incremental else None)
    # a document that could not be read may name files that appear later: not kept
    _cache[key] = (out, _stamps(out.doc.origins) if out.doc is not None else None)
    _cache.move_to_end(key)
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return out


def _stamps(files) -> tuple:
    """(file, modification time, size) of each file, (file, None, None) where it cannot be read."""
    out = []
    for f in sorted(files):
        try:
            st = os.stat(f)
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, None, None))
    return tuple(out)


def block_cache(path: str) -> BlockCache:
    """The BlockCache of the document at `path`."""
    if path not in _blocks:
        _blocks[path] = BlockCache()
        if len(_blocks) > CACHE_SIZE:
            _blocks.popitem(last=False)
    _blocks.move_to_end(path)
    return _blocks[path]


def _check(text: str, path: str, blocks: BlockCache | None = None) -> Analysis:
    out = Analysis(text)
    limits = resolve(None)
    try:
        out.doc = pipeline.read(path, limits, text=text)
        out.index = Index(out.doc)
        if out.doc.library:  # a file of blocks only: read and parsed, nothing to elaborate
            return out
        out.result = pipeline.elaborate(out.doc, {}, limits, collect_errors=True, blocks=blocks,
                                        carry=blocks.carry if blocks is not None else None)
    except ArchDSLError as err:
        out.problems.append(_problem(err))
    except Exception as exc:  # a bug in archdsl, never the user's: shown, and the server goes on
        out.problems.append(Problem("error", "internal", f"internal error in archdsl ({type(exc).__name__}: "
                                    f"{exc}); please report it with the spec", None))
    if out.result is not None:
        out.problems += [_problem(err) for err in out.result.errors]
        out.problems += [Problem("warning", code, message, span) for code, span, message in out.result.warnings]
    return out


def _problem(err: ArchDSLError) -> Problem:
    return Problem("error", err.code, err.message, err.span, err.hint, err.notes)
