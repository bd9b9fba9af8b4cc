"""AST -> canonical expression text: single spaces around binary operators, `, ` between items, `name=value`
for keywords, single-quoted strings, and only the parentheses precedence needs. Parsing the text gives the
same AST (spans aside); `archdsl fmt` is built on this.
"""
from __future__ import annotations

from . import ast as A

# binding strength, loosest first; an operand looser than its slot needs parentheses
TUPLE, COND, OR, AND, NOT, COMPARE, CHAIN, ARITH, TERM, UNARY, POWER, POSTFIX, ATOM = range(13)
_BINOP_LEVEL = {"+": ARITH, "-": ARITH, "*": TERM, "/": TERM, "//": TERM, "%": TERM, "@": TERM, "**": POWER}


def unparse(node, level: int = TUPLE) -> str:
    """Canonical text of an expression, parenthesized when it binds looser than `level` requires."""
    text, own = _render(node)
    return f"({text})" if own < level else text


def unparse_stmt(stmt) -> str:
    if isinstance(stmt, A.Assign):
        return f"{_targets(stmt.targets, top=True)} = {unparse(stmt.value)}"
    if isinstance(stmt, A.Return):
        return f"return {unparse(stmt.value)}"
    if isinstance(stmt, A.Assert):
        return f"assert {unparse(stmt.test, COND)}" + (f", {unparse(stmt.msg, COND)}" if stmt.msg else "")
    if isinstance(stmt, A.For):  # several lines: the body indented by 4
        body = "\n".join(unparse_stmt(s) for s in stmt.body).replace("\n", "\n    ")
        return f"for {_targets(stmt.target, top=True)} in {unparse(stmt.iter, OR)}:\n    {body}"
    return unparse(stmt)


def _targets(t, top: bool = False) -> str:
    if isinstance(t, A.Name):
        return t.id
    inner = ", ".join(_targets(x) for x in t) + ("," if len(t) == 1 else "")
    return inner if top else f"({inner})"


def _const(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "None"
    if v is Ellipsis:
        return "..."
    if isinstance(v, str):
        return f'"{v}"' if "'" in v else f"'{v}'"
    if isinstance(v, float):
        return _float(v)
    return repr(v)


def _float(v: float) -> str:
    """repr, but small numbers as `1e-4` (not `0.0001`) and exponents without padding (`1e-5`, not `1e-05`)."""
    from decimal import Decimal

    text = repr(v)
    if "e" in text:
        mantissa, exp = text.split("e")
        candidate = f"{mantissa}e{int(exp)}"
    elif 0 < abs(v) < 1e-3:
        candidate = format(Decimal(text), "e")
    else:
        return text
    return candidate if float(candidate) == v else text


def _items(items) -> str:
    return ", ".join(unparse(i, COND) for i in items)


def _render(node) -> tuple[str, int]:  # noqa: C901 - one case per node type
    if isinstance(node, A.Name):
        return node.id, ATOM
    if isinstance(node, A.Const):
        return _const(node.value), ATOM if not (isinstance(node.value, (int, float)) and node.value < 0) else UNARY
    if isinstance(node, A.ListExpr):
        return f"[{_items(node.items)}]", ATOM
    if isinstance(node, A.TupleExpr):
        if not node.items:
            return "()", ATOM
        if len(node.items) == 1:
            return f"({unparse(node.items[0], COND)},)", ATOM
        return _items(node.items), TUPLE
    if isinstance(node, A.DictExpr):
        return "{" + ", ".join(f"{unparse(k, COND)}: {unparse(v, COND)}" for k, v in zip(node.keys, node.values)) \
            + "}", ATOM
    if isinstance(node, A.Star):
        return f"*{unparse(node.value, COND)}", ATOM
    if isinstance(node, A.ListComp):
        elt = unparse(node.elt, COND)
        if isinstance(node.elt, A.Cond) and node.elt.orelse is None:
            elt = f"({elt})"
        return f"[{elt} {' '.join(_comprehension(c) for c in node.fors)}]", ATOM
    if isinstance(node, A.DictComp):
        fors = " ".join(_comprehension(c) for c in node.fors)
        return f"{{{unparse(node.key, COND)}: {unparse(node.value, COND)} {fors}}}", ATOM
    if isinstance(node, A.Lambda):
        params = ", ".join(n if d is None else f"{n}={unparse(d, COND)}" for n, d in node.params)
        return f"lambda{' ' if params else ''}{params}: {unparse(node.body, COND)}", COND
    if isinstance(node, A.Call):
        args = [unparse(a, COND) for a in node.args] + [f"{k}={unparse(v, COND)}" for k, v, _ in node.kwargs]
        return f"{unparse(node.func, POSTFIX)}({', '.join(args)})", POSTFIX
    if isinstance(node, A.Index):
        subs = ", ".join(_subscript(s) for s in node.items)
        return f"{unparse(node.value, POSTFIX)}[{subs}]", POSTFIX
    if isinstance(node, A.Attr):
        return f"{unparse(node.value, POSTFIX)}.{node.name}", POSTFIX
    if isinstance(node, A.BinOp):
        level = _BINOP_LEVEL[node.op]
        if node.op == "**":  # right-associative: postfix ** factor
            return f"{unparse(node.left, POSTFIX)} ** {unparse(node.right, UNARY)}", POWER
        return f"{unparse(node.left, level)} {node.op} {unparse(node.right, level + 1)}", level
    if isinstance(node, A.Unary):
        if node.op == "not":
            return f"not {unparse(node.operand, NOT)}", NOT
        return f"{node.op}{unparse(node.operand, UNARY)}", UNARY
    if isinstance(node, A.Compare):
        parts = [unparse(node.first, CHAIN)]
        for op, right in zip(node.ops, node.rest):
            parts += [op, unparse(right, CHAIN)]
        return " ".join(parts), COMPARE
    if isinstance(node, A.BoolOp):
        level = OR if node.op == "or" else AND
        return f"{unparse(node.left, level)} {node.op} {unparse(node.right, level + 1)}", level
    if isinstance(node, A.Cond):
        text = f"{unparse(node.body, OR)} if {unparse(node.test, OR)}"
        if node.orelse is not None:
            text += f" else {unparse(node.orelse, COND)}"
        return text, COND
    if isinstance(node, A.Chain):
        return " >> ".join(unparse(i, ARITH) for i in node.items), CHAIN
    raise TypeError(f"cannot unparse {type(node).__name__}")


def _comprehension(c) -> str:
    targets = c.targets if isinstance(c.targets, tuple) else (c.targets,)
    text = f"for {', '.join(_targets(t) for t in targets)} in {unparse(c.iter, OR)}"
    return text + "".join(f" if {unparse(cond, OR)}" for cond in c.conds)


def _subscript(s) -> str:
    if isinstance(s, A.Slice):
        parts = ["" if p is None else unparse(p, COND) for p in (s.lower, s.upper)]
        text = ":".join(parts)
        return text + (f":{unparse(s.step, COND)}" if s.step is not None else "")
    return unparse(s, COND)
