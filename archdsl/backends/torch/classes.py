"""One class per spec block: its constructor, its layers written from the declaration, and its forward.

The constructor takes the inferred input sizes (`in_channels`) and then the block's parameters with the
spec's defaults. A layer's arguments are the expressions the spec wrote (`planes * 4`) where they use the
block's parameters, and plain numbers where they do not; the sizes an op infers from its input come from
the size tracer (sizes.py). The lowering (`init` of lowerings/) is run with the real values and twice with
sentinels in the places that vary (numbers, strings, bools, tuples); each sentinel in its output is then
replaced by its expression. Every instance of the block must come out as the same text, and every expression
is checked against every instance, so the class is right for all of them. Where instances differ by a
condition the spec wrote, the class says so: `a if c else b` for a let or a layer chosen by it, a list built
item by item (`if c: layers.append(...)`) where an item is there in some instances only, `if c:` in forward;
a list made by a comprehension stays a comprehension, its layers written with the loop's names where they
differ by them (`2 if j == 0 else 1`, a lambda called with them written out), and around a condition of its
element where their sizes differ too (`in_channels if j == 0 else oup`).

The attributes of forward's inline ops are written the same way, as the attributes the class keeps
(`x.reshape(x.shape[0], 2, self.branch, self.h, self.w)`, a list whole where the lowering takes it as one:
`y.permute(self.order)`).

Where the instances do not come out as one text, they are tried again with the sizes of elementwise ops taken
from the operand the block's parameters give (a shortcut `x` has its input's size in some instances only:
sizes.py's given_first). When they still cannot share one text, each group of alike instances gets its own
class, as a last resort; no zoo spec needs it (tests/test_codegen.py's test_zoo_source_is_tidy).
"""
from __future__ import annotations

import ast
import io
import itertools
import tokenize
from dataclasses import dataclass, field


from ...elaborate.evaluate import Evaluator
from ...errors import ArchDSLError
from ...ir.graph import Module
from ...names import class_name
from ...ops.indexing import TIED
from ...ops.registry import Attrs
from ...syntax import ast as A
from ...syntax.spec import REQUIRED
from .containers import called_whole, container_class, container_source, named, spread
from .forward import INDENT, ForwardWriter, arg_names, overwrites_input
from .lowerings import lowering
from .pysource import (Unrenderable, bound_by, docstring, expression, input_size, iteration, literal,
                       names_in, sympy_source, targets_source)
from .sizes import (Declarations, SizeTracer, block_scope, bound_args, inlined_calls, is_int, let_list,
                    own_names, size_symbol, truth_in)

SENTINEL = 790_000_000_001  # sentinels count up from here; no real size is this large


@dataclass
class BlockClass:
    name: str
    instances: list
    sizes: dict            # (input index, axis) -> constructor parameter name, in signature order
    defaults: dict         # block parameter -> default value (absent: required)
    params: list = field(default_factory=list)  # the block parameters the class takes (those it uses)
    source: str = ""


@dataclass
class Context:
    """What rendering one class collects: size parameters, lets and parameters it needs."""

    block: object
    instances: list
    sizes: dict = field(default_factory=dict)
    lets: set = field(default_factory=set)       # lets used in __init__
    stored: set = field(default_factory=set)     # parameters forward reads as `self.name`
    params: list = field(default_factory=list)   # the block parameters the class uses
    sized: bool = True                           # takes input sizes (a model does not: its sizes are fixed)
    loop: dict = field(default_factory=dict)     # a comprehension's names, written as names, in its element


class ClassWriter:
    def __init__(self, gen):
        self.gen = gen
        self.decls = Declarations(gen.graph)
        self.tracer = SizeTracer(gen.graph, self.decls)
        self.arg_names: dict = {}  # id(block) -> the tensor names its calls were written with
        self.whole = called_whole(gen.graph)  # the layer lists called as a whole (`_Chain<n>` if n inputs)

    # --- classes
    def block_classes(self, instances: list) -> list[BlockClass]:
        rendered = self._render(instances)
        if rendered is None:  # a shortcut's size is its input's in some instances only: the layers' then
            self.tracer.given_first = True
            try:
                rendered = self._render(instances)
            finally:
                self.tracer.given_first = False
        if rendered is not None:
            return [self._finish(instances, *rendered)]
        groups: dict = {}
        for m in instances:
            body = self._render([m])
            if body is None:
                raise RuntimeError(f"no class can be written for `{m.path}`")
            groups.setdefault(_key(body), (body, []))[1].append(m)
        return [self._finish(ms, *body) for body, ms in groups.values()]

    def model_class(self, root: Module, uses: list[str]) -> BlockClass:
        ctx, init, forward = self._render([root], sized=False)
        preferred = class_name(root.name)
        for method, view in root.methods.items():
            forward = forward + [""] + ForwardWriter(self.gen, view, method).write()
        name = self.gen.fresh(preferred + "Model" if preferred in self.gen.taken else preferred)
        used = [f"        self.{u} = {self.gen.model_classes[u]}() if {u} is None else {u}"
                f"{self.gen.where(span.line)}" for u, span in root.block.uses]
        cls = BlockClass(name, [root], {}, {})
        doc = root.block.doc or self.gen.spec_name
        cls.source = _class_source(name, docstring(doc, "    "), ["self"] + [f"{u}=None" for u in uses],
                                   used + init, forward)
        return cls

    def _finish(self, instances: list, ctx: Context, init: list, forward: list) -> BlockClass:
        block = instances[0].block
        name = self.gen.fresh(class_name(block.name))
        defaults = _defaults(instances[0])
        cls = BlockClass(name, instances, dict(sorted(ctx.sizes.items())), defaults, ctx.params)
        signature = ["self"] + list(cls.sizes.values())
        signature += [p if p not in defaults else f"{p}={literal(defaults[p])}" for p in cls.params]
        doc = f"The block `{block.name}` ({self.gen.file}, line {block.span.line})."
        if block.doc:
            doc = block.doc.strip("\n") + "\n\n" + doc
        cls.source = _class_source(name, docstring(doc, "    "), signature, init, forward)
        return cls

    def _render(self, instances: list, sized: bool = True):
        """(context, __init__ lines, forward lines) shared by all `instances`, or None."""
        block = instances[0].block
        ctx = Context(block, instances, sized=sized)
        try:
            layers = [line for lname, node, _ in block.layers for line in self._layer(ctx, lname, node)]
            forward = self._forward(ctx)
        except Unrenderable:
            return None
        if forward is None:
            return None
        first, lets = instances[0], []
        stored = [f"{INDENT}self.{n} = {n}" for n in sorted(ctx.stored)]
        needed = _names_read(stored + layers + _ties(first))
        for n, node, _ in reversed(block.lets):  # a let may use earlier ones, which then are needed too
            if n in ctx.lets and n in needed:
                line = f"{INDENT}{n} = {expression(node, lambda x: self._init_name(ctx, first, x))}"
                lets.insert(0, line)
                needed |= _names_read([line])
        # what was tried and not written (a size, a parameter) is no argument of the class
        ctx.sizes = {k: v for k, v in ctx.sizes.items() if v in needed}
        ctx.params = [p for p, _, _ in block.params if p in needed]
        return ctx, lets + stored + layers + _ties(first), forward

    # --- layers
    def _layer(self, ctx: Context, lname: str, node) -> list[str]:
        present = [m for m in ctx.instances if lname in m.children and m.children[lname].calls]
        if not present:
            return []
        pairs = [(m, m.children[lname]) for m in present]
        test = None
        if len(present) < len(ctx.instances):
            if not (isinstance(node, A.Cond) and node.orelse is None):
                raise Unrenderable(f"the layer {lname} is present in some instances only")
            test = self._test(ctx, node.test, present, self._init_name)
            node = node.body
        line = ctx.instances[0].children.get(lname, present[0].children[lname]).span.line
        where = self.gen.where(line)
        if test is None and len({self._ctor(ctx, m, c, 2) for m, c in pairs}) > 1:
            listed = self._listed(ctx, pairs, node, lambda conditional: 3 if conditional else 2)
            if listed is not None and any(t is not None for _, t in listed):
                return self._list_statements(ctx, lname, pairs[0][1], listed, where)
        text = self._source(ctx, pairs, node, 2)
        if test is not None:
            text = f"{text} if {test} else None"
        first, nl, rest = text.partition("\n")
        return [f"{INDENT}self.{lname} = {first}{where}{nl}{rest}"]

    def _source(self, ctx: Context, pairs: list, node, indent: int) -> str:
        """The constructor source of the layers `pairs` ((instance, layer) of each instance), declared by
        `node`: one text for all, or written with the conditions that tell the instances apart: the branches of
        `a if c else b`, the items of a list present in some instances only, and the block's conditions."""
        comprehension = self._comprehension(ctx, pairs, node, indent)
        if comprehension is not None:
            return comprehension
        texts = {self._ctor(ctx, m, c, indent) for m, c in pairs}
        if len(texts) == 1:
            return texts.pop()
        node = _let_of(ctx.block, node)
        if isinstance(node, A.Cond) and node.orelse is not None:
            return self._split(ctx, pairs, node.test, (node.body, node.orelse), indent, nested=True)
        listed = self._listed(ctx, pairs, node, lambda conditional: indent + 1)
        if listed is not None:
            items = [src if t is None else f"*([{src}] if {t} else [])" for src, t in listed]
            return container_source(pairs[0][1], items, indent, self.whole)
        for test in _block_tests(ctx.block):
            try:
                return self._split(ctx, pairs, test, (node, node), indent, nested=False)
            except Unrenderable:
                continue
        raise Unrenderable("the instances of a layer differ")

    def _comprehension(self, ctx: Context, pairs: list, node, indent: int) -> str | None:
        """`nn.Sequential(*[Layer(d, h) for _ in range(n)])` for a list the spec made by a comprehension of
        alike layers (an OrderedDict of (key, layer) for a map). Layers that differ through the loop's names
        are written with them (`Layer(d, 2 if j == 0 else 1) for j in range(n)`), and by a condition of the
        element where their sizes differ too (`in_channels if j == 0 else oup`); None where neither is all."""
        node = _let_of(ctx.block, node)
        if not isinstance(node, (A.ListComp, A.DictComp)) or len(node.fors) != 1 or node.fors[0].conds \
                or any(c.kind != "seq" or not c.children for _, c in pairs) or len({container_class(c, self.whole) for _, c in pairs}) > 1:
            return None
        comp, first = node.fors[0], pairs[0][0]
        rows = []  # (source, instance, the loop's names) of each element
        for m, c in pairs:
            try:
                count = len(Evaluator().static(comp.iter, m.static_scope))
            except (ArchDSLError, TypeError, ValueError):
                return None
            if count != len(c.children):
                return None
            for k in c.children.values():
                ctx.loop = self.decls.bound(k) if ctx.sized else {}
                try:
                    rows.append((self._ctor(ctx, m, k, indent + 1), m, ctx.loop))
                finally:
                    ctx.loop = {}
        saved = (dict(ctx.sizes), set(ctx.lets), set(ctx.stored))
        try:
            element = self._element(ctx, node, rows)
            over = iteration(comp.iter, lambda n: self._init_name(ctx, first, n))
            key = expression(node.key, lambda n: self._init_name(ctx, first, n), bound_by(comp.targets)) \
                if isinstance(node, A.DictComp) else None
        except Unrenderable:
            ctx.sizes, ctx.lets, ctx.stored = saved
            return None
        if key is None:
            loops = bound_by(comp.targets) & _names_read([element])
            targets = targets_source(comp.targets) if loops else "_"
            return spread(pairs[0][1], self.whole, f"[{element} for {targets} in {over}]")
        cls = container_class(pairs[0][1], self.whole)
        return f"{cls}(OrderedDict(({key}, {element}) for {targets_source(comp.targets)} in {over}))"

    def _element(self, ctx: Context, node, rows: list) -> str:
        """A comprehension's element from the sources of its layers (`rows`): theirs where they are one text,
        else the two texts on either side of a condition the element writes that tells them apart."""
        texts = list(dict.fromkeys(text for text, _, _ in rows))
        if len(texts) == 1:
            return texts[0]
        for cond in _conds(node.elt if isinstance(node, A.ListComp) else node.value) if len(texts) == 2 else ():
            truth = [truth_in(m, cond.test, bound) for _, m, bound in rows]
            sides = [{text for (text, _, _), t in zip(rows, truth) if t is want} for want in (True, False)]
            if None not in truth and all(len(side) == 1 for side in sides):
                ctx.loop = rows[0][2]
                try:
                    test = expression(cond.test, lambda n: self._init_name(ctx, rows[0][1], n))
                finally:
                    ctx.loop = {}
                return _ternary(sides[0].pop(), test, sides[1].pop())
        raise Unrenderable("the layers of a comprehension differ")

    def _split(self, ctx: Context, pairs: list, test, nodes: tuple, indent: int, nested: bool) -> str:
        """`a if test else b` over the instances where `test` holds and those where it does not (`nodes`: what
        declares each); the branches are split further only when `nested`."""
        truth = [truth_in(m, test) for m, _ in pairs]
        if None in truth:
            raise Unrenderable("a condition without a value")
        groups = [[p for p, t in zip(pairs, truth) if t == want] for want in (True, False)]
        if not all(groups):
            if not nested:
                raise Unrenderable("the condition does not tell the instances apart")
            k = 0 if groups[0] else 1
            return self._source(ctx, groups[k], nodes[k], indent)
        saved = (dict(ctx.sizes), set(ctx.lets), set(ctx.stored))
        try:
            if nested:
                yes, no = (self._source(ctx, g, n, indent) for g, n in zip(groups, nodes))
            else:
                yes, no = (self._uniform(ctx, g, indent) for g in groups)
            cond = expression(test, lambda n: self._init_name(ctx, pairs[0][0], n))
        except Unrenderable:
            ctx.sizes, ctx.lets, ctx.stored = saved
            raise
        return _ternary(yes, cond, no)

    def _uniform(self, ctx: Context, pairs: list, indent: int) -> str:
        texts = {self._ctor(ctx, m, c, indent) for m, c in pairs}
        if len(texts) != 1:
            raise Unrenderable("the instances of a layer differ")
        return texts.pop()

    def _listed(self, ctx: Context, pairs: list, node, indent_of) -> list | None:
        """(source, condition or None) of each item of a layer list written as a list literal, over the
        instances `pairs`; an item `x if c` is there where c holds. None for any other declaration."""
        node = _let_of(ctx.block, node)
        if not isinstance(node, A.ListExpr) or any(isinstance(i, A.Star) for i in node.items) \
                or any(c.kind != "seq" or named(c) for _, c in pairs) or len({container_class(c, self.whole) for _, c in pairs}) > 1:
            return None
        conditional = [isinstance(i, A.Cond) and i.orelse is None for i in node.items]
        rows = []
        for m, c in pairs:
            there = [truth_in(m, i.test) if cond else True for i, cond in zip(node.items, conditional)]
            if None in there or sum(there) != len(c.children):
                return None
            kids = iter(c.children.values())
            rows.append([next(kids) if t else None for t in there])
        out = []
        for k, item in enumerate(node.items):
            here = [(m, row[k]) for (m, _), row in zip(pairs, rows) if row[k] is not None]
            if not here:
                continue
            partial = len(here) < len(pairs)
            src = self._source(ctx, here, item.body if conditional[k] else item, indent_of(partial))
            test = expression(item.test, lambda n: self._init_name(ctx, here[0][0], n)) if partial else None
            out.append((src, test))
        return out

    def _list_statements(self, ctx: Context, lname: str, child: Module, listed: list, where: str) -> list[str]:
        """`layers = []`, then each item appended (under `if` where it is there in some instances only), then
        `self.<lname> = nn.Sequential(*layers)`, as torchvision builds such blocks."""
        taken = {p for p, _, _ in ctx.block.params} | {n for n, _, _ in ctx.block.lets} | set(ctx.sizes.values())
        var = "layers" if "layers" not in taken else f"{lname}_layers"
        lines = [f"{INDENT}{var} = []{where}"]
        for src, test in listed:
            pad = INDENT
            if test is not None:
                lines.append(f"{INDENT}if {test}:")
                pad = INDENT + "    "
            lines.append(f"{pad}{var}.append({src})")
        return lines + [f"{INDENT}self.{lname} = {spread(child, self.whole, var)}"]

    def _test(self, ctx: Context, test, present: list, name) -> str:
        """Source of a condition that holds for exactly the instances `present`."""
        truth = [truth_in(m, test) for m in ctx.instances]
        if None in truth or truth != [m in present for m in ctx.instances]:
            raise Unrenderable("the condition does not tell the instances apart")
        return expression(test, lambda n: name(ctx, ctx.instances[0], n))

    @staticmethod
    def _local(ctx: Context, m: Module) -> set[str]:
        """The names written as names: a block's own (and a comprehension's, in its element); a model has none
        (its values are fixed)."""
        return own_names(m) | set(ctx.loop) if ctx.sized else set()

    def _init_name(self, ctx: Context, m: Module, n: str) -> str:
        if n in ctx.loop:
            return n
        size = _input_axis(self.gen.graph, m, n) or _size_let(self.gen.graph, m, n)
        if size is not None and ctx.sized:  # `x.shape[1]`: the constructor's size parameter (`in_channels`)
            return self._symbol_name(ctx, m, size_symbol(*size))
        if n not in self._local(ctx, m):
            return _constant(m, n)
        let = next((node for name, node, _ in m.block.lets if name == n), None)
        if let is not None:
            try:  # a let written out needs its own lets
                expression(let, lambda x: self._init_name(ctx, m, x))
            except Unrenderable:
                return _constant(m, n)
            ctx.lets.add(n)
        return n

    def _forward_name(self, ctx: Context, m: Module, n: str) -> str:
        size = _input_axis(self.gen.graph, m, n) or _size_let(self.gen.graph, m, n)
        if size is not None and ctx.sized:  # an input size: the constructor's, kept
            n = self._symbol_name(ctx, m, size_symbol(*size))
            ctx.stored.add(n)
            return f"self.{n}"
        if n not in self._local(ctx, m):
            return _constant(m, n)
        ctx.stored.add(n)
        if any(n == let for let, _, _ in m.block.lets):
            ctx.lets.add(n)
        return f"self.{n}"

    def _ctor(self, ctx: Context, m: Module, child: Module, indent: int) -> str:
        if child.kind == "op":
            return self._op_ctor(ctx, m, child)
        if child.kind == "block":
            return self._block_ctor(ctx, m, child)
        items = [self._ctor(ctx, m, c, indent + 1 + named(child)) for c in child.children.values()]
        return container_source(child, items, indent, self.whole)

    def _op_ctor(self, ctx: Context, m: Module, child: Module) -> str:
        node = self.gen.graph.node(child.calls[0])
        op, ins = child.op, self.gen.in_shapes(node)
        decl = self.decls.of(child)
        given = bound_args(decl[0], [p.name for p in op.params], m) if decl and decl[1] is m else None
        tensors = node.inputs[0] if op.inputs is None else node.inputs
        names = self._arg_names(m).get(node.call_span, [])
        sizes = [[(t, k, d, names[j] if j < len(names) else None) if is_int(d) else None for k, d in enumerate(s)]
                 if isinstance(s, tuple) else None for j, (t, s) in enumerate(zip(tensors, ins))]
        init = lowering(op).inplace_init
        if init is None or not overwrites_input(self.gen.graph, child):
            init = lowering(op).init
        return self._written(ctx, m, op, child.attrs, given, init, ins, sizes, self._init_name)

    def _inline(self, ctx: Context, m: Module, node, write, args: list) -> str:
        """An inline op of forward with its attributes written as the spec's expressions (`self.branch`), read
        from the constructor's values; what those need is kept only where they are written."""
        saved = (dict(ctx.sizes), set(ctx.lets), set(ctx.stored))
        given = self.decls.inline(node, m) if ctx.sized else None
        ins = self.gen.in_shapes(node)
        real = write(node.attrs, ins, args)
        for items in (None, m):  # a list a let holds: whole (`self.split`), else item by item
            text = self._written(ctx, m, node.op, node.attrs, given, lambda a, s: write(a, s, args), ins, [],
                                 self._forward_name, items)
            if text != real:
                return text
            ctx.sizes, ctx.lets, ctx.stored = saved
        return real

    def _written(self, ctx: Context, m: Module, op, attrs, given: dict | None, render, ins: list, sizes: list,
                 name, items: Module | None = None) -> str:
        """`render(attrs, ins)` (a lowering) with the attributes that the spec wrote with the block's names
        (`given`: their ASTs; a list of a let of `items`'s block item by item) written as those expressions
        (`name` writes each name), and the input sizes of `sizes` as the size tracer finds them; as numbers
        where that is not exact."""
        local = self._local(ctx, m) | (_inputs(m) if ctx.sized else set())  # inputs: their sizes, `x.shape[1]`
        args = {key: (arg, value) for p, arg in (given or {}).items() for key, arg, value in _elements(
            p, arg, attrs.get(p), items) if names_in(arg) & local and _plain(value)}
        varying = {key: (self._arg_source(ctx, m, *args[key], name), args[key][1]) for key in _keys(attrs)
                   if key in args}
        spread = {key for key, (_, value) in varying.items()
                  if key in lowering(op).sequences and isinstance(value, tuple)}
        real = render(attrs, ins)
        marked = [_marked(render, attrs, ins, varying, spread, sizes, base) for base in (SENTINEL, 2 * SENTINEL)]
        text = self._substitute(ctx, m, real, marked, varying, sizes, spread)
        if text != real and spread:  # the list in place of its items: the same call where they are spread
            items = {k: ", ".join(map(str, varying[key][1])) for k, key in enumerate(varying) if key in spread}
            if _spread(marked[0], items) != _marked(render, attrs, ins, varying, spread, sizes, SENTINEL, keep=True):
                return real
        return text

    def _arg_names(self, m: Module) -> dict:
        if id(m.block) not in self.arg_names:
            self.arg_names[id(m.block)] = arg_names(m.block.forward) if m.block.forward else {}
        return self.arg_names[id(m.block)]

    def _substitute(self, ctx: Context, m: Module, real: str, marked: list, varying: dict, sizes: list,
                    spread: set) -> str:
        """The sentinels of the marked lowering replaced by their sources; `real` where that is not exact: a
        value computed from a sentinel, or a varying attribute the lowering did not print (it decided on it).
        An attribute of `spread` (a list) must be the whole argument list of a call."""
        a, b = (_tokens(t) if t is not None else None for t in marked)
        if "\n" in real or a is None or b is None or len(a) != len(b):
            return real
        slots = [src for src, _ in varying.values()] + [c for cells in sizes if cells for c in cells if c is not None]
        spread_slots = {k for k, key in enumerate(varying) if key in spread}
        out, last, seen = [], 0, set()
        for i, (ta, tb) in enumerate(zip(a, b)):
            if ta.string == tb.string:
                continue
            k = _sentinel_index(ta, SENTINEL)
            if k is None or not 0 <= k < len(slots) or _sentinel_index(tb, 2 * SENTINEL) != k:
                return real  # a number computed from a sentinel: no source for it
            if k in spread_slots and not (0 < i < len(a) - 1 and a[i - 1].string == "(" and a[i + 1].string == ")"):
                return real
            src = slots[k] if isinstance(slots[k], str) else self._size_source(ctx, m, *slots[k])
            out += [marked[0][last:ta.start[1]], src]
            last = ta.end[1]
            seen.add(k)
        if not seen >= set(range(len(varying))):
            return real
        return "".join(out) + marked[0][last:]

    def _arg_source(self, ctx: Context, m: Module, arg, value, name=None) -> str:
        """An argument as the spec wrote it (a lambda it calls written out), else its value."""
        name = name or self._init_name
        arg = inlined_calls(arg, m)
        try:
            if arg is None:
                raise Unrenderable("a lambda not written out")
            return expression(arg, lambda n: name(ctx, m, n))
        except Unrenderable:
            return literal(value)

    def _size_source(self, ctx: Context, m: Module, t, axis: int, value, name: str | None = None) -> str:
        expr = self.tracer.trace(m, t, axis, name) if ctx.sized else None
        return self._sympy_source(ctx, m, expr, value)

    def _sympy_source(self, ctx: Context, m: Module, expr, value: int) -> str:
        if expr is None or is_int(expr):
            return str(value)
        subs = {}
        for s in expr.free_symbols:
            if "@" in s.name:
                j, axis = (int(x) for x in s.name.removeprefix("input").split("@"))
                subs[s] = _input_dim(self.gen.graph, m, j, axis)
            else:  # a parameter, or a let that stands for itself
                subs[s] = m.args[s.name] if s.name in m.args else m.static_scope.lookup(s.name, None)
            if not is_int(subs[s]):
                return str(value)
        if expr.xreplace(subs) != value:
            return str(value)
        spelled = self.tracer.spelled.get((id(m), expr))
        try:
            if spelled is not None:  # what the spec wrote for it (`4 * dim`, `branch`)
                return expression(spelled, lambda n: self._init_name(ctx, m, n))
        except Unrenderable:
            pass
        try:
            return sympy_source(expr, lambda s: self._symbol_name(ctx, m, s))
        except Unrenderable:
            return str(value)

    def _symbol_name(self, ctx: Context, m: Module, s) -> str:
        if "@" not in s.name:
            return self._init_name(ctx, m, s.name)  # a let written out needs its line in __init__
        j, axis = (int(x) for x in s.name.removeprefix("input").split("@"))
        if (j, axis) not in ctx.sizes:
            ctx.sizes[(j, axis)] = _size_name(m, j, axis, self.gen.graph, set(ctx.sizes.values()))
        return ctx.sizes[(j, axis)]

    def _block_ctor(self, ctx: Context, m: Module, child: Module) -> str:
        cls = self.gen.block_classes[id(child)]
        args = [self._size_source(ctx, m, child.inputs[j], axis, _input_dim(self.gen.graph, child, j, axis))
                for (j, axis) in cls.sizes]
        decl = self.decls.of(child)
        names = [p for p, _, _ in child.block.params]
        given = bound_args(decl[0], names, m) if decl and decl[1] is m else None
        local = self._local(ctx, m)
        for p in cls.params:
            value, arg = child.args[p], (given or {}).get(p)
            if arg is not None and names_in(arg) & local:
                src = self._arg_source(ctx, m, arg, value)
            elif p in cls.defaults and _same(value, cls.defaults[p]):
                continue
            else:
                src = literal(value)
            args.append(src if p not in cls.defaults else f"{p}={src}")
        return f"{cls.name}({', '.join(args)})"

    # --- forward
    def _forward(self, ctx: Context) -> list[str] | None:
        per = []
        for m in ctx.instances:
            writer = ForwardWriter(self.gen, m, inline=lambda node, write, args, m=m: self._inline(
                ctx, m, node, write, args))
            lines = writer.write()
            per.append(_by_statement(lines, writer.statement))
        stmts = ctx.block.forward.stmts
        parts: list = []  # lines, or (test, lines if it holds, lines if not) where the instances differ
        for k in range(-1, len(stmts) + 1):
            variants = [p.get(k, []) for p in per]
            if k == len(stmts) - 1 and any(p.get(k + 1) != per[0].get(k + 1) for p in per):
                # the last statement decides what is returned (`y + x if use_res else y`): with the return
                variants = [v + p.get(k + 1, []) for v, p in zip(variants, per)]
                per = [{**p, k + 1: []} for p in per]
            if all(v == variants[0] for v in variants):
                parts.append(variants[0])
                continue
            branch = self._branch(ctx, stmts[k], variants) if 0 <= k < len(stmts) else None
            if branch is None:
                return None
            last = parts[-1] if parts else None
            if isinstance(last, tuple) and last[0] == branch[0] and not _returns(last[1]):  # one `if` for both
                parts[-1] = (branch[0], last[1] + branch[1], last[2] + branch[2])
            else:
                parts.append(branch)
        return [line for part in parts for line in (_if_lines(*part) if isinstance(part, tuple) else part)]

    def _branch(self, ctx: Context, stmt, variants: list) -> tuple | None:
        """(test, lines where it holds, lines where not) over the forms of a statement that differs between
        instances."""
        for cond in _conds(stmt):
            truth = [truth_in(m, cond.test) for m in ctx.instances]
            if None in truth:
                continue
            yes = [v for v, t in zip(variants, truth) if t]
            no = [v for v, t in zip(variants, truth) if not t]
            if not yes or not no or any(v != yes[0] for v in yes) or any(v != no[0] for v in no):
                continue
            try:
                test = expression(cond.test, lambda n: self._forward_name(ctx, ctx.instances[0], n))
            except Unrenderable:
                continue
            return test, yes[0], no[0]
        return None


def _returns(lines: list[str]) -> bool:
    return bool(lines) and lines[-1].startswith(f"{INDENT}return ")


def _if_lines(test: str, yes: list[str], no: list[str]) -> list[str]:
    """`if test:` / `else:` around the forward lines of each side."""
    body, orelse = _indent(yes), _indent(no)
    if not body:
        return [f"{INDENT}if not ({test}):"] + orelse
    if _returns(yes):  # no `else:` after a return
        return [f"{INDENT}if {test}:"] + body + no
    return [f"{INDENT}if {test}:"] + body + ([f"{INDENT}else:"] + orelse if orelse else [])


def _elements(p: str, arg, value, owner: Module | None = None):
    """(key, argument, value) of an attribute: each element of a tuple written as a list or a tuple (or held by
    a let of `owner`'s block, written as a list), (p, i), else the attribute as a whole, p."""
    listed = let_list(arg, owner) if owner is not None else None
    if listed is not None and isinstance(value, tuple) and len(listed) == len(value):
        yield from (((p, i), item, v) for i, (item, v) in enumerate(zip(listed, value)))
    elif isinstance(value, tuple) and isinstance(arg, (A.ListExpr, A.TupleExpr)) and len(arg.items) == len(value) \
            and not any(isinstance(i, A.Star) for i in arg.items):
        yield from (((p, i), item, v) for i, (item, v) in enumerate(zip(arg.items, value)))
    else:
        yield p, arg, value


def _plain(value) -> bool:
    """A value the lowerings print: a number, a bool, a string, or a tuple of them."""
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, str))


def _sentinel(value, n: int):
    """The sentinel numbered `n` for a value like `value`: a float for a float, a string for a string, else an
    int (a bool's and a tuple's too: the lowerings print them, and a lowering that does more is found out)."""
    if isinstance(value, float):
        return float(n)
    if isinstance(value, str):
        return f"sentinel{n}"
    return n


def _sentinel_index(token, base: int) -> int | None:
    """k of the sentinel `base` + k that a token of a marked lowering writes, else None."""
    if token.type == tokenize.STRING:
        try:
            text = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            return None
        n = int(text[len("sentinel"):]) if isinstance(text, str) and text.startswith("sentinel") \
            and text[len("sentinel"):].isdigit() else None
    elif token.type == tokenize.NUMBER:
        try:
            n = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            return None
    else:
        return None
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    return n - base if is_int(n) else None


def _marked(render, attrs: dict, ins: list, varying: dict, spread: set, sizes: list, base: int,
            keep: bool = False) -> str | None:
    """`render` (a lowering) with sentinels, numbered `base` + k, for the varying attributes (a list of one for
    those of `spread`, or their values where `keep`) and the input sizes; None when the lowering cannot take
    them (it computes with a value it should only print)."""
    marks = itertools.count(base)
    attrs = _sentinels(attrs, varying, marks, spread, keep)
    ins = [tuple(next(marks) if c is not None else d for c, d in zip(cells, s)) if cells is not None else s
           for cells, s in zip(sizes, ins)]
    try:
        return render(attrs, ins)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError):
        return None


def _spread(text: str, items: dict) -> str | None:
    """`text` (a lowering marked from SENTINEL) with the sentinel k written as `items[k]`."""
    tokens = _tokens(text) if text is not None and "\n" not in text else None
    if tokens is None:
        return None
    for t in reversed(tokens):
        k = _sentinel_index(t, SENTINEL)
        if k in items:
            text = text[:t.start[1]] + items[k] + text[t.end[1]:]
    return text


def _sentinels(attrs: dict, varying: dict, marks, spread: set = frozenset(), keep: bool = False) -> Attrs:
    """`attrs` with the next sentinel in each varying attribute and tuple element, in the order of _keys; an
    attribute of `spread` becomes a list of one sentinel (its value where `keep`)."""
    def mark(k, v):
        if k in spread:
            n = next(marks)
            return v if keep else (_sentinel(v, n),)
        if k in varying:
            return _sentinel(v, next(marks))
        if isinstance(v, tuple):
            return tuple(_sentinel(e, next(marks)) if (k, i) in varying else e for i, e in enumerate(v))
        return v

    return Attrs({k: mark(k, v) for k, v in attrs.items()})


def _keys(attrs: dict):
    """The attributes in order, each tuple attribute followed by its elements: the order sentinels count in."""
    for k, v in attrs.items():
        yield k
        if isinstance(v, tuple):
            yield from ((k, i) for i in range(len(v)))


def _ties(m: Module) -> list[str]:
    """`self.lm_head.weight = self.transformer.wte.weight`: tied layers share their source's parameter."""
    return [f"{INDENT}self.{n}.{TIED[c.op.name]} = self{_layer_path(m, c.attrs.source)}.{TIED[c.op.name]}"
            for n, c in m.children.items() if c.kind == "op" and c.op.name in TIED and c.calls]


def _layer_path(m: Module, dotted: str) -> str:
    """The source of the layer at `dotted` below `m`, after `self`: `.transformer.wte`; a list's element or
    a map's key that is no identifier (`h.0`, `block1-0`) by its position, as nn.Sequential indexes: `.h[0]`."""
    out = ""
    for part in dotted.split("."):
        out += f".{part}" if part.isidentifier() else f"[{list(m.children).index(part)}]"
        m = m.children[part]
    return out


def _class_source(name: str, doc: str, signature: list[str], init: list[str], forward: list[str]) -> str:
    head = f"class {name}(nn.Module):\n{doc}\n\n    def __init__({', '.join(signature)}):\n" \
           "        super().__init__()\n"
    return head + "".join(line + "\n" for line in init) + "\n" + "\n".join(forward) + "\n"


def _key(body) -> tuple:
    ctx, init, forward = body
    return tuple(sorted(ctx.sizes.items())), tuple(init), tuple(forward)


def _defaults(m: Module) -> dict:
    """The block's parameters with a default, and its value (evaluated where the block is declared)."""
    scope = block_scope(m)
    out = {}
    for p, default, _ in m.block.params:
        if default is not REQUIRED:
            try:
                out[p] = Evaluator().static(default, scope.parent)
            except ArchDSLError:
                continue
    return out


def _constant(m: Module, name: str) -> str:
    try:
        return literal(m.static_scope.lookup(name, None))
    except ArchDSLError:
        raise Unrenderable(name) from None


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def _input_dim(graph, m: Module, j: int, axis: int):
    t = m.inputs[j]
    node = graph.node(t.node)
    shape = node.meta.outputs[t.index] if node.meta.outputs is not None else node.meta.shape
    return shape[axis]


def _input_axis(graph, m: Module, n: str) -> tuple[int, int] | None:
    """(input index, axis) of the source `x.shape[k]` of a block input's size; None for any other name."""
    name, _, rest = n.partition(".shape[")
    inputs = [i for i, _, _ in m.block.inputs]
    if not rest or name not in inputs:
        return None
    j = inputs.index(name)
    return j, int(rest[:-1]) % len(_shape(graph, m.inputs[j]))


def _inputs(m: Module) -> set[str]:
    return {n for n, _, _ in m.block.inputs}


def _size_let(graph, m: Module, n: str) -> tuple[int, int] | None:
    """(input index, axis) of a let of the block that is an input's size (`dim: x.shape[3]`), else None."""
    let = next((node for name, node, _ in m.block.lets if name == n), None)
    size = input_size(let) if let is not None else None
    return _input_axis(graph, m, size) if size is not None else None


def _size_name(m: Module, j: int, axis: int, graph, taken: set) -> str:
    """The constructor parameter of an input's size: the let that names it (`dim: x.shape[3]`), else
    `in_channels` (dim 1), `in_features` (the last dim of a vector or sequence), `in_dim2` ..."""
    params = {p for p, _, _ in m.block.params} | {n for n, _, _ in m.block.layers} | taken
    let = next((n for n, _, _ in m.block.lets if _size_let(graph, m, n) == (j, axis)), None)
    if let is not None and let not in params:
        return let
    rank = len(_shape(graph, m.inputs[j]))
    what = "channels" if axis == 1 and rank >= 3 else "features" if axis == rank - 1 and rank <= 3 else f"dim{axis}"
    base = f"in_{what}" if len(m.block.inputs) == 1 else f"{m.block.inputs[j][0]}_{what}"
    name, k = base, 2
    while name in params:
        name, k = f"{base}{k}", k + 1
    return name


def _shape(graph, t):
    node = graph.node(t.node)
    return node.meta.outputs[t.index] if node.meta.outputs is not None else node.meta.shape


def _tokens(text: str):
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError):
        return None


def _names_read(lines: list[str]) -> set[str]:
    """The names the source lines mention (attributes too: a superset of what they read)."""
    tokens = _tokens("\n".join(line.strip() for line in lines)) or []
    return {t.string for t in tokens if t.type == tokenize.NAME}


def _by_statement(lines: list[str], statement: list[int]) -> dict:
    out: dict = {}
    for line, k in zip(lines, statement):
        out.setdefault(k, []).append(line)
    return out


def _let_of(block, node):
    """The expression of the block's let that `node` names, else `node`."""
    while isinstance(node, A.Name):
        let = next((n for name, n, _ in block.lets if name == node.id), None)
        if let is None:
            return node
        node = let
    return node


def _block_tests(block) -> list:
    """The conditions a block writes (in its lets, layers and forward): what may tell its instances apart."""
    nodes = [n for _, n, _ in block.lets] + [n for _, n, _ in block.layers] + list(block.forward.stmts)
    return [c.test for n in nodes for c in _conds(n)]


def _ternary(yes: str, test: str, no: str) -> str:
    """`yes if test else no`, around the one argument in which two one-line calls differ where they do
    (`nn.Conv2d(a if c else b, 8, 1)`)."""
    ta, tb = _tokens(yes), _tokens(no)
    if "\n" not in yes + no and ta and tb:
        p = next((k for k, (x, y) in enumerate(zip(ta, tb)) if x.string != y.string), min(len(ta), len(tb)))
        q = next((k for k, (x, y) in enumerate(zip(ta[::-1], tb[::-1])) if x.string != y.string),
                 min(len(ta), len(tb)))
        q = min(q, len(ta) - p, len(tb) - p)
        while 0 < p and ta[p - 1].string not in ("(", ",", "="):  # from the start of the differing argument
            p -= 1
        while 1 < q and ta[-q].string not in (")", ","):  # to its end
            q -= 1
        if 0 < p and 0 < q and p + q < min(len(ta), len(tb)) and ta[p - 1].string in ("(", ",", "=") \
                and ta[-q].string in (")", ","):
            a, b = yes[ta[p].start[1]:ta[-q - 1].end[1]], no[tb[p].start[1]:tb[-q - 1].end[1]]
            if _one_argument(a) and _one_argument(b):
                return f"{yes[:ta[p].start[1]]}{a} if {test} else {b}{yes[ta[-q].start[1]:]}"
    return _each_argument(yes, test, no) or f"{yes} if {test} else {no}"


def _each_argument(yes: str, test: str, no: str) -> str | None:
    """`f(a if test else b, c, d if test else e)`: two calls of one callable with the same keywords, with the
    arguments in which they differ chosen by `test`; None for anything else."""
    try:
        x, y = (ast.parse(text, mode="eval").body for text in (yes, no))
    except SyntaxError:
        return None
    if not isinstance(x, ast.Call) or not isinstance(y, ast.Call) or len(x.args) != len(y.args) \
            or [k.arg for k in x.keywords] != [k.arg for k in y.keywords] or None in [k.arg for k in x.keywords] \
            or ast.get_source_segment(yes, x.func) != ast.get_source_segment(no, y.func):
        return None
    parts = []
    for a, b, key in [(a, b, None) for a, b in zip(x.args, y.args)] \
            + [(k.value, j.value, k.arg) for k, j in zip(x.keywords, y.keywords)]:
        sa, sb = ast.get_source_segment(yes, a), ast.get_source_segment(no, b)
        if sa != sb:
            if isinstance(a, ast.Starred) or isinstance(b, ast.Starred) \
                    or not (_one_argument(sa) and _one_argument(sb)):
                return None
            sa = f"{sa} if {test} else {sb}"
        parts.append(sa if key is None else f"{key}={sa}")
    return f"{ast.get_source_segment(yes, x.func)}({', '.join(parts)})"


def _one_argument(text: str) -> bool:
    """Whether `text` is one expression that a condition may be put around as it is (`a, b` is two)."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return not isinstance(tree, (ast.IfExp, ast.Lambda, ast.NamedExpr)) \
        and not (isinstance(tree, ast.Tuple) and not text.lstrip().startswith("("))


def _conds(node):
    if isinstance(node, A.Cond):
        yield node
    for value in vars(node).values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, A.Node):
                yield from _conds(item)


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]
