"""Python source from values: literals, docstrings, comments, expressions of the spec's AST, and short lines.

Nothing a spec writes reaches the generated file as raw text: names are validated identifiers, strings go
through `repr`, docstrings and comments through `docstring`/`comment`.
"""
from __future__ import annotations

import ast
import io
import math
import tokenize

from ...syntax import ast as A

MAX_LINE = 100


class Unrenderable(Exception):
    """A value or expression with no faithful Python source (a symbolic dim, an unsupported construct)."""


def literal(value) -> str:
    """Python source that evaluates to `value`: numbers, strings, bools, None, tuples and lists of them."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "-float('inf')"
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise Unrenderable(f"no Python literal for {value!r}")


def docstring(text: str, indent: str) -> str:
    """A docstring that reads back as `text` (long lines wrapped at spaces): escapes, quotes and odd
    characters escaped."""
    width = MAX_LINE - len(indent) - 6
    lines = [repr(part)[1:-1].replace('"', '\\"')  # repr escapes backslashes and unprintable characters
             for line in text.split("\n") for part in _wrap_at_spaces(line, width)]
    return f'{indent}"""' + ("\n" + indent).join(lines) + '"""'


def _wrap_at_spaces(line: str, width: int) -> list[str]:
    """`line` cut at single spaces into pieces of at most `width` characters where it can be."""
    lead = line[:len(line) - len(line.lstrip(" "))]  # kept as written: indentation is part of the text
    out = [""]
    for word in line[len(lead):].split(" "):
        if out[-1] and len(out[-1]) + 1 + len(word) > width:
            out.append(word)
        else:
            out[-1] = f"{out[-1]} {word}" if out[-1] else word
    return [lead + out[0]] + out[1:]


def comment(text: str) -> str:
    """`# text` on one line, whatever `text` holds."""
    return "# " + repr(text)[1:-1] if not text.isprintable() else "# " + text


# --- expressions of the spec's AST, with a callback naming the names -------------------------------------

_PY_BINOPS = {"+", "-", "*", "/", "//", "%", "**"}
_LEVEL = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7,
          "unary": 8, "**": 9}


def expression(node: A.Node, name, bound: frozenset = frozenset()) -> str:
    """Python source of an argument expression; `name(id)` gives each name's source or raises Unrenderable;
    the names `bound` are written as they are. Lists, tuples, dicts, indexing, slices and list comprehensions
    are written as Python's, whose meaning the spec's are (the names a comprehension binds are its own)."""
    return _expr(node, name, bound)[0]


def iteration(node: A.Node, name) -> str:
    """Python source of what a comprehension iterates over: `range(n)` (a list in the spec, iterated alike)."""
    if isinstance(node, A.Call) and isinstance(node.func, A.Name) and node.func.id == "range" and not node.kwargs \
            and 1 <= len(node.args) <= 3 and not any(isinstance(a, A.Star) for a in node.args):
        return f"range({', '.join(expression(a, name) for a in node.args)})"
    return expression(node, name)


def _expr(node, name, bound: frozenset) -> tuple[str, int]:
    def sub(n, level: int = 0) -> str:
        text, own = _expr(n, name, bound)
        return f"({text})" if own < level else text

    if isinstance(node, A.Name):
        return (node.id if node.id in bound else name(node.id)), 10
    if isinstance(node, A.Const):
        return literal(node.value), 10
    if isinstance(node, A.BinOp) and node.op in _PY_BINOPS:
        level = _LEVEL[node.op]
        right_level = level + (node.op != "**")
        return f"{sub(node.left, level + (node.op == '**'))} {node.op} {sub(node.right, right_level)}", level
    if isinstance(node, A.Unary):
        if node.op == "not":
            return f"not {sub(node.operand, _LEVEL['not'])}", _LEVEL["not"]
        return f"{node.op}{sub(node.operand, _LEVEL['unary'])}", _LEVEL["unary"]
    if isinstance(node, A.BoolOp):
        level = _LEVEL[node.op]
        return f"{sub(node.left, level)} {node.op} {sub(node.right, level + 1)}", level
    if isinstance(node, A.Compare):
        level = _LEVEL["cmp"]
        parts = [sub(node.first, level + 1)]
        for op, right in zip(node.ops, node.rest):
            parts += [op, sub(right, level + 1)]
        return " ".join(parts), level
    if isinstance(node, A.Cond) and node.orelse is not None:
        return f"{sub(node.body, 1)} if {sub(node.test, 1)} else {sub(node.orelse)}", 0
    if isinstance(node, A.TupleExpr):
        inner = ", ".join(sub(i) for i in node.items)
        return (f"({inner},)" if len(node.items) == 1 else f"({inner})"), 10
    if isinstance(node, A.ListExpr) and not any(isinstance(i, A.Star) for i in node.items):
        return "[" + ", ".join(sub(i) for i in node.items) + "]", 10
    if isinstance(node, A.DictExpr):
        return "{" + ", ".join(f"{sub(k)}: {sub(v)}" for k, v in zip(node.keys, node.values)) + "}", 10
    if input_size(node) is not None and node.value.value.id not in bound:  # `x.shape[1]`: named by `name`
        return name(input_size(node)), 10
    if isinstance(node, A.Index) and len(node.items) == 1:
        return f"{sub(node.value, 10)}[{_index(node.items[0], sub)}]", 10
    if isinstance(node, A.ListComp):
        inner, fors = bound, []
        for comp in node.fors:
            fors.append(f"for {targets_source(comp.targets)} in {_expr(comp.iter, name, inner)[0]}")
            inner = inner | bound_by(comp.targets)
            fors += [f"if {_expr(c, name, inner)[0]}" for c in comp.conds]
        return f"[{_expr(node.elt, name, inner)[0]} {' '.join(fors)}]", 10
    if isinstance(node, A.Call) and isinstance(node.func, A.Name) and node.func.id in _PURE \
            and node.func.id not in bound and not node.kwargs and not any(isinstance(a, A.Star) for a in node.args):
        return f"{node.func.id}({', '.join(sub(a) for a in node.args)})", 10
    raise Unrenderable(type(node).__name__)


# builtins whose spec meaning is Python's (the spec's range, zip and enumerate make lists: not these)
_PURE = {"round", "int", "float", "str", "min", "max", "abs", "len", "sum"}


def _index(item, sub) -> str:
    if isinstance(item, A.Slice):
        parts = ["" if p is None else sub(p) for p in (item.lower, item.upper, item.step)]
        return ":".join(parts[:2] if item.step is None else parts)
    return sub(item)


def targets_source(targets) -> str:
    """A comprehension's loop targets: `v`, `i, (a, b)`."""
    if isinstance(targets, A.Name):
        return targets.id
    parts = [targets_source(t) if isinstance(t, A.Name) else f"({targets_source(t)})" for t in targets]
    return ", ".join(parts)


def bound_by(targets) -> frozenset:
    if isinstance(targets, A.Name):
        return frozenset({targets.id})
    return frozenset().union(*(bound_by(t) for t in targets))


def input_size(node) -> str | None:
    """`x.shape[1]` for an expression that reads a size of the tensor named x, else None."""
    if isinstance(node, A.Index) and len(node.items) == 1 and isinstance(node.items[0], A.Const) \
            and isinstance(node.items[0].value, int) and not isinstance(node.items[0].value, bool) \
            and isinstance(node.value, A.Attr) and node.value.name == "shape" and isinstance(node.value.value, A.Name):
        return f"{node.value.value.id}.shape[{node.items[0].value}]"
    return None


def names_in(node) -> set[str]:
    """Every name an expression reads."""
    if isinstance(node, A.Name):
        return {node.id}
    out: set[str] = set()
    for value in vars(node).values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, A.Node):
                out |= names_in(item)
            elif isinstance(item, tuple):  # kwargs: (name, Node, Span)
                out |= set().union(*(names_in(x) for x in item if isinstance(x, A.Node)))
    return out


# --- short lines -------------------------------------------------------------------------------------------

def fit(line: str) -> list[str]:
    """`line` as it is when short enough, else split inside its first bracket, as black would."""
    if len(line) <= MAX_LINE:
        return [line]
    code, note = _split_comment(line)
    terms = _sum_terms(code)
    if terms is not None:
        head, parts = terms
        indent = code[:len(code) - len(code.lstrip())]
        body = [f"{indent}    {p}" for p in parts]
        return [f"{head}(" + (f"  {note}" if note else "")] + [x for b in body for x in fit(b)] + [f"{indent})"]
    span = _first_bracket(code)
    if span is None:
        return [line]
    opening, closing = span
    indent = code[:len(code) - len(code.lstrip())]
    first = code[:opening + 1] + (f"  {note}" if note else "")
    args = _top_level_items(code[opening + 1:closing])
    one = indent + "    " + ", ".join(args)
    clauses = _comprehension_clauses(args[0]) if len(args) == 1 else None
    if len(one) <= MAX_LINE:
        body = [one]
    elif clauses is not None:  # a comprehension: its element, then each `for` and `if` on a line
        body = [indent + "    " + c for c in clauses]
    else:  # one item gets no comma: `(a + b,)` would be a tuple
        body = [indent + "    " + a + ("," if len(args) > 1 else "") for a in args]
    return [first] + [part for item in body for part in fit(item)] + [indent + code[closing:]]


def _comprehension_clauses(item: str) -> list[str] | None:
    """`x for v in vs if c` as ['x', 'for v in vs', 'if c']; None for anything but a comprehension's inside."""
    try:
        tree = ast.parse(f"[{item}]", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.ListComp):
        return None
    text = f"[{item}]"
    out = [ast.get_source_segment(text, tree.elt)]
    for gen in tree.generators:
        out.append(f"for {ast.get_source_segment(text, gen.target)} in {ast.get_source_segment(text, gen.iter)}")
        out += [f"if {ast.get_source_segment(text, c)}" for c in gen.ifs]
    return out


def _sum_terms(code: str):
    """`x = a + b - c` as ('x = ', ['a', '+ b', '- c']): an assignment whose value is a sum, split at its
    top-level operators; None for anything else."""
    try:
        tree = ast.parse(code.strip())
    except SyntaxError:
        return None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    value = getattr(stmt, "value", None)
    if not isinstance(stmt, (ast.Assign, ast.Return)) or not isinstance(value, ast.BinOp) \
            or not isinstance(value.op, (ast.Add, ast.Sub)):
        return None
    terms = []
    while isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub)):
        terms.append(("+ " if isinstance(value.op, ast.Add) else "- ") + ast.get_source_segment(code.strip(),
                                                                                                value.right))
        value = value.left
    terms.append(ast.get_source_segment(code.strip(), value))
    indent = code[:len(code) - len(code.lstrip())]
    head = indent + code.strip()[:stmt.value.col_offset]
    return head, terms[::-1]


def _split_comment(line: str) -> tuple[str, str]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return line, ""
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            at = line.rindex(tok.string)
            return line[:at].rstrip(), tok.string
    return line, ""


def _outside_strings(code: str):
    """(index, character, bracket depth before it) of each character of `code` outside string literals."""
    depth, quote = 0, None
    for i, ch in enumerate(code):
        if quote:
            if ch == quote and code[i - 1] != "\\":
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            continue
        yield i, ch, depth
        depth += (ch in "([{") - (ch in ")]}")


def _first_bracket(code: str) -> tuple[int, int] | None:
    """The first bracket pair with something inside, as (opening index, closing index)."""
    opening = None
    for i, ch, depth in _outside_strings(code):
        if ch in "([{" and depth == 0:
            opening = i
        elif ch in ")]}" and depth == 1 and opening is not None and i > opening + 1:
            return opening, i
    return None


def _top_level_items(inner: str) -> list[str]:
    items, start = [], 0
    for i, ch, depth in _outside_strings(inner):
        if ch == "," and depth == 0:
            items.append(inner[start:i].strip())
            start = i + 1
    last = inner[start:].strip()
    return items + ([last] if last else [])


def sympy_source(expr, name) -> str:
    """Python source of a size expression: integers, names (`name(symbol)`), +, -, * by integers and names,
    floor division by a number or by names (a stride: `(h - 1) // stride`) and % by a number."""
    return _sympy(expr, name)[0]


def _sympy(expr, name) -> tuple[str, int]:
    """(source, binding): 1 a sum, 2 a product (*, //, %), 3 an atom."""
    import sympy

    if expr.is_Integer:
        return str(int(expr)), 3 if expr >= 0 else 1
    if expr.is_Symbol:
        return name(expr), 3
    if isinstance(expr, sympy.Add):
        terms = sorted(expr.args, key=lambda t: t.is_number)  # the constant last
        out = _sympy(terms[0], name)[0]
        for t in terms[1:]:
            negative = t.could_extract_minus_sign()
            out += (" - " if negative else " + ") + _wrap(-t if negative else t, name, 2)
        return out, 1
    if isinstance(expr, sympy.Mul):
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            return "-" + _wrap(rest, name, 3), 2
        # each factor an atom: `a * (b // 2)` is not `a * b // 2`
        factors = [_wrap(f, name, 3) for f in rest.as_ordered_factors()]
        if coeff != 1:
            if not coeff.is_Integer:
                raise Unrenderable(str(expr))
            factors.insert(0, str(int(coeff)))  # `4 * dim`, as a spec writes it
        return " * ".join(factors), 2
    if isinstance(expr, sympy.Mod) and expr.args[1].is_Integer:
        return f"{_wrap(expr.args[0], name, 2)} % {int(expr.args[1])}", 2
    if isinstance(expr, sympy.floor):
        num, den = expr.args[0].as_numer_denom()
        if den.is_Integer:
            return f"{_wrap(num, name, 2)} // {int(den)}", 2
        if den.is_positive:
            return f"{_wrap(num, name, 2)} // {_wrap(den, name, 3)}", 2
    raise Unrenderable(str(expr))


def _wrap(expr, name, level: int) -> str:
    """`expr`'s source, parenthesized where it binds more loosely than `level`."""
    text, own = _sympy(expr, name)
    return f"({text})" if own < level else text
