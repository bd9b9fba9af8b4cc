"""Incremental elaboration, for the language server: a block instance whose inputs are unchanged since an
earlier check reuses what its layers were made from then, instead of evaluating its declaration again.

What is reused is `Builder.block_values` of one block instance: its arguments with their defaults, its lets
and the value of each of its layers (op and block templates with their bound attributes). That is a pure
function of
  - the block's declaration as `block_values` reads it: its name, position, parameters, lets and layers,
    spans included (its `forward` and its inputs are not read there);
  - the instance's arguments and input sizes;
  - every name it reads from the top-level scope (parameters, lets, ops, blocks, builtins), with its value;
    of a block, only its signature (its name and parameters: all that `Block(...)` reads of it);
  - the limits.
An entry is reused only where all of these are equal, compared through `fingerprint`: exact types and values
(1, 1.0 and True differ, and so do 0.0 and -0.0). A value it cannot compare (a lambda, which holds its
scope) leaves the instance uncached; an instance whose evaluation raises stores nothing; an instance made
inside a comprehension (a block that reads its input sizes, first called there) is not cached, as its work
counts against that comprehension's limit `max_work`. A reused block
template names the current document's block of its name. Everything after is done afresh, as in a full
check: the layer instances (modules), the forwards and the passes, except that a node unchanged since the previous check keeps its shapes and MACs from then
(passes/carry.py; the BlockCache holds the document's Carry). A reused op template keeps its attributes'
object, so that its nodes' attributes compare at a glance.

Expressions are not parsed again either: syntax/expr.py caches parses by their text, spans relative to the
text and moved to where the text is now.
"""
from __future__ import annotations

from collections import Counter

import sympy

from .elaborate.build import Builder
from .elaborate.evaluate import _work
from .elaborate.scope import Scope
from .elaborate.values import BlockFn, BlockTemplate, Builtin, InputSizes, LoopForm, Mode, OpFn, OpTemplate
from .ops.registry import Attrs
from .passes.carry import Carry
from .syntax.spec import SpecDoc

KEEP_BUILDS = 2  # an entry not used in this many latest checks is dropped (bounds the cache)


class Uncachable(Exception):
    """A value `fingerprint` cannot compare across checks."""


def fingerprint(value):
    """A hashable value equal for two values exactly when they are interchangeable in elaboration."""
    kind = type(value)
    if value is None or value is Ellipsis or kind in (bool, int, str):
        return kind.__name__, value
    if kind is float:
        return "float", repr(value)  # tells -0.0 from 0.0
    if kind in (list, tuple):
        return kind.__name__, tuple(fingerprint(v) for v in value)
    if kind in (dict, Attrs):
        return kind.__name__, tuple((fingerprint(k), fingerprint(v)) for k, v in value.items())
    if kind is OpFn:
        return "op", value.op.name
    if kind is OpTemplate:
        return "op()", value.op.name, fingerprint(value.attrs), value.span
    if kind is BlockFn:
        return "block", signature(value.block)
    if kind is BlockTemplate:
        return "block()", signature(value.block), fingerprint(value.args), value.span
    if kind is InputSizes:
        return "sizes", value.name, fingerprint(value.shape)
    if kind in (Builtin, LoopForm, Mode):  # frozen dataclasses of names and module-level functions
        return kind.__name__, value
    if isinstance(value, sympy.Basic):  # a symbolic dim: immutable, equal by structure
        return "dim", value
    raise Uncachable(kind.__name__)


def signature(block) -> tuple:
    """What evaluating `Block(...)` reads of a block: its name and parameters (with their defaults' spans)."""
    return block.name, tuple(block.params)


def declaration(block) -> tuple:
    """What `block_values` reads of the block it evaluates."""
    return block.name, block.span, tuple(block.params), tuple(block.lets), tuple(block.layers)


class _Entry:
    def __init__(self, reads: tuple, defaults: dict, lets: list, layers: list, build: int):
        self.reads = reads        # ((name, fingerprint of its value), ...) read from the top-level scope
        self.defaults = defaults  # parameter -> value, for those the instance leaves to their default
        self.lets = lets          # (name, value) in order
        self.layers = layers      # each layer's value
        self.used = build


class BlockCache:
    """The entries of one document, kept across its checks, and its latest graph (`carry`, for the passes:
    passes/carry.py). `evaluated` and `reused` count, per block name, the instances of the latest check that
    were evaluated or reused."""

    def __init__(self) -> None:
        self.carry = Carry()
        self.blocks: dict[str, tuple[tuple, dict]] = {}  # block name -> (its declaration, {key: _Entry})
        self.limits: dict | None = None
        self.build = 0
        self.evaluated: Counter = Counter()
        self.reused: Counter = Counter()

    def builder(self, doc: SpecDoc, overrides: dict, limits: dict, assume: bool) -> Builder:
        """A Builder for `doc` that reads and fills this cache."""
        if limits != self.limits:
            self.blocks.clear()
            self.limits = dict(limits)
        self.build += 1
        self.evaluated, self.reused = Counter(), Counter()
        for name, (decl, entries) in list(self.blocks.items()):
            for key in [k for k, e in entries.items() if e.used <= self.build - KEEP_BUILDS - 1]:
                del entries[key]
            if not entries:
                del self.blocks[name]
        return _CachingBuilder(self, doc, overrides, limits, assume)


class _Reads(dict):
    """The top-level scope as the `vars` of one scope: each name read through it is recorded with its value."""

    def __init__(self, outer: Scope):
        super().__init__()
        self.outer = outer
        self.read: dict = {}

    def __contains__(self, name) -> bool:
        found, value = _find(self.outer, name)
        if found:
            self.read[name] = value
        return found

    def __getitem__(self, name):
        return self.read[name]

    def __iter__(self):  # the names for "did you mean" hints
        return iter(self.outer.all_names())


def _find(scope: Scope | None, name: str):
    """(found, value) of `name`, looked up as Scope.lookup does."""
    while scope is not None:
        if name in scope.vars:
            return True, scope.vars[name]
        scope = scope.parent
    return False, None


class _Stale(Exception):
    """A cached value names a block the document no longer has with that signature."""


class _CachingBuilder(Builder):
    def __init__(self, cache: BlockCache, *args):
        self.cache = cache
        self.same_decl: dict[int, bool] = {}  # id(block) -> whether the cache holds its declaration
        self.top_values: dict = {}  # (id(scope), name) -> fingerprint of its value (None: unreadable)
        super().__init__(*args)

    def block_values(self, block, args: dict, outer: Scope, sizes: dict | None):
        if _work.get() is not None:  # made inside a comprehension in `forward`: its work counts against that one's
            return super().block_values(block, args, outer, sizes)
        try:
            key = fingerprint(args), fingerprint(sizes or {})
            hash(key)
        except (Uncachable, TypeError):  # TypeError: an unhashable node in a default
            return super().block_values(block, args, outer, sizes)
        entry = self._entry(block, key, outer)
        if entry is not None:
            try:
                names = {p: args[p] if p in args else self._current(entry.defaults[p]) for p, _, _ in block.params}
                lets = [(n, self._current(v)) for n, v in entry.lets]
                layers = [self._current(v) for v in entry.layers]
            except _Stale:
                pass
            else:
                entry.used = self.cache.build
                self.cache.reused[block.name] += 1
                return names, _scope(block, outer, names, sizes, lets), iter(layers)
        self.cache.evaluated[block.name] += 1
        reads = _Reads(outer)
        watched = Scope(None, None, outer.what)
        watched.vars = reads
        names, scope, values = super().block_values(block, args, watched, sizes)
        lets = _let_values(block, scope)

        def store(layers: list) -> None:
            self._store(block, key, args, names, lets, layers, reads)

        if not block.layers:
            store([])
        return names, _scope(block, outer, names, sizes, lets), _storing(values, len(block.layers), store)

    def _store(self, block, key, args: dict, names: dict, lets: list, layers: list, reads: _Reads) -> None:
        defaults = {p: v for p, v in names.items() if p not in args}
        try:
            fingerprint((defaults, lets, layers))
            read = tuple((n, fingerprint(v)) for n, v in reads.read.items())
        except Uncachable:
            return
        decl = declaration(block)
        held = self.cache.blocks.get(block.name)
        if held is None or not self._same(block, held[0]):
            held = self.cache.blocks[block.name] = decl, {}
            self.same_decl[id(block)] = True
        held[1][key] = _Entry(read, defaults, lets, list(layers), self.cache.build)

    def _entry(self, block, key, outer: Scope) -> _Entry | None:
        held = self.cache.blocks.get(block.name)
        if held is None or not self._same(block, held[0]):
            return None
        entry = held[1].get(key)
        if entry is None or any(self._top(outer, name) != fp for name, fp in entry.reads):
            return None
        return entry

    def _same(self, block, decl: tuple) -> bool:
        if id(block) not in self.same_decl:
            self.same_decl[id(block)] = declaration(block) == decl
        return self.same_decl[id(block)]

    def _top(self, outer: Scope, name: str):
        key = id(outer), name
        if key not in self.top_values:
            found, value = _find(outer, name)
            try:
                self.top_values[key] = fingerprint(value) if found else None
            except Uncachable:
                self.top_values[key] = None
        return self.top_values[key]

    def _current(self, value):
        """A cached value for this check: fresh containers, and each block the document's block of its name. An
        op's attributes are data, never changed in place: they are shared, so that passes/carry.py finds the
        nodes of a reused layer unchanged at a glance."""
        kind = type(value)
        if kind in (list, tuple):
            return kind(self._current(v) for v in value)
        if kind in (dict, Attrs):
            return kind((k, self._current(v)) for k, v in value.items())
        if kind is OpTemplate:
            return OpTemplate(value.op, value.attrs, value.span)
        if kind is BlockFn:
            return BlockFn(self._block(value.block))
        if kind is BlockTemplate:
            return BlockTemplate(self._block(value.block), self._current(value.args), value.span)
        return value

    def _block(self, cached):
        block = self.doc.blocks.get(cached.name)
        if block is None or (block is not cached and signature(block) != signature(cached)):
            raise _Stale(cached.name)
        return block


def _storing(values, count: int, store):
    """The layer values as they are evaluated (the caller stops after the last); with the last, `store` them."""
    layers = []
    for value in values:
        layers.append(value)
        if len(layers) == count:
            store(layers)
        yield value


def _let_values(block, scope: Scope | None) -> list:
    """The lets' (name, value), read back from the scope `Builder._lets` made: one child scope per let."""
    out: list = []
    while scope is not None and len(out) < len(block.lets):
        out.append(next(iter(scope.vars.items())))
        scope = scope.parent
    return out[::-1]


def _scope(block, outer: Scope, names: dict, sizes: dict | None, lets: list) -> Scope:
    """The scope `Builder.block_values` makes, on `outer`, from the values."""
    scope = outer.child(names, f"arguments of {block.name}")
    if sizes:
        scope = scope.child(sizes, "input sizes")
    for name, value in lets:
        scope = scope.child({name: value}, "let")
    return scope
