"""Where a block's inferred sizes come from, as expressions in its parameters and input sizes.

`in_channels` of a block's second conv is the first conv's `out_channels`, which the spec wrote as `planes`.
The tracer follows a dim backwards through the block's dataflow: an op either passes the dim through from an
input or makes it from one of its attributes, which the shape rule itself tells (change the input's dim or
the attribute, and see whether the output's dim follows). Blocks called inside are traced in their own terms,
then their parameters are replaced by the arguments the caller wrote. Whatever is not found this way stays a
number; callers check every expression against every instance, so a wrong guess cannot reach the output.
"""
from __future__ import annotations

from typing import Any

import sympy

from ...elaborate.evaluate import Evaluator
from ...elaborate.scope import Scope
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
    """The AST call that made each block instance and layer: `conv2d(planes, 3)` for `layer1.0.conv2`."""

    def __init__(self, graph: Graph):
        self.call: dict[int, tuple[A.Call, Module]] = {}  # id(module) -> (call, the instance it is declared in)
        for root in graph.roots.values():
            for m in root.walk():
                if m.kind == "block":
                    for lname, node, _ in m.block.layers:
                        if lname in m.children:
                            self._match(m.children[lname], unwrap(node), m)

    def _match(self, child: Module, node, owner: Module) -> None:
        if isinstance(node, A.Call) and child.kind in ("op", "block"):
            self.call[id(child)] = (node, owner)
        elif isinstance(node, A.ListExpr) and child.kind == "seq" and len(node.items) == len(child.children) \
                and not any(isinstance(i, A.Star) for i in node.items):
            for item, grandchild in zip(node.items, child.children.values()):
                self._match(grandchild, unwrap(item), owner)
        elif isinstance(node, A.DictExpr) and child.kind == "seq":  # a map of named layers, by its literal keys
            for key, item in zip(node.keys, node.values):
                if isinstance(key, A.Const) and key.value in child.children:
                    self._match(child.children[key.value], unwrap(item), owner)

    def of(self, module: Module) -> tuple[A.Call, Module] | None:
        return self.call.get(id(module))


def unwrap(node):
    """`x if c` (None otherwise) declares `x`."""
    return node.body if isinstance(node, A.Cond) and node.orelse is None else node


def bound_args(call: A.Call, names: list[str]) -> dict[str, Any] | None:
    """The argument ASTs of a call by parameter name; None when a `*` spreads arguments."""
    if any(isinstance(a, A.Star) for a in call.args):
        return None
    out = dict(zip(names, call.args))
    out.update({k: v for k, v, _ in call.kwargs})
    return out


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
    """A block's scope with its integer parameters as symbols (lets recomputed over them)."""

    def __init__(self, module: Module):
        args = block_scope(module)
        self.ok = args is not None
        if not self.ok:
            return
        names = {k: param_symbol(k) if is_int(v) else v for k, v in args.vars.items()}
        scope = args.parent.child(names, args.what)
        ev = Evaluator()
        for lname, node, _ in module.block.lets:
            try:
                value = ev.static(node, scope)
            except (ArchDSLError, TypeError, ValueError, ZeroDivisionError):
                # `int(planes * base / 64) * groups`: no expression in the parameters, but a size of its own
                value = param_symbol(lname) if is_int(module.static_scope.lookup(lname, None)) else _UNKNOWN
            scope = scope.child({lname: value}, "let")
        self.scope = scope

    def value(self, node):
        """An argument's value in terms of the symbols: an int or a sympy expression, else None."""
        if not self.ok:
            return None
        try:
            v = Evaluator().static(node, self.scope)
        except (ArchDSLError, TypeError, ValueError, ZeroDivisionError, AttributeError):
            return None
        if is_int(v) or (isinstance(v, sympy.Expr) and _UNKNOWN_SYMBOL not in v.free_symbols):
            return v
        return None


_UNKNOWN_SYMBOL = sympy.Symbol("unknown@")
_UNKNOWN: Any = _UNKNOWN_SYMBOL


class SizeTracer:
    def __init__(self, graph: Graph, decls: Declarations):
        self.graph, self.decls = graph, decls
        self.symbolic: dict[int, Symbolic] = {}
        self.memo: dict = {}

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
        key = (id(module), t, axis)
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
        args = bound_args(decl[0], [p[0] for p in inner.block.params]) if decl else None
        for s in expr.free_symbols:
            name = s.name
            if "@" in name:  # an input size of the inner block: traced in this block
                j, ax = (int(x) for x in name.removeprefix("input").split("@"))
                subs[s] = self.trace(module, inner.inputs[j], ax)
            elif args is not None and name in args:
                subs[s] = self.sym(module).value(args[name])
            else:
                subs[s] = inner.args.get(name) if is_int(inner.args.get(name)) else None
            if subs[s] is None:
                return None
        return sympy.sympify(expr).xreplace(subs)

    def _through_op(self, module: Module, t: Tensor, node: dict, axis: int):
        """The output dim as a sum of input dims and attributes plus a constant, found by moving each."""
        op, attrs = node.op, node.attrs
        ins = input_shapes(self.graph, node)
        flat = ins[0] if op.inputs is None else ins
        tensors = node.inputs[0] if op.inputs is None else node.inputs
        out = _output(op, attrs, flat, t.index)
        if not out or not is_int(out[axis % len(out)]):
            return None
        ax = axis % len(out)
        total, rest, found = 0, out[ax], False
        for group in _input_groups(flat, ax - len(out)):
            if found and len(group) > 1:
                break  # the dims moved one by one already account for the output
            moved = [list(s) for s in flat]
            for j, k in group:
                moved[j][k] += STEP
            slope = _slope(op, attrs, [tuple(s) for s in moved], t.index, out, ax)
            if slope is None:
                return None
            if slope == 1:
                j, k = group[0]
                term = self.trace(module, tensors[j], k)
                if term is None:
                    return None
                total, rest, found = total + term, rest - flat[j][k], True
        for name, value in attrs.items():
            if is_int(value):
                slope = _slope(op, {**attrs, name: value + STEP}, flat, t.index, out, ax)
                if slope is None:
                    return None
                if slope == 1:
                    term = self._attr(module, node, name, value)
                    if term is None:
                        return None
                    total, rest = total + term, rest - value
        return total + rest

    def _attr(self, module: Module, node: dict, name: str, value: int):
        layer = self.graph.module_at(node.module) if node.module else None
        decl = self.decls.of(layer) if layer is not None else None
        if decl is None:
            return value
        args = bound_args(decl[0], [p.name for p in layer.op.params])
        if args is None or name not in args:
            return value
        return self.sym(module).value(args[name])


def _output(op, attrs, ins, index: int):
    from ...ops.registry import Attrs

    try:
        shape = op.shape(Attrs(attrs), ins)
    except (ArchDSLError, ShapeRuleError, TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return tuple(shape[index]) if op.outputs is not None else tuple(shape)


STEP = 720720  # how far a dim or an attribute is moved: divisible by 1..16, so groups still divide


def _slope(op, attrs, ins, index: int, out: tuple, ax: int):
    """How the output dim `ax` moved per STEP: 0 or 1 are understood, None is anything else."""
    got = _output(op, attrs, ins, index)
    if got is None:
        return 0  # the rule refuses the moved value: treat the dim as not passed through
    if len(got) != len(out) or not is_int(got[ax]):
        return None
    slope, remainder = divmod(got[ax] - out[ax], STEP)
    return slope if remainder == 0 and slope in (0, 1) else None


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
