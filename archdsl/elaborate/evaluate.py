"""Evaluate expressions: static values (parameters, layer definitions) and dataflow (forward).

One evaluator serves both: where an operand is a graph Tensor, an operation adds a graph node via
the `dataflow` hooks (see build.py); otherwise it is computed at once, like Python would.
"""
from __future__ import annotations

import operator
from contextvars import ContextVar
from typing import Any

from ..errors import ArgumentError, LimitError, Span, TypeError_
from ..ir.graph import ModeChoice, Tensor
from ..ops.registry import bind
from ..syntax import ast as A
from ..limits import current as current_limit, exceeded
from .modes import HINT as MODES_HINT
from .scope import Scope
from .values import (TEMPLATES, TRAINING, BlockFn, BlockTemplate, Builtin, Function, InputSizes, LoopForm, OpFn,
                     OpTemplate, describe)

_BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
_TENSOR_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul"}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge, "in": lambda a, b: a in b}


def is_tensorish(v) -> bool:
    return isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and bool(v) and all(isinstance(t, Tensor) for t in v))


class Evaluator:
    """Expression semantics. Subclasses provide the dataflow: apply(), apply_op_name()."""

    def eval(self, node: A.Node, scope: Scope) -> Any:
        method = getattr(self, "eval_" + type(node).__name__)
        return method(node, scope)

    def static(self, node: A.Node, scope: Scope, what: str = "value"):
        v = self.eval(node, scope)
        if is_tensorish(v):
            raise TypeError_(f"a tensor cannot be used as a {what}", node.span,
                             hint="conditions, repeat counts and op arguments must be known before the model runs")
        return v

    # --- atoms
    def eval_Name(self, node: A.Name, scope: Scope):
        return scope.lookup(node.id, node.span)

    def eval_Const(self, node: A.Const, scope: Scope):
        return node.value

    def eval_ListExpr(self, node: A.ListExpr, scope: Scope):
        out = []
        for item in node.items:
            if isinstance(item, A.Star):
                v = self.eval(item.value, scope)
                if not isinstance(v, (list, tuple)):
                    raise TypeError_(f"`*` needs a list, got {describe(v)}", item.span)
                out.extend(v)
            else:
                out.append(self.eval(item, scope))
        _charge(len(out), node)
        return out

    def eval_TupleExpr(self, node: A.TupleExpr, scope: Scope):
        return _charged(tuple(self.eval(i, scope) for i in node.items), node)

    def eval_DictExpr(self, node: A.DictExpr, scope: Scope):
        out = {}
        for k, v in zip(node.keys, node.values):
            out[self._key(k, scope)] = self.eval(v, scope)
        return _charged(out, node)

    def _key(self, node: A.Node, scope: Scope):
        key = self.static(node, scope, "dict key")
        try:
            hash(key)
        except TypeError:
            raise TypeError_(f"{describe(key)} cannot be a dict key", node.span) from None
        return key

    def eval_Lambda(self, node: A.Lambda, scope: Scope):
        return Function(node, scope)

    def call_function(self, fn: Function, args: list, kwargs: dict, span: Span):
        """A user function's body evaluated with its arguments bound, defaults evaluated where it is written."""
        params = [n for n, _ in fn.node.params]
        if len(args) > len(params):
            raise ArgumentError(f"the lambda takes {len(params)} arguments, got {len(args)}", span,
                                hint=f"its parameters: {', '.join(params) or '(none)'}")
        names = {n: v for n, (v, _) in zip(params, args)}
        for key, (v, where) in kwargs.items():
            if key not in params or key in names:
                raise ArgumentError(f"the lambda {'has no parameter' if key not in params else 'got twice'} "
                                    f"`{key}`", where, hint=f"its parameters: {', '.join(params)}")
            names[key] = v
        for n, default in fn.node.params:
            if n not in names:
                if default is None:
                    raise ArgumentError(f"the lambda is missing its argument `{n}`", span,
                                        hint=f"its parameters: {', '.join(params)}")
                names[n] = self.eval(default, fn.scope)
        return self.eval(fn.node.body, fn.scope.child(names, "lambda"))

    def eval_Star(self, node: A.Star, scope: Scope):
        raise TypeError_("`*` is only allowed inside a list or a call's arguments", node.span)

    def eval_ListComp(self, node: A.ListComp, scope: Scope):
        out: list = []
        self._comprehension(node, scope, lambda inner: out.append(self.eval(node.elt, inner)))
        return out

    def eval_DictComp(self, node: A.DictComp, scope: Scope):
        out: dict = {}

        def put(inner: Scope):
            out[self._key(node.key, inner)] = self.eval(node.value, inner)

        self._comprehension(node, scope, put)
        return out

    def _comprehension(self, node, scope: Scope, emit):
        """Iterations are bounded by `max_repeat`; all the work of the outermost comprehension, the lists its
        elements build and read included, by `max_work`."""
        outermost = _work.get() is None
        token = _work.set([0]) if outermost else None
        try:
            self._loop(node, scope, emit)
        finally:
            if outermost:
                _work.reset(token)

    def _loop(self, node, scope: Scope, emit) -> None:
        limit, steps = current_limit("max_repeat"), [0]

        def loop(level: int, inner: Scope):
            if level == len(node.fors):
                emit(inner)
                return
            comp = node.fors[level]
            iterable = self.static(comp.iter, inner, "loop range")
            if not isinstance(iterable, (list, tuple, dict, str)):
                raise TypeError_(f"cannot loop over {describe(iterable)}", comp.iter.span)
            for item in iterable:
                steps[0] += 1  # iterations, kept or filtered out: nested loops multiply
                _charge(1, node)
                if steps[0] > limit:
                    raise LimitError(f"the comprehension runs more than {limit:,} iterations (the limit "
                                     "`max_repeat`)", node.span, hint=exceeded("max_repeat"))
                names: dict = {}
                self.bind_targets(comp.targets if len(comp.targets) > 1 else comp.targets[0], item, names,
                                  comp.span)
                here = inner.child(names)
                if all(self.truth(c, here) for c in comp.conds):
                    loop(level + 1, here)

        loop(0, scope)

    def bind_targets(self, target, value, names: dict, span: Span) -> None:
        if isinstance(target, A.Name):
            names[target.id] = value
            return
        if not isinstance(value, (list, tuple)) or len(value) != len(target):
            got = f"{len(value)} values" if isinstance(value, (list, tuple)) else describe(value)
            raise TypeError_(f"cannot unpack {got} into {len(target)} names", span)
        for t, v in zip(target, value):
            self.bind_targets(t, v, names, span)

    # --- operators
    def truth(self, node: A.Node, scope: Scope) -> bool:
        return self._truth(self.static(node, scope, "condition"), node)

    @staticmethod
    def _truth(v, node: A.Node) -> bool:
        if not isinstance(v, (bool, int, float, str, list, tuple, dict, type(None))):
            raise TypeError_(f"{describe(v)} cannot be used as a condition", node.span,
                             hint="`training` chooses between two tensors: `a if training else b`"
                             if v is TRAINING else None)
        return bool(v)

    def eval_Cond(self, node: A.Cond, scope: Scope):
        test = self.static(node.test, scope, "condition")
        if test is TRAINING and node.orelse is not None:
            return self.mode_branch(node, scope)
        if self._truth(test, node.test):
            return self.eval(node.body, scope)
        return None if node.orelse is None else self.eval(node.orelse, scope)

    def eval_BoolOp(self, node: A.BoolOp, scope: Scope):
        left = self.truth(node.left, scope)
        if node.op == "and":
            return left and self.truth(node.right, scope)
        return left or self.truth(node.right, scope)

    def eval_Unary(self, node: A.Unary, scope: Scope):
        if node.op == "not":
            return not self.truth(node.operand, scope)
        v = self.eval(node.operand, scope)
        if isinstance(v, Tensor):
            if node.op == "+":
                return v
            return self.tensor_binop("*", v, -1, node)
        if isinstance(v, bool) or not _is_number(v):
            raise TypeError_(f"cannot apply unary `{node.op}` to {describe(v)}", node.span)
        return -v if node.op == "-" else v

    def eval_Compare(self, node: A.Compare, scope: Scope):
        left = self.static(node.first, scope, "comparison operand")
        for op, right_node in zip(node.ops, node.rest):
            right = self.static(right_node, scope, "comparison operand")
            _charge(_size(right) if op == "in" else 1, node)  # `in` scans the list
            try:
                ok = _COMPARE[op](left, right)
                ok = bool(ok)
            except TypeError:
                raise TypeError_(f"cannot compare {describe(left)} with {describe(right)} using `{op}`",
                                 node.span) from None
            if not ok:
                return False
            left = right
        return True

    def eval_BinOp(self, node: A.BinOp, scope: Scope):
        left, right = self.eval(node.left, scope), self.eval(node.right, scope)
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.tensor_binop(node.op, left, right, node)
        if node.op == "*" and isinstance(right, int) and (isinstance(left, TEMPLATES) or isinstance(left, list)):
            return self.repeat(left, right, node)
        if node.op == "*" and isinstance(left, int) and isinstance(right, TEMPLATES):
            return self.repeat(right, left, node)
        ok_types = (isinstance(left, (list, tuple)) and isinstance(right, type(left)) and node.op == "+") or \
                   (isinstance(left, str) and isinstance(right, str) and node.op == "+") or \
                   (_is_number(left) and _is_number(right) and node.op in _BINOPS)
        if not ok_types:
            raise TypeError_(f"cannot compute {describe(left)} {node.op} {describe(right)}", node.span)
        if node.op == "**" and not isinstance(right, (int, float)):
            raise TypeError_(f"the exponent must be a number, got {describe(right)}", node.right.span)
        if node.op == "**" and abs(right) > 64:
            raise LimitError(f"exponent {right} is too large", node.right.span)
        if node.op in ("/", "//", "%") and _is_number(right) and right == 0:
            raise TypeError_("division by zero", node.span)
        try:
            return _bounded(_BINOPS[node.op](left, right), node)
        except ZeroDivisionError:
            raise TypeError_("division by zero", node.span) from None
        except OverflowError:
            raise LimitError(f"{describe(left)} {node.op} {describe(right)} is too large to compute", node.span) \
                from None

    def repeat(self, item, count: int, node: A.Node):
        limit = current_limit("max_repeat")
        if count < 0 or count > limit:
            raise LimitError(f"repeat count {count} is outside 0..{limit:,} (the limit `max_repeat`)", node.span,
                             hint="a repeat count is the number of copies of a layer; " + exceeded("max_repeat"))
        if isinstance(item, list) and len(item) * count > limit:
            raise LimitError(f"repeating {len(item)} items {count} times makes more than {limit:,} "
                             "(the limit `max_repeat`)", node.span, hint=exceeded("max_repeat"))
        _charge(len(item) * count if isinstance(item, list) else count, node)
        return list(item) * count if isinstance(item, list) else [item] * count

    def eval_Chain(self, node: A.Chain, scope: Scope, target: str | None = None):
        value = self.eval(node.items[0], scope)
        for link in node.items[1:]:
            fn = self.callee(link, scope)
            value = self.apply(fn, [value], {}, link.span, target)
        return value

    # --- postfix
    def eval_Attr(self, node: A.Attr, scope: Scope):
        v = self.eval(node.value, scope)
        if isinstance(v, InputSizes) and node.name == "shape":
            return v.shape
        if isinstance(v, Tensor):
            raise TypeError_(f"a tensor has no attribute `{node.name}` in `forward`", node.span,
                             hint="a block reads its inputs' sizes in its `let` and `layers:`: `x.shape[1]`")
        raise TypeError_(f"{describe(v)} has no attribute `{node.name}`", node.span,
                         hint="attributes are not part of the spec language; layers are named directly")

    def eval_Index(self, node: A.Index, scope: Scope):
        v = self.eval(node.value, scope)
        if isinstance(v, Tensor):
            return self.tensor_index(v, node, scope)
        return self.index_value(v, node, scope)

    def index_value(self, v, node: A.Index, scope: Scope):
        """A list, tuple, string or dict subscripted."""
        if isinstance(v, ModeChoice):  # an objective's input naming a model's output
            raise TypeError_(f"{describe(v)} cannot be indexed here", node.span, hint=MODES_HINT)
        if len(node.items) != 1 or isinstance(node.items[0], A.Slice):
            if len(node.items) == 1 and isinstance(v, (list, tuple, str)):
                return _charged(v[slice(*self.slice_bounds(node.items[0], scope))], node)
            raise TypeError_(f"{describe(v)} cannot be indexed this way", node.span)
        key = self.static(node.items[0], scope, "index")
        try:
            return v[key]
        except KeyError:
            keys = ", ".join(repr(k) for k in list(v)[:12])
            raise TypeError_(f"{key!r} is not a key of this dict (keys: {keys})", node.items[0].span) from None
        except IndexError:
            raise TypeError_(f"index {key!r} is out of range for {describe(v)} (it has {len(v)} elements)",
                             node.items[0].span) from None
        except TypeError:
            raise TypeError_(f"{describe(v)} cannot be indexed by {describe(key)}", node.span) from None

    def slice_bounds(self, s: A.Slice, scope: Scope) -> tuple:
        """(start, stop, step) of `a:b:c`, each an integer or None."""
        parts = tuple(None if p is None else self.static(p, scope, "slice bound") for p in (s.lower, s.upper, s.step))
        if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
            raise TypeError_("slice bounds must be integers", s.span)
        if parts[2] == 0:
            raise TypeError_("slice step cannot be zero", s.span)
        return parts

    def eval_Slice(self, node: A.Slice, scope: Scope):
        raise TypeError_("a slice is only allowed inside `[...]`", node.span)

    def eval_Call(self, node: A.Call, scope: Scope, target: str | None = None):
        fn = self.callee(node.func, scope)
        args: list = []
        for a in node.args:
            if isinstance(a, A.Star):
                v = self.static(a.value, scope, "argument list")
                if not isinstance(v, (list, tuple)):
                    raise TypeError_(f"`*` needs a list, got {describe(v)}", a.span)
                args += [(x, a.span) for x in v]
            else:
                args.append((self.eval(a, scope), a.span))
        kwargs = {}
        for name, value, span in node.kwargs:
            if name in kwargs:
                raise ArgumentError(f"the argument `{name}` is given twice", span)
            kwargs[name] = (self.eval(value, scope), value.span)
        return self.call(fn, args, kwargs, node.span, target)

    def callee(self, node: A.Node, scope: Scope):
        """What a call or a chain link applies. A name whose value is data, where the same name further out is an
        op, a block or a function (`dropout: 0.1`, then `dropout(x, 0.5)`), is an error that says so."""
        fn = self.eval(node, scope)
        if not isinstance(node, A.Name) or not _is_data(fn):
            return fn
        here = _definer(scope, node.id)
        hidden = next((s.vars[node.id] for s in _chain(here) if not _is_data(s.vars.get(node.id, 0))), None)
        if not isinstance(hidden, (OpFn, BlockFn, Builtin, LoopForm)):
            return fn
        where = self.definition(node.id)
        at = f" at line {where.line}" if where is not None else ""
        raise TypeError_(f"`{node.id}` is {_what(here)}{at} ({describe(fn)}), which hides {describe(hidden)}",
                         node.span, hint=f"rename it (e.g. `{node.id}_p`, there and where it is used) so that "
                                         f"`{node.id}` names {describe(hidden)} again")

    def definition(self, name: str) -> Span | None:
        """Where a parameter or let is defined (the builder knows the spec)."""
        return None

    def call(self, fn, args: list, kwargs: dict, span: Span, target: str | None = None):
        """Call a value: builtins compute, ops and blocks make templates or apply to tensors."""
        values = [a for a, _ in args]
        if isinstance(fn, Builtin):
            if any(is_tensorish(v) for v in values) or any(is_tensorish(v) for v, _ in kwargs.values()):
                raise TypeError_(f"`{fn.name}` works on numbers and lists, not tensors", span)
            try:
                _charge(sum(map(_size, values)), span)  # sum(), max(), sorted() ... read their lists
                return _charged(fn.fn(*values, **{k: v for k, (v, _) in kwargs.items()}), span)
            except LimitError as exc:
                exc.span = span
                raise
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
                raise TypeError_(f"`{fn.name}(...)` failed: {exc}", span) from None
        if isinstance(fn, OpFn):
            n_tensors = _leading_tensors(fn.op, values)
            if n_tensors:
                attrs = bind(fn.op, args[n_tensors:], kwargs, span)
                return self.apply(OpTemplate(fn.op, attrs, span), values[:n_tensors], {}, span, target)
            return OpTemplate(fn.op, bind(fn.op, args, kwargs, span), span)
        if isinstance(fn, LoopForm):
            return self.loop_form(fn, args, kwargs, span, target)
        if isinstance(fn, Function):
            return self.call_function(fn, args, kwargs, span)
        if isinstance(fn, BlockFn):
            if any(is_tensorish(v) for v in values):
                raise TypeError_(f"the block `{fn.block.name}` must be declared under `layers:` before it is "
                                 "applied to tensors", span,
                                 hint=f"add e.g. `b1: {fn.block.name}(...)` to `layers:` and call `b1(x)`")
            return self.bind_block(fn.block, args, kwargs, span)
        return self.apply(fn, values, kwargs, span, target)

    def bind_block(self, block, args: list, kwargs: dict, span: Span) -> BlockTemplate:
        from ..syntax.spec import REQUIRED

        names = [p[0] for p in block.params]
        sig = f"{block.name}({', '.join(names)})"
        if len(args) > len(names):
            raise ArgumentError(f"the block `{block.name}` takes {len(names)} arguments, got {len(args)}",
                                args[len(names)][1], hint=f"signature: {sig}")
        bound = {n: v for n, (v, _) in zip(names, args)}
        for key, (v, where) in kwargs.items():
            if key not in names:
                from ..errors import did_you_mean

                raise ArgumentError(f"the block `{block.name}` has no parameter `{key}`", where,
                                    hint=did_you_mean(key, names) or f"signature: {sig}")
            if key in bound:
                raise ArgumentError(f"the block `{block.name}` got `{key}` twice", where)
            bound[key] = v
        for name, default, _ in block.params:
            if name not in bound and default is REQUIRED:
                raise ArgumentError(f"the block `{block.name}` is missing its argument `{name}`", span,
                                    hint=f"signature: {sig}")
        return BlockTemplate(block, bound, span)

    # --- dataflow hooks, provided by the builder
    def loop_form(self, form, args: list, kwargs: dict, span: Span, target):
        raise TypeError_(f"`{form.kind}` is only available inside `forward`", span)

    def apply(self, fn, values: list, kwargs: dict, span: Span, target: str | None = None):
        raise TypeError_(f"{describe(fn)} cannot be called here", span)

    def tensor_binop(self, op: str, left, right, node: A.Node):
        raise TypeError_("tensors are only available inside `forward`", node.span)

    def tensor_index(self, value: Tensor, node: A.Index, scope: Scope):
        raise TypeError_("tensors are only available inside `forward`", node.span)

    def mode_branch(self, node: A.Cond, scope: Scope):
        raise TypeError_("`training` is only known inside `forward`", node.test.span,
                         hint="layers and values are the same in both modes; choose tensors in `forward`")


def _is_data(v) -> bool:
    """Plain values: numbers, strings, lists, dicts, None, symbolic dims."""
    return v is None or isinstance(v, (bool, int, float, str, list, tuple, dict)) or hasattr(v, "free_symbols")


def _chain(scope: Scope | None):
    while scope is not None:
        yield scope
        scope = scope.parent


def _definer(scope: Scope, name: str) -> Scope | None:
    """The innermost scope that holds `name`."""
    return next((s for s in _chain(scope) if name in s.vars), None)


def _what(scope: Scope | None) -> str:
    """A name's kind, from the scope that holds it: `params`, `let`, `arguments of Block`, ..."""
    what = scope.what if scope is not None else ""
    if what.startswith("arguments of "):
        return f"a parameter of the block `{what[len('arguments of '):]}`"
    return {"params": "a parameter", "let": "a let", "lambda": "a lambda's parameter", "inputs": "an input",
            "input sizes": "an input"}.get(what, "a value")


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, (int, float)) or hasattr(v, "free_symbols")


def _leading_tensors(op, values: list) -> int:
    """How many leading call arguments are tensor inputs (a list of tensors for list-input ops)."""
    if op.inputs is None:
        return 1 if values and is_tensorish(values[0]) and isinstance(values[0], (list, tuple)) else 0
    n = 0
    while n < len(values) and isinstance(values[n], Tensor):
        n += 1
    return n


# The work of the outermost comprehension being evaluated: [elements built or read so far]; None outside one.
_work: ContextVar[list | None] = ContextVar("archdsl_comprehension_work", default=None)


def _size(value) -> int:
    return len(value) if isinstance(value, (list, tuple, dict, str)) else 1


def _charge(n: int, where) -> None:
    """Count `n` elements of work against `max_work` when inside a comprehension; `where`: a node or Span."""
    work = _work.get()
    if work is None:
        return
    work[0] += n
    limit = current_limit("max_work")
    if work[0] > limit:
        raise LimitError(f"the comprehension builds or reads more than {limit:,} elements (the limit `max_work`)",
                         getattr(where, "span", where), hint=exceeded("max_work"))


def _charged(value, where):
    _charge(_size(value), where)
    return value


MAX_INT_BITS = 4096  # far beyond any size or count a spec needs; keeps arithmetic on parameters cheap


def _bounded(value, node: A.Node):
    """The result of `+ - * / // % **` on parameters: bounded integers, strings and lists."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise LimitError(f"the result has more than {MAX_INT_BITS} bits", node.span,
                         hint="numbers in a spec are sizes, counts and rates")
    if isinstance(value, (str, list, tuple)) and len(value) > current_limit("max_repeat"):
        raise LimitError(f"the result has {len(value):,} elements, more than the limit `max_repeat`", node.span,
                         hint=exceeded("max_repeat"))
    return _charged(value, node)
