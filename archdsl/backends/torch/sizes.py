"""Where a block's inferred sizes come from, as expressions in its parameters and input sizes.

`in_channels` of a block's second conv is the first conv's `out_channels`, which the spec wrote as `planes`.
The tracer follows a dim backwards through the block's dataflow: an op either passes the dim through from an
input or makes it from one of its attributes, which the shape rule itself tells (change the input's dim or
the attribute, and see whether the output's dim follows). Blocks called inside are traced in their own terms,
then their parameters are replaced by the arguments the caller wrote. Whatever is not found this way stays a
number; callers check every expression against every instance, so a wrong guess cannot reach the output.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import sympy

from ...elaborate.evaluate import Evaluator
from ...elaborate.scope import Scope
from ...elaborate.values import BlockFn, Function, InputSizes, OpFn
from ...errors import ArchDSLError, ShapeRuleError
from ...ir.graph import Graph, Module, Tensor
from ...passes.shapes import input_shapes
from ...syntax import ast as A


def size_symbol(j: int, axis: int):
    """The placeholder of input `j`'s dim `axis` inside a block's expressions."""
    return sympy.Symbol(f"input{j}@{axis}", integer=True, positive=True)


def param_symbol(name: str):
    return sympy.Symbol(name, integer=True, positive=True)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Declarations:
    """The AST call that made each block instance and layer: `conv2d(planes, 3)` for `layer1.0.conv2`.

    A layer is followed through what its declaration names: the branch of `x if c else y` its instance took,
    the items of a list that are there (`x if c` items that are not leave it), a let of its block
    (`depthwise`), and a lambda's body with the call's arguments in place of its parameters. A call is matched
    only to the op or block it names, so an argument is never bound to a parameter of another callable. A
    layer made by a comprehension's element has the loop's names bound as they were for it (`j`: 0, 1 ...)."""

    def __init__(self, graph: Graph):
        self.call: dict[int, tuple[A.Call, Module]] = {}  # id(module) -> (call, the instance it is declared in)
        self.loop: dict[int, dict] = {}  # id(module) -> the comprehension's names bound for it
        self.forward: dict[int, dict] = {}  # id(block) -> its forward's calls (_forward_calls)
        for root in graph.roots.values():
            for m in root.walk():
                if m.kind == "block":
                    for lname, node, _ in m.block.layers:
                        if lname in m.children:
                            self._match(m.children[lname], node, m)

    def _match(self, child: Module, node, owner: Module) -> None:
        node = resolve(node, owner)
        if isinstance(node, A.Call) and child.kind in ("op", "block") and _names_callee(node, child, owner):
            self.call[id(child)] = (node, owner)
        elif isinstance(node, A.ListExpr) and child.kind == "seq":
            items = present_items(node, owner)
            if items is not None and len(items) == len(child.children):
                for item, grandchild in zip(items, child.children.values()):
                    self._match(grandchild, item, owner)
        elif isinstance(node, (A.ListComp, A.DictComp)) and child.kind == "seq" and len(node.fors) == 1 \
                and all(_lookup(owner, n) is None for n in names_in_bindings(node)):
            bindings = element_bindings(node, owner.static_scope)
            if bindings is not None and len(bindings) != len(child.children):
                bindings = None
            for k, grandchild in enumerate(child.children.values()):  # each made by the element
                self._match(grandchild, node.elt if isinstance(node, A.ListComp) else node.value, owner)
                if bindings is not None:
                    for m in _declared_with(grandchild):  # with the names of comprehensions within
                        self.loop[id(m)] = {**bindings[k], **self.loop.get(id(m), {})}
        elif isinstance(node, A.DictExpr) and child.kind == "seq":  # a map of named layers, by its literal keys
            for key, item in zip(node.keys, node.values):
                if isinstance(key, A.Const) and key.value in child.children:
                    self._match(child.children[key.value], item, owner)

    def of(self, module: Module) -> tuple[A.Call, Module] | None:
        return self.call.get(id(module))

    def bound(self, module: Module) -> dict:
        """The names of the comprehension that made `module` (or the layer list holding it), by value."""
        return self.loop.get(id(module), {})

    def inline(self, node, module: Module) -> dict | None:
        """The argument ASTs by attribute name of the inline op `node` of `module`'s forward, as the spec wrote
        them (`reshape([0, 2, branch, h, w])`); None where the op is not called by its name there."""
        if id(module.block) not in self.forward:
            self.forward[id(module.block)] = _forward_calls(module.block.forward)
        call, chained = self.forward[id(module.block)].get(node.span, (None, False))
        fn = _lookup(module, call.func.id) if call is not None and isinstance(call.func, A.Name) else None
        if not isinstance(fn, OpFn) or fn.op.name != node.op.name:
            return None
        tensors = 0 if chained else 1 if node.op.inputs is None else len(node.inputs)  # what the call applies to
        if any(isinstance(a, A.Star) for a in call.args[:tensors]):
            return None
        return bound_args(dataclasses.replace(call, args=call.args[tensors:]), [p.name for p in node.op.params],
                          module)


def _declared_with(module: Module):
    """`module` and, for a layer list, the layers in it: those its declaration makes (not a block's own)."""
    yield module
    if module.kind == "seq":
        for child in module.children.values():
            yield from _declared_with(child)


def _forward_calls(program) -> dict:
    """Span -> (call, whether it is a link of a chain `x >> f(...)`, so applied to what comes before) of each
    call a forward writes."""
    out: dict = {}

    def visit(node, chained: bool = False):
        if isinstance(node, A.Call):
            out[node.span] = (node, chained)
        links = node.items[1:] if isinstance(node, A.Chain) else ()
        for value in vars(node).values():
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, tuple):  # a keyword argument: (name, Node, Span)
                    item = item[1]
                if isinstance(item, A.Node):
                    visit(item, any(item is link for link in links))

    for stmt in program.stmts if program is not None else ():
        visit(stmt)
    return out


def resolve(node, owner: Module, depth: int = 0):
    """What a layer's declaration stands for in the instance `owner`: the branch of a condition it took, the
    expression of a let of its block, a lambda's body with the arguments written in; None when absent or
    unknown. Each step keeps the meaning, as the names it writes resolve to the same values in `owner`."""
    if depth > 32:  # lets naming lets: far more than any spec writes
        return None
    if isinstance(node, A.Cond):
        truth = truth_in(owner, node.test)
        if truth is None:
            return None
        node = node.body if truth else node.orelse
        return None if node is None else resolve(node, owner, depth + 1)
    if isinstance(node, A.Name):
        let = next((n for name, n, _ in owner.block.lets if name == node.id), None)
        return node if let is None else resolve(let, owner, depth + 1)
    if isinstance(node, A.Call) and isinstance(node.func, A.Name):
        fn = _lookup(owner, node.func.id)
        if isinstance(fn, Function):
            body = _inlined(fn, node, owner)
            return None if body is None else resolve(body, owner, depth + 1)
    return node


def element_bindings(node, scope: Scope) -> list[dict] | None:
    """The names a one-loop comprehension binds for each element it makes (its `if`s applied), in order; None
    where the loop cannot be run again here."""
    if len(node.fors) != 1:
        return None
    comp, ev, out = node.fors[0], Evaluator(), []
    try:
        for item in ev.static(comp.iter, scope):
            names: dict = {}
            ev.bind_targets(comp.targets if len(comp.targets) > 1 else comp.targets[0], item, names, comp.span)
            if all(ev.truth(c, scope.child(names)) for c in comp.conds):
                out.append(names)
    except (ArchDSLError, TypeError, ValueError):
        return None
    return out


def present_items(node: A.ListExpr, owner: Module) -> list | None:
    """The items of a layer list that make layers in `owner` (`x if c` with c false makes none), resolved;
    None when a `*` spreads items or a condition is not known."""
    out = []
    for item in node.items:
        if isinstance(item, A.Star):
            return None
        if isinstance(item, A.Cond) and item.orelse is None:
            truth = truth_in(owner, item.test)
            if truth is None:
                return None
            if not truth:
                continue
        out.append(resolve(item, owner))
    return out


def truth_in(m: Module, test, bound: dict | None = None):
    """The value of a condition in the instance `m` (with a comprehension's names `bound`), as a bool; None
    when it has none there."""
    try:
        return bool(Evaluator().static(test, m.static_scope.child(bound) if bound else m.static_scope))
    except (ArchDSLError, TypeError, ValueError):
        return None


def _lookup(m: Module, name: str):
    try:
        return m.static_scope.lookup(name, None)
    except ArchDSLError:
        return None


def _names_callee(call: A.Call, child: Module, owner: Module) -> bool:
    """Whether `call` calls the op or the block that `child` is."""
    if not isinstance(call.func, A.Name):
        return False
    fn = _lookup(owner, call.func.id)
    if child.kind == "op":
        return isinstance(fn, OpFn) and fn.op.name == child.op.name
    return isinstance(fn, BlockFn) and fn.block is child.block


def inlined_calls(node, owner: Module, depth: int = 0):
    """`node` with each call of a lambda written as the lambda's body, the call's arguments in place of its
    parameters and what the body computes without them as its value (`drop(first + j)` with `drop: lambda k:
    p * k / max(total - 1, 1)`: `0.2 * (first + j) / 11`); None where a lambda cannot be (see _inlined)."""
    if depth > 32:  # lambdas calling lambdas: far more than any spec writes
        return None
    if isinstance(node, A.Call) and isinstance(node.func, A.Name):
        fn = _lookup(owner, node.func.id)
        if isinstance(fn, Function):
            body = _inlined(fn, node, owner, _folded(fn.node.body, {n for n, _ in fn.node.params}, fn.scope))
            return None if body is None else inlined_calls(body, owner, depth + 1)
    return _rebuilt(node, lambda n: inlined_calls(n, owner, depth + 1))


def _folded(node, params: set, scope: Scope):
    """`node` with each part that reads none of `params` written as its value, where that is a number or a
    bool (not negative: `-1` would bind to what is around it as a literal does not)."""
    from .pysource import names_in

    if not isinstance(node, (A.Const, A.Lambda)) and not names_in(node) & params:
        try:
            value = Evaluator().static(node, scope)
        except (ArchDSLError, TypeError, ValueError, ZeroDivisionError):
            value = None
        if isinstance(value, (int, float)) and value >= 0:
            return A.Const(span=node.span, value=value)
    return _rebuilt(node, lambda n: _folded(n, params, scope))


def _inlined(fn: Function, call: A.Call, owner: Module, body=None):
    """The lambda's body (or `body`, an expression of its parameters) with the call's arguments (and its
    defaults) in place of its parameters, if every other name in it, and in the defaults used, means in `owner`
    what it means where the lambda is written."""
    body = fn.node.body if body is None else body
    params = [n for n, _ in fn.node.params]
    if any(isinstance(a, A.Star) for a in call.args) or len(call.args) > len(params):
        return None
    env = dict(zip(params, call.args))
    for key, value, _ in call.kwargs:
        if key not in params or key in env:
            return None
        env[key] = value
    defaults = [d for n, d in fn.node.params if n not in env]
    if any(d is None for d in defaults):
        return None
    env.update({n: d for n, d in fn.node.params if n not in env})
    from .pysource import names_in

    outer = (names_in(body) - set(params)).union(*(names_in(d) for d in defaults))
    if any(not _same_binding(_lookup(owner, n), _scope_lookup(fn.scope, n)) for n in outer):
        return None
    return _substituted(body, env)


def _scope_lookup(scope, name: str):
    try:
        return scope.lookup(name, None)
    except ArchDSLError:
        return None


def _same_binding(a, b) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - values that do not compare are not the same
        return False


def _substituted(node, env: dict):
    """`node` with each name of `env` replaced by its expression; None where an inner binding (a comprehension's
    or a lambda's) would hide one of them."""
    if isinstance(node, A.Name):
        return env.get(node.id, node)
    if isinstance(node, (A.ListComp, A.DictComp, A.Lambda)) and names_in_bindings(node) & set(env):
        return None
    return _rebuilt(node, lambda n: _substituted(n, env))


def _rebuilt(node, f):
    """`node` with each node in it replaced by `f` of it; None where `f` gives None for one."""
    changes = {}
    for key, value in vars(node).items():
        if isinstance(value, A.Node):
            new = f(value)
            if new is None:
                return None
            changes[key] = new
        elif isinstance(value, tuple):
            items = [_rebuilt_item(v, f) for v in value]
            if any(i is _FAIL for i in items):
                return None
            changes[key] = tuple(items)
    return dataclasses.replace(node, **changes) if changes else node


_FAIL = object()


def _rebuilt_item(item, f):
    if isinstance(item, A.Node):
        new = f(item)
        return _FAIL if new is None else new
    if isinstance(item, tuple):  # a keyword argument: (name, Node, Span)
        out = tuple(_rebuilt_item(v, f) for v in item)
        return _FAIL if any(v is _FAIL for v in out) else out
    return item


def names_in_bindings(node) -> set[str]:
    """The names a comprehension or a lambda binds."""
    if isinstance(node, A.Lambda):
        return {n for n, _ in node.params}
    out: set = set()

    def targets(t):
        if isinstance(t, A.Name):
            out.add(t.id)
        elif isinstance(t, tuple):
            for x in t:
                targets(x)

    for comp in node.fors:
        targets(comp.targets)
    return out


def bound_args(call: A.Call, names: list[str], owner: Module | None = None) -> dict[str, Any] | None:
    """The argument ASTs of a call by parameter name. A `*` spreads the items of a list the call writes out, or
    that a let of `owner`'s block does (`*args`, args: `[window, heads]`); None for any other `*`."""
    args: list = []
    for a in call.args:
        if not isinstance(a, A.Star):
            args.append(a)
            continue
        items = let_list(a.value, owner)
        if items is None:
            return None
        args += items
    out = dict(zip(names, args))
    out.update({k: v for k, v, _ in call.kwargs})
    return out


def let_list(node, owner: Module | None, depth: int = 0) -> list | None:
    """The items of a list literal without `*`, written here or by a let of `owner`'s block (whose names mean
    there what they mean in the block); None for anything else."""
    if isinstance(node, A.Name) and owner is not None and depth < 32:
        let = next((n for name, n, _ in owner.block.lets if name == node.id), None)
        return None if let is None else let_list(let, owner, depth + 1)
    if isinstance(node, A.ListExpr) and not any(isinstance(i, A.Star) for i in node.items):
        return list(node.items)
    return None


def block_scope(module: Module) -> Scope:
    """The scope the block's parameters were bound in (its arguments scope), found from its static scope."""
    scope = module.static_scope
    while scope is not None and not scope.what.startswith("arguments of"):
        scope = scope.parent
    return scope


def own_names(module: Module) -> set[str]:
    """The names that may differ between the block's instances: its parameters, and its lets that use them or
    the inputs' sizes (`x.shape[1]`)."""
    from .pysource import names_in

    args = block_scope(module)
    names = set(args.vars) if args is not None else set()
    used = names | {n for n, _, _ in module.block.inputs}
    for name, node, _ in module.block.lets:
        if names_in(node) & used:
            names.add(name)
            used.add(name)
    return names


class Symbolic:
    """A block's scope with its integer parameters and its inputs' sizes as symbols (lets recomputed over
    them)."""

    def __init__(self, module: Module):
        args = block_scope(module)
        self.ok = args is not None
        if not self.ok:
            return
        names = {k: param_symbol(k) if is_int(v) else v for k, v in args.vars.items()}
        scope = args.parent.child(names, args.what)
        sizes = _input_symbols(module)
        ev = Evaluator()
        for lname, node, _ in module.block.lets:
            try:
                value = ev.static(node, scope.child(sizes, "input sizes")) if _is_size(node, sizes) \
                    else ev.static(node, scope)
            except (ArchDSLError, TypeError, ValueError, ZeroDivisionError):
                # `int(planes * base / 64) * groups`: no expression in the parameters, but a size of its own
                value = param_symbol(lname) if is_int(module.static_scope.lookup(lname, None)) else _UNKNOWN
            scope = scope.child({lname: value}, "let")
        self.scope = scope.child(sizes, "input sizes")

    def value(self, node, bound: dict | None = None):
        """An argument's value in terms of the symbols (and the comprehension's names `bound`): an int or a
        sympy expression, else None."""
        if not self.ok:
            return None
        try:
            v = Evaluator().static(node, self.scope.child(bound) if bound else self.scope)
        except (ArchDSLError, TypeError, ValueError, ZeroDivisionError, AttributeError):
            return None
        if is_int(v) or (isinstance(v, sympy.Expr) and _UNKNOWN_SYMBOL not in v.free_symbols):
            return v
        return None


def _input_symbols(module: Module) -> dict:
    """The block's inputs whose sizes it reads (`x.shape[1]`), each with its sizes as symbols."""
    out = {}
    for j, (name, _, _) in enumerate(module.block.inputs):
        value = _lookup(module, name)
        if isinstance(value, InputSizes):
            out[name] = InputSizes(name, tuple(size_symbol(j, k) for k in range(len(value.shape))))
    return out


def _is_size(node, sizes: dict) -> bool:
    """A let that is an input's size (`dim: x.shape[3]`): its symbol is that size's. (Other lets that read
    sizes stand for themselves: `h: (x.shape[2] - 1) // stride + 1` is written `h`.)"""
    from .pysource import input_size

    return input_size(node) is not None and node.value.value.id in sizes


_UNKNOWN_SYMBOL = sympy.Symbol("unknown@")
_UNKNOWN: Any = _UNKNOWN_SYMBOL


class SizeTracer:
    def __init__(self, graph: Graph, decls: Declarations):
        self.graph, self.decls = graph, decls
        self.symbolic: dict[int, Symbolic] = {}
        self.memo: dict = {}
        # (id(block instance), size expression) -> the argument its block wrote for it (`4 * dim`), which the
        # generated code then writes as the spec did
        self.spelled: dict = {}
        # an elementwise op's dim from the first operand it is found in (the shortcut `x` of `x + f(x)`), or
        # from one that the block's parameters give (`oup`: see _preferred)
        self.given_first = False

    def sym(self, module: Module) -> Symbolic:
        if id(module) not in self.symbolic:
            self.symbolic[id(module)] = Symbolic(module)
        return self.symbolic[id(module)]

    def trace(self, module: Module, t: Tensor, axis: int, name: str | None = None):
        """Dim `axis` of `t` inside `module`'s forward, in its parameter and input-size symbols, or None.
        `name`: what the spec called `t` where it was used, which tells inputs given the same tensor apart."""
        positions = [j for j, x in enumerate(module.inputs) if x == t]
        if len(positions) > 1:
            named = [j for j in positions if module.block.inputs[j][0] == name]
            return size_symbol(named[0], axis) if named else None
        key = (id(module), t, axis, self.given_first)
        if key not in self.memo:
            self.memo[key] = None  # no cycles
            self.memo[key] = self._trace(module, t, axis)
        return self.memo[key]

    def _trace(self, module: Module, t: Tensor, axis: int):
        positions = [j for j, x in enumerate(module.inputs) if x == t]
        if positions:
            return size_symbol(positions[0], axis)
        node = self.graph.node(t.node)
        if node.kind != "op":
            return None
        scope = node.scope
        if scope == module.path:
            return self._through_op(module, t, node, axis)
        inner = self._instance_within(module, scope)
        return None if inner is None else self._through_block(module, inner, t, axis)

    def _instance_within(self, module: Module, scope: str) -> Module | None:
        """The block instance, directly a layer (or in a layer list) of `module`, whose forward made `scope`."""
        rest = scope[len(module.path) + 1:] if module.path else scope
        if module.path and not scope.startswith(module.path + "."):
            return None
        here = module
        for part in rest.split("."):
            here = here.children.get(part)
            if here is None:
                return None
            if here.kind == "block":
                return here
        return None

    def _through_block(self, module: Module, inner: Module, t: Tensor, axis: int):
        expr = self.trace(inner, t, axis)
        decl = self.decls.of(inner)
        if expr is None or is_int(expr):
            return expr
        subs = {}
        args = bound_args(decl[0], [p[0] for p in inner.block.params], decl[1]) if decl else None
        for s in expr.free_symbols:
            name = s.name
            if "@" in name:  # an input size of the inner block: traced in this block
                j, ax = (int(x) for x in name.removeprefix("input").split("@"))
                subs[s] = self.trace(module, inner.inputs[j], ax)
            elif args is not None and name in args:
                subs[s] = self.sym(module).value(args[name], self.decls.bound(inner))
            else:
                subs[s] = inner.args.get(name) if is_int(inner.args.get(name)) else None
            if subs[s] is None:
                return None
        return sympy.sympify(expr).xreplace(subs)

    def _through_op(self, module: Module, t: Tensor, node: dict, axis: int):
        """The output dim of the op `node`: affine in its inputs and attributes, else a window count."""
        expr = self._affine(module, t, node, axis)
        return expr if expr is not None else self._windowed(module, t, node, axis)

    def _output_of(self, node, t: Tensor, axis: int):
        """(op, attrs, input shapes, input tensors, output shape, axis) where the op's output dim is a number
        to move, else None."""
        op, attrs = node.op, node.attrs
        ins = input_shapes(self.graph, node)
        flat = ins[0] if op.inputs is None else ins
        tensors = node.inputs[0] if op.inputs is None else node.inputs
        out = _output(op, attrs, flat, t.index)
        if not out or not is_int(out[axis % len(out)]):
            return None
        return op, attrs, flat, tensors, out, axis % len(out)

    def _affine(self, module: Module, t: Tensor, node: dict, axis: int):
        """The output dim as a sum of input dims and attributes plus a constant, found by moving each."""
        op_io = self._output_of(node, t, axis)
        if op_io is None:
            return None
        op, attrs, flat, tensors, out, ax = op_io
        total, rest, found = 0, out[ax], False
        for group in _input_groups(flat, ax - len(out)):
            if found and len(group) > 1:
                break  # the dims moved one by one already account for the output
            slope = _slope(op, lambda step, g=group: (attrs, _moved(flat, g, step)), [flat[j][k] for j, k in group],
                           t.index, out, ax)
            if slope is None:
                return None
            if slope:  # 1, or 1 / k where the op divides the dim (chunk)
                j, k = group[0]
                term = _preferred([self.trace(module, tensors[j], k) for j, k in group], self.given_first)
                if term is None:
                    return None
                parts = int(1 / slope)
                total, rest, found = total + sympy.floor(term / parts), rest - flat[j][k] // parts, True
        for name, value in attrs.items():
            if is_int(value):
                slope = _slope(op, lambda step, n=name, v=value: ({**attrs, n: v + step}, flat), [value],
                               t.index, out, ax)
                if slope is None or slope not in (0, 1):
                    return None
                if slope == 1:
                    term = self._attr(module, node, name, value)
                    if term is None:
                        return None
                    total, rest = total + term, rest - value
        if not found and total == 0:  # an element of a tuple attribute (reshape's shape, a pool's output size)
            for name, i in _elements_given(op, attrs, flat, t.index, out, ax):
                return self._attr(module, node, name, out[ax], i)
        return total + rest

    def _windowed(self, module: Module, t: Tensor, node: dict, axis: int):
        """The output dim as `(n) // d + e`, a conv's or a pool's window count: n a sum of input dims and
        attributes times integers plus a constant, d an attribute (the stride). d is the attribute that, set
        to 1, leaves the op affine in the input dims and, set to 2 or 3, divides it by that; e is the output
        for a d larger than n."""
        op_io = self._output_of(node, t, axis)
        if op_io is None:
            return None
        op, attrs, flat, tensors, out, ax = op_io
        dims = [(j, k) for j, s in enumerate(flat) if isinstance(s, tuple) for k, d in enumerate(s) if is_int(d)]
        slots = list(_int_slots(attrs))

        def dim(a, shapes=flat):
            got = _output(op, a, shapes, t.index)
            return got[ax] if got is not None and len(got) == len(out) and is_int(got[ax]) else None

        for divisor in slots:
            v = _slot(attrs, divisor)
            at = {w: _with_slot(attrs, divisor, w) for w in (1, 2, 3, _FAR)}
            got = {w: dim(a) for w, a in at.items()}
            if None in got.values() or got[2] == got[1]:
                continue
            e = got[_FAR]
            n = got[1] - e
            if not 0 <= n < _FAR or any(n // w + e != got[w] for w in (1, 2, 3)) or n // v + e != out[ax]:
                continue
            # the numerator's terms: each input dim and attribute moved with the divisor at 1
            terms = {}
            for d in dims:
                moved = dim(at[1], _moved(flat, [d], STEP))
                real = dim(attrs, _moved(flat, [d], STEP * v))  # the real divisor divides the move by v
                if moved is None or real is None:
                    continue  # the rule refuses the moved dim (the groups no longer divide it): not passed
                if (moved - got[1]) % STEP or real - out[ax] != moved - got[1]:
                    break
                if moved != got[1]:
                    terms[d] = (moved - got[1]) // STEP
            else:
                if not terms:
                    continue
                return self._window(module, node, tensors, flat, at[1], slots, divisor, terms, n, e, dim)
        return None

    def _window(self, module, node, tensors, flat, affine, slots, divisor, terms, n, e, dim):
        """`(n) // d + e` over the block's symbols (see _windowed); None where an input dim is not traced."""
        numerator = n
        for (j, k), slope in terms.items():
            term = self.trace(module, tensors[j], k)
            if term is None:
                return None
            numerator += slope * (term - flat[j][k])
        base = dim(affine)
        for slot in slots:
            if slot == divisor:
                continue
            value = _slot(affine, slot)
            moved = dim(_with_slot(affine, slot, value + STEP))
            if moved is None or (moved - base) % STEP:
                continue  # refused: a constant of the numerator
            slope = (moved - base) // STEP
            if slope:
                term = self._attr(module, node, slot[0], value, slot[1])
                if term is None:
                    return None
                numerator += slope * (term - value)
        d = self._attr(module, node, divisor[0], _slot(node.attrs, divisor), divisor[1])
        return None if d is None else sympy.floor(sympy.sympify(numerator) / d) + e

    def _attr(self, module: Module, node: dict, name: str, value: int, element: int | None = None):
        """The attribute `name` (its item `element`) of the op `node` as its block wrote it, over the block's
        symbols; `value` where the spec's expression is not known."""
        if node.module:
            layer = self.graph.module_at(node.module)
            decl = self.decls.of(layer)
            owner = decl[1] if decl is not None else None
            args = bound_args(decl[0], [p.name for p in layer.op.params], owner) if decl is not None else None
        else:
            owner, args = module, self.decls.inline(node, module)
        arg = args.get(name) if args is not None else None
        if arg is not None and element is not None:
            items = let_list(arg, owner)
            arg = items[element] if items is not None and element < len(items) else None
        if arg is None:
            return value
        from .pysource import names_in

        bound = self.decls.bound(layer) if node.module else {}
        expr = self.sym(module).value(arg, bound)
        if owner is module and isinstance(expr, sympy.Expr) and not names_in(arg) & set(bound):
            self.spelled.setdefault((id(module), expr), arg)  # not where it holds for one loop element only
        return expr


def _preferred(exprs: list, given_first: bool):
    """The dim of an elementwise op's output from one of its operands (all equal): the first found, or with
    `given_first` one that the block's parameters give (`oup`, the stride's) before an input's size, which
    the operands share in some instances only (the shortcut `x` where the shape is kept)."""
    found = [e for e in exprs if e is not None]
    given = [e for e in found if any("@" not in s.name for s in sympy.sympify(e).free_symbols)]
    return ((given if given_first else []) or found or [None])[0]


_FAR = 10 ** 15  # a stride larger than any window count's numerator


def _int_slots(attrs):
    """(attribute, None) of each int attribute and (attribute, i) of each int item of a tuple attribute."""
    for name, value in attrs.items():
        if is_int(value):
            yield name, None
        elif isinstance(value, tuple):
            yield from ((name, i) for i, v in enumerate(value) if is_int(v))


def _slot(attrs, slot):
    name, i = slot
    return attrs[name] if i is None else attrs[name][i]


def _with_slot(attrs, slot, value):
    name, i = slot
    return {**attrs, name: value if i is None else attrs[name][:i] + (value,) + attrs[name][i + 1:]}


def _output(op, attrs, ins, index: int):
    from ...ops.registry import Attrs

    try:
        shape = op.shape(Attrs(attrs), ins)
    except (ArchDSLError, ShapeRuleError, TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return tuple(shape[index]) if op.outputs is not None else tuple(shape)


STEP = 720720  # how far a dim or an attribute is moved: divisible by 1..16, so groups still divide


def _slope(op, moved, values: list, index: int, out: tuple, ax: int):
    """How the output dim `ax` moved per step when `moved(step)` gives the attributes and input shapes with
    some values moved by `step`: 0, 1 or 1 / k (a Fraction: the dim divided in k parts) are understood, None
    is anything else. A rule refusing the move by
    STEP is asked again with a step that is also a multiple of the moved values, which keeps whatever they
    divide divisible (the channels of a conv with `groups` equal to them)."""
    got = _output(op, *moved(STEP), index)
    step = STEP
    if got is None:
        step = STEP * math.lcm(*[v for v in values if v > 0])
        got = _output(op, *moved(step), index) if step != STEP else None
    if got is None:
        return 0  # the rule refuses the moved value: treat the dim as not passed through
    if len(got) != len(out) or not is_int(got[ax]):
        return None
    change = got[ax] - out[ax]
    if change in (0, step):
        return change // step
    return Fraction(change, step) if 0 < change and step % change == 0 else None


def _elements_given(op, attrs, ins: list, index: int, out: tuple, ax: int):
    """(attribute, item) of each item of a tuple attribute that gives the output dim `ax`: moved alone, or with
    an input dim so that the op still holds (reshape's element count, split's sum), the output moves with it
    and no other output dim does."""
    for name, value in attrs.items():
        if not isinstance(value, tuple):
            continue
        for i, e in enumerate(value):
            if not is_int(e) or e <= 0 or e != out[ax]:
                continue
            dims = [(j, k) for j, s in enumerate(ins) if isinstance(s, tuple) for k, d in enumerate(s)
                    if is_int(d) and d > 0]
            tries = [(e + STEP, ins)] + [(e + STEP, _moved(ins, [d], STEP)) for d in dims] \
                + [(e * 2, _moved(ins, [(j, k)], ins[j][k])) for j, k in dims]  # doubled: the count kept
            for new, shapes in tries:
                got = _output(op, {**attrs, name: value[:i] + (new,) + value[i + 1:]}, shapes, index)
                if got is not None and len(got) == len(out) and got[ax] == new \
                        and all(g == o for n, (g, o) in enumerate(zip(got, out)) if n != ax):
                    yield name, i
                    break


def _moved(shapes: list, group: list, step: int) -> list:
    """The input shapes with the dims of `group` ((input, axis) pairs) moved by `step`."""
    out = [list(s) for s in shapes]
    for j, k in group:
        out[j][k] += step
    return [tuple(s) for s in out]


def _input_groups(ins: list, from_right: int):
    """The input dims to move: each alone, and the dims aligned from the right in every input at once
    (elementwise ops need those equal)."""
    aligned = []
    for j, s in enumerate(ins):
        if not isinstance(s, tuple):
            continue
        for k, d in enumerate(s):
            if is_int(d):
                yield [(j, k)]
        k = len(s) + from_right
        if 0 <= k < len(s) and is_int(s[k]):
            aligned.append((j, k))
    if len(aligned) > 1:
        yield aligned
