"""Incremental elaboration, for the language server: a block instance whose inputs are unchanged since an
earlier check reuses what its layers were made from then, instead of evaluating its declaration again, and a
call of it whose inputs are unchanged replays what its forward made then, instead of running it again.

What is reused first is `Builder.block_values` of one block instance: its arguments with their defaults, its
lets and the value of each of its layers (op and block templates with their bound attributes). That is a pure
function of
  - the block's declaration as `block_values` reads it: its name, position, parameters, lets and layers,
    spans included (its `forward` and its inputs are not read there), compared exactly (`Exact`);
  - the instance's arguments and input sizes;
  - every name it reads from the top-level scope (parameters, lets, ops, blocks, builtins), with its value;
    of a block, only its signature (its name and parameters: all that `Block(...)` reads of it);
  - the limits.
An entry is reused only where all of these are equal, compared through `fingerprint`: exact types and values
(1, 1.0 and True differ, and so do 0.0 and -0.0). A value it cannot compare (a lambda, which holds its
scope) leaves the instance uncached; an instance whose evaluation raises stores nothing; an instance made
inside a comprehension (a block that reads its input sizes, first called there) is not cached, as its work
counts against that comprehension's limit `max_work`. A reused block template names the current document's
block of its name; a reused op template keeps its attributes' object, so that its nodes' attributes compare
at a glance. The layer instances (modules) are made afresh from the values.

Then a call of a block instance (`_Trace`): the graph nodes its forward made (those of the instances it
calls included), what it added to its modules' `calls`, the programs of the instances it called first, and
its result. That is a pure function of what `_CachingBuilder._trace_key` compares; a trace is replayed where
that is equal and the nodes' ids are free as then, its nodes copied with fresh shapes and rewired to the
new input tensors. Entry points (models, methods), instances made in comprehensions, blocks that read their
input sizes (made at their first call from the graph's shapes so far), and calls whose forwards make loops
(scans, decodes) are traced afresh each time; a call whose programs record `for` statements over layers is
replayed onto the same input tensors only. The ops are the registry's, fixed in a process.

The passes run afresh, except that a node unchanged since the previous check keeps its shapes and MACs from
then (passes/carry.py; the BlockCache holds the document's Carry).

Expressions are not parsed again either: syntax/expr.py caches parses by their text, spans relative to the
text and moved to where the text is now, and the moved tree by where the text is (unmoved text gets the same
tree, which the exact comparisons here see at a glance).
"""
from __future__ import annotations

from collections import Counter

import sympy

from .elaborate.build import Builder
from .elaborate.evaluate import _work
from .elaborate.scope import Scope
from .elaborate.values import BlockFn, BlockTemplate, Builtin, InputSizes, LoopForm, Mode, OpFn, OpTemplate
from .ir.graph import Meta, Node, Stmt, Tensor, flat_tensors
from .ops.registry import Attrs
from .syntax import ast as A
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


def signature(block) -> Exact:
    """What evaluating `Block(...)` reads of a block: its name and parameters (with their defaults' spans)."""
    return Exact((block.name, tuple(block.params)))


def declaration(block) -> Exact:
    """What `block_values` reads of the block it evaluates."""
    return Exact((block.name, block.span, tuple(block.params), tuple(block.lets), tuple(block.layers)))


class Exact:
    """Part of a spec (names, spans, expressions, in tuples and lists) compared exactly: expressions node by node,
    their constants with their types (the frozen AST's own `==` holds `100` and `1e2` equal). A tree that the
    parse cache gave again (syntax/expr.py) is the same object: compared at a glance."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other) -> bool:
        return type(other) is Exact and _same(self.value, other.value)

    def __hash__(self) -> int:  # a declaration's or signature's block name; `==` decides
        first = self.value[0] if type(self.value) is tuple and self.value else None
        return hash(first) if type(first) is str else 0


def _same(a, b) -> bool:
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if isinstance(a, A.Node):  # frozen dataclasses: their fields in the same order
        return all(map(_same, a.__dict__.values(), b.__dict__.values()))
    if kind is tuple or kind is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if kind is float:
        return repr(a) == repr(b)  # tells -0.0 from 0.0
    return a == b


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
        self.traces: dict[tuple, _Trace] = {}  # (instance path, its calls before) -> the trace of that call
        self.evaluated: Counter = Counter()
        self.reused: Counter = Counter()
        self.traced: Counter = Counter()
        self.replayed: Counter = Counter()

    def builder(self, doc: SpecDoc, overrides: dict, limits: dict, assume: bool) -> Builder:
        """A Builder for `doc` that reads and fills this cache."""
        if limits != self.limits:
            self.blocks.clear()
            self.traces.clear()
            self.limits = dict(limits)
        self.build += 1
        self.evaluated, self.reused, self.traced, self.replayed = Counter(), Counter(), Counter(), Counter()
        old = self.build - KEEP_BUILDS - 1
        for name, (decl, entries) in list(self.blocks.items()):
            for key in [k for k, e in entries.items() if e.used <= old]:
                del entries[key]
            if not entries:
                del self.blocks[name]
        for slot in [k for k, t in self.traces.items() if t.used <= old]:
            del self.traces[slot]
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
        self.top_values: dict = {}  # (id(scope), name) -> fingerprint of its value (None: not found)
        self.filling: list = []  # the block instances whose layers are being made, innermost last
        self.entry_of: dict[int, _Entry] = {}  # id(block instance) -> the entry its layers were made from
        self.bases: dict[str, str] = {}  # node id -> the base `node_id` made it from, until the node is added
        self.added: list = []  # (id, base or None: a layer's path) of each op node made, in order
        self.forward_reads: dict[int, tuple] = {}  # id(block) -> the top-level values its forward's names have
        super().__init__(*args)

    def _fill_block(self, module, outer: Scope, sizes: dict | None = None) -> None:
        self.filling.append(module)
        try:
            super()._fill_block(module, outer, sizes)
        finally:
            self.filling.pop()

    def block_values(self, block, args: dict, outer: Scope, sizes: dict | None):
        if _work.get() is not None:  # made inside a comprehension in `forward`: its work counts against that one's
            return super().block_values(block, args, outer, sizes)
        module = self.filling[-1] if self.filling else None
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
                self.entry_of[id(module)] = entry
                return names, _scope(block, outer, names, sizes, lets), iter(layers)
        self.cache.evaluated[block.name] += 1
        reads = _Reads(outer)
        watched = Scope(None, None, outer.what)
        watched.vars = reads
        names, scope, values = super().block_values(block, args, watched, sizes)
        lets = _let_values(block, scope)

        def store(layers: list) -> None:
            entry = self._store(block, key, args, names, lets, layers, reads)
            if entry is not None:
                self.entry_of[id(module)] = entry

        if not block.layers:
            store([])
        return names, _scope(block, outer, names, sizes, lets), _storing(values, len(block.layers), store)

    def _store(self, block, key, args: dict, names: dict, lets: list, layers: list, reads: _Reads) -> _Entry | None:
        defaults = {p: v for p, v in names.items() if p not in args}
        try:
            fingerprint((defaults, lets, layers))
            read = tuple((n, fingerprint(v)) for n, v in reads.read.items())
        except Uncachable:
            return None
        decl = declaration(block)
        held = self.cache.blocks.get(block.name)
        if held is None or not self._same(block, held[0]):
            held = self.cache.blocks[block.name] = decl, {}
            self.same_decl[id(block)] = True
        entry = held[1][key] = _Entry(read, defaults, lets, list(layers), self.cache.build)
        return entry

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
                self.top_values[key] = object()  # equal to nothing
        return self.top_values[key]

    # --- forwards: a block instance's call traced, or replayed from an earlier check's trace
    def node_id(self, base: str) -> str:
        nid = super().node_id(base)
        self.bases[nid] = base
        return nid

    def _add_node(self, nid, *args) -> None:
        super()._add_node(nid, *args)
        self.added.append((nid, self.bases.pop(nid, None)))

    def run_block(self, module, args: list, call_span):
        read = self._trace_key(module, args)
        if read is None:
            return super().run_block(module, args, call_span)
        key, walk = read
        slot = module.path, len(module.calls)
        trace = self.cache.traces.get(slot)
        if trace is not None and trace.key == key:
            result = self._replay(trace, walk, args)
            if result is not None:
                self.cache.replayed[module.block.name] += 1
                return result
        self.cache.traced[module.block.name] += 1
        first, size, before = len(self.added), len(self.graph), [len(m.calls) for m in walk]
        result = super().run_block(module, args, call_span)
        made = self.added[first:]
        if len(self.graph) - size == len(made):  # else it made loops (their nodes are added otherwise)
            trace = _record(key, args, walk, before, made, result, self.graph, self.cache.build)
            if trace is not None:
                self.cache.traces[slot] = trace
        return result

    def _trace_key(self, module, args: list):
        """(what the call of a block instance with `args` reads, the instance's modules), or None where it is
        not traced for reuse. The call is a pure function of
          - the instance's modules: each block instance among them made from the same cache entry (so its
            layers are those of then, arguments and lets included), its inputs and `forward` (spans included)
            the same, and the top-level values of the names its forward reads; each module called as often
            before;
          - the instance's path and span, the depth it runs at, and its input tensors: where each of them first
            appears among them (they are replayed rewired to the new ones).
        A model or method (an entry point), an instance made in a comprehension (its work counts there) or one
        whose modules include a block that reads its input sizes (made at its first call from the shapes of
        the graph so far) is traced anew each time."""
        block = module.block
        if not module.path or self.doc.blocks.get(block.name) is not block or _work.get() is not None:
            return None
        pattern = _pattern(args)
        if pattern is None:
            return None
        walk = list(module.walk())
        key: list = [module.path, module.span, self.depth, pattern]
        for m in walk:
            if id(m) in self.unfilled:
                return None
            key.append((m.kind, len(m.calls)))
            if m.kind == "block":
                entry = self.entry_of.get(id(m))
                if entry is None:
                    return None
                key += entry, Exact((m.block.inputs, m.block.forward)), self._forward_reads(m.block)
        return tuple(key), walk

    def _forward_reads(self, block) -> tuple:
        """The top-level value of each name in the block's forward (those a local name hides too)."""
        if id(block) not in self.forward_reads:
            outer = self._outer(block)
            self.forward_reads[id(block)] = tuple((n, self._top(outer, n)) for n in _names(block.forward))
        return self.forward_reads[id(block)]

    def _replay(self, trace: _Trace, walk: list, args: list):
        """The call's result, its nodes and module calls made as `trace` recorded them, the input tensors of then
        replaced by `args`; None (nothing made) where the trace would not make the same node ids now, or would
        pass the limit `max_nodes`."""
        g, taken = self.graph.g, set()
        if len(self.graph) + len(trace.nodes) > self.limits["max_nodes"]:
            return None
        for node, base, _ in trace.nodes:
            if node.id in g or node.id in taken or (base is not None and _fresh(base, g, taken) != node.id):
                return None
            taken.add(node.id)
        tensors = {old: new for old, new in zip(flat_tensors(trace.args), flat_tensors(args)) if old != new}
        if tensors and trace.loops:  # a `for` statement's record holds tensors throughout: replayed as it is only
            return None

        def rewired(value):
            kind = type(value)
            if kind is Tensor:
                return tensors.get(value, value)
            if kind is list or kind is tuple:
                return kind(rewired(v) for v in value)
            return value

        made, edges = [], []
        for node, base, sources in trace.nodes:  # as Graph.add makes them, the model's tags to come (tag_nodes)
            new = object.__new__(Node)
            new.__dict__.update(node.__dict__)
            new.model = new.method = None
            new.meta = Meta()
            if tensors:
                new.inputs = rewired(node.inputs)
                sources = [tensors.get(t, t) for t in sources]
            else:
                new.inputs = [list(v) if type(v) is list else v for v in node.inputs]
            made.append((new.id, {"node": new}))
            edges += [(t.node, new.id) for t in sources]
            self.added.append((new.id, base))
        g.add_nodes_from(made)
        g.add_edges_from(edges)
        for m, calls in zip(walk, trace.calls):
            if not calls:
                continue
            if m.kind == "block":  # the traces of its calls, inside this one, are kept too
                for k in range(len(m.calls), len(m.calls) + len(calls)):
                    if (m.path, k) in self.cache.traces:
                        self.cache.traces[m.path, k].used = self.cache.build
            m.calls.extend(map(rewired, calls) if tensors else calls)
        for index, program, inputs, output in trace.firsts:
            m = walk[index]
            if tensors:  # statements are never changed once their forward has run: shared where they are the same
                program = [Stmt(st.kind, st.callee, rewired(st.args), rewired(st.result), st.span, st.target,
                                st.options) for st in program]
            m.program, m.inputs, m.output = list(program), rewired(inputs), rewired(output)
        trace.used = self.cache.build
        return rewired(trace.result)

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


class _Trace:
    """One call of a block instance as elaboration made it: what it read (`key`, see
    _CachingBuilder._trace_key) and what it made, for a later check to replay."""

    def __init__(self, key: tuple, args: list, nodes: list, calls: list, firsts: list, result, build: int,
                 loops: bool):
        self.key = key
        self.args = args      # its input tensors
        self.nodes = nodes    # (Node, the base of its id or None: a layer's path, its input tensors), in order
        self.calls = calls    # for each of the instance's modules (Module.walk order): what it added to `calls`
        self.firsts = firsts  # (walk index, program, inputs, output) of each block instance first called in it
        self.result = result
        self.used = build
        self.loops = loops    # whether a program records `for` statements (replayed only onto the same inputs)


def _record(key: tuple, args: list, walk: list, before: list, made: list, result, graph, build: int):
    """The trace of a call that made the op nodes `made` (id, base); None where it cannot be replayed: its
    forwards record loops other than `for` over layers, or it reads a tensor that is neither its input nor its
    own."""
    ids = {nid for nid, _ in made}
    outside = set(flat_tensors(args))
    nodes = [(graph.node(nid), base, list(flat_tensors(graph.node(nid).inputs))) for nid, base in made]
    calls = [m.calls[k:] for m, k in zip(walk, before)]
    firsts = [(i, list(m.program), list(m.inputs), m.output)
              for i, (m, k) in enumerate(zip(walk, before)) if m.kind == "block" and k == 0 and m.calls]
    read = [*(sources for _, _, sources in nodes), calls, result,
            *(v for _, program, inputs, output in firsts for v in (inputs, output, *(s.args for s in program),
                                                                  *(s.result for s in program)))]
    if any(t.node not in ids and t not in outside for t in flat_tensors(read)):
        return None
    kinds = {st.kind for _, program, _, _ in firsts for st in program}
    if not kinds <= {"module", "op", "for"}:
        return None
    return _Trace(key, list(args), nodes, calls, firsts, result, build, "for" in kinds)


def _pattern(args: list):
    """The structure of a call's inputs, each tensor by where it first appears; None if one is not a tensor."""
    first: dict = {}

    def shape(value):
        kind = type(value)
        if kind is Tensor:
            return first.setdefault(value, len(first))
        if kind is list or kind is tuple:
            return kind.__name__, tuple(map(shape, value))
        raise Uncachable(kind.__name__)

    try:
        return shape(list(args))
    except Uncachable:
        return None


def _fresh(base: str, graph, taken: set) -> str:
    """The id Graph.unique_id(base) gives where the ids `taken` are in `graph` too."""
    if base not in graph and base not in taken:
        return base
    k = 1
    while f"{base}_{k}" in graph or f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _names(tree) -> tuple:
    """The names an expression or program mentions, once each."""
    names: dict = {}
    todo = [tree]
    while todo:
        item = todo.pop()
        if isinstance(item, A.Node):
            if type(item) is A.Name:
                names[item.id] = None
            todo.extend(item.__dict__.values())
        elif isinstance(item, (tuple, list)):
            todo.extend(item)
    return tuple(names)
