"""Parse expression-language text (grammar.lark) into the AST, with spans in the spec file."""
from __future__ import annotations

import ast as pyast
from collections import OrderedDict
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Callable

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import LimitError, Span, SyntaxError_
from ..limits import check_int_literal, current as current_limit, exceeded
from . import ast as A

Locate = Callable[[int, int, int], Span]  # (line, col, length) within the text -> Span in the file


class _Layout:
    """Postlexer: newlines inside (), [] and {} continue the line, as in Python; after a line that ends with
    `:` (a `for` header), a more indented line opens a block (_INDENT) that ends at the first line indented as
    the header's (_DEDENT). Other indentation is free, as it always was: only `for` bodies are blocks."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth, blocks, line_indent = 0, [], None  # blocks: (header's indent, body's indent) of each open block
        newline, last = None, None  # the newline before the next token; the last token outside brackets
        for tok in stream:
            if tok.type in ("RPAR", "RSQB", "RBRACE"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL":
                if not depth:
                    newline = newline or tok
                continue
            indent = tok.column - 1
            if line_indent is None:  # the first line: newlines before it separate nothing
                line_indent, newline = indent, None
            elif newline is not None:
                yield from self._layout(newline, tok, indent, line_indent, blocks, last)
                line_indent, newline = indent, None
            if tok.type in ("LPAR", "LSQB", "LBRACE"):
                depth += 1
            last = tok if not depth else last
            yield tok
        for _ in blocks:
            yield Token.new_borrow_pos("_DEDENT", "", last) if last is not None else Token("_DEDENT", "")
        if newline is not None:
            yield newline

    @staticmethod
    def _layout(newline, tok, indent: int, line_indent: int, blocks: list, last):
        if last is not None and last.type == "COLON":
            if indent <= line_indent:
                raise SyntaxError_("the body of `for` must be indented more than its header line",
                                   _relative(tok.line, tok.column, 1),
                                   hint="indent the loop's statements, or write one after the colon")
            yield newline
            blocks.append((line_indent, indent))
            yield Token.new_borrow_pos("_INDENT", "", tok)
            return
        closed = None
        while blocks and indent < blocks[-1][1]:
            closed = blocks.pop()
            yield Token.new_borrow_pos("_DEDENT", "", last)  # where the body ends
        if closed is not None and indent != closed[0]:
            raise SyntaxError_("this line is indented less than the loop's body but more than its header",
                               _relative(tok.line, tok.column, 1),
                               hint="indent it as the body (inside the loop) or as the `for` line (after it)")
        yield newline


@lru_cache(maxsize=None)
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("grammar.lark")).read_text()
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True, cache=True,
                postlex=_Layout())


def _node_span(meta, locate: Locate) -> Span:
    length = meta.end_column - meta.column if getattr(meta, "end_line", None) == meta.line else 1
    return locate(meta.line, meta.column, max(1, length))


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, locate: Locate):
        super().__init__()
        self.locate = locate

    def _s(self, meta) -> Span:
        return _node_span(meta, self.locate)

    def _tok(self, tok: Token) -> Span:
        return self.locate(tok.line, tok.column, len(tok))

    # statements
    def start(self, meta, items):
        stmts = tuple(i for i in items if i is not None)
        return A.Program(self.locate(1, 1, 1), stmts)

    def assign(self, meta, items):
        return A.Assign(self._s(meta), _as_targets(items[0]), items[1])

    def return_stmt(self, meta, items):
        return A.Return(self._s(meta), items[0])

    def assert_stmt(self, meta, items):
        return A.Assert(self._s(meta), items[0], items[1])

    def for_stmt(self, meta, items):
        targets, iterable, *body = items
        target = targets[0] if len(targets) == 1 else targets
        header = self.locate(meta.line, meta.column, 3)  # `for`: the body's lines follow on their own
        return A.For(header, target, iterable, tuple(b for b in body if b is not None))

    def expr_stmt(self, meta, items):
        return items[0]

    def targets(self, meta, items):
        names = tuple(i for i in items if i is not None)
        return names

    def target_name(self, meta, items):
        return A.Name(self._tok(items[0]), str(items[0]))

    # literals and names
    def name(self, meta, items):
        return A.Name(self._tok(items[0]), str(items[0]))

    def int(self, meta, items):
        span = self._tok(items[0])
        check_int_literal(str(items[0]), span)
        return A.Const(span, int(str(items[0]).replace("_", "")))

    def float(self, meta, items):
        return A.Const(self._tok(items[0]), float(items[0]))

    def string(self, meta, items):
        return A.Const(self._tok(items[0]), pyast.literal_eval(str(items[0])))

    def empty_tuple(self, meta, items):
        return A.TupleExpr(self._s(meta), ())

    def tuple(self, meta, items):
        return A.TupleExpr(self._s(meta), tuple(i for i in items if i is not None))

    paren_tuple = tuple

    def list(self, meta, items):
        return A.ListExpr(self._s(meta), items[0] if items[0] is not None else ())

    def list_items(self, meta, items):
        return tuple(i for i in items if i is not None)

    def listcomp(self, meta, items):
        return A.ListComp(self._s(meta), items[0], tuple(items[1:]))

    def comp_for(self, meta, items):
        return A.Comprehension(self._s(meta), items[0], items[1], tuple(items[2:]))

    def dict(self, meta, items):
        pairs = items[0] or ()
        return A.DictExpr(self._s(meta), tuple(pairs[0::2]), tuple(pairs[1::2]))

    def dictcomp(self, meta, items):
        return A.DictComp(self._s(meta), items[0], items[1], tuple(items[2:]))

    def ellipsis(self, meta, items):
        return A.Const(self._s(meta), Ellipsis)

    def lambda_(self, meta, items):
        return A.Lambda(self._s(meta), items[0] or (), items[1])

    def lambda_params(self, meta, items):
        return tuple(items)

    def lambda_param(self, meta, items):
        return (str(items[0]), items[1])

    def dict_items(self, meta, items):
        return tuple(i for i in items if i is not None)

    def star(self, meta, items):
        return A.Star(self._s(meta), items[0])

    # operators
    def cond(self, meta, items):
        body, test, orelse = items
        return A.Cond(self._s(meta), test, body, orelse)

    def comp_op(self, meta, items):
        return str(items[0])

    add_op = mul_op = comp_op

    def or_(self, meta, items):
        return A.BoolOp(self._s(meta), "or", items[0], items[1])

    def and_(self, meta, items):
        return A.BoolOp(self._s(meta), "and", items[0], items[1])

    def not_(self, meta, items):
        return A.Unary(self._s(meta), "not", items[0])

    def compare(self, meta, items):
        return A.Compare(self._s(meta), items[0], tuple(str(t) for t in items[1::2]), tuple(items[2::2]))

    def chain(self, meta, items):
        return A.Chain(self._s(meta), tuple(items))

    def binop(self, meta, items):
        return A.BinOp(self._s(meta), str(items[1]), items[0], items[2])

    def pow(self, meta, items):
        return A.BinOp(self._s(meta), "**", items[0], items[1])

    def neg(self, meta, items):
        return A.Unary(self._s(meta), "-", items[0])

    def pos(self, meta, items):
        return A.Unary(self._s(meta), "+", items[0])

    # postfix
    def call(self, meta, items):
        func, arguments = items
        args, kwargs = [], []
        for a in arguments or ():
            if isinstance(a, tuple):
                kwargs.append(a)
            else:
                args.append(a)
        return A.Call(self._s(meta), func, tuple(args), tuple(kwargs))

    def arguments(self, meta, items):
        return tuple(i for i in items if i is not None)

    def kwarg(self, meta, items):
        return (str(items[0]), items[1], self._tok(items[0]))

    def index(self, meta, items):
        return A.Index(self._s(meta), items[0], items[1])

    def subscripts(self, meta, items):
        return tuple(i for i in items if i is not None)

    def slice(self, meta, items):
        lower, upper, step = (list(items) + [None, None, None])[:3]
        return A.Slice(self._s(meta), lower, upper, step)

    def attr(self, meta, items):
        return A.Attr(self._s(meta), items[0], str(items[1]))


def _as_targets(node: A.Node):
    """The left side of `=`: a name or a (nested) tuple of names."""
    if isinstance(node, A.Name):
        return node
    if isinstance(node, A.TupleExpr) and node.items:
        return tuple(_as_targets(i) for i in node.items)
    raise SyntaxError_("only names can be assigned to", node.span,
                       hint="write `name = expression` or `a, b = expression`")


_EXPECTED_WORDS = {"NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
                   "_NL": "a new line", "$END": "the end", "_INDENT": "an indented block",
                   "_DEDENT": "the end of the block"}


def _describe(terminal: str) -> str | None:
    if terminal in _EXPECTED_WORDS:
        return _EXPECTED_WORDS[terminal]
    try:
        pattern = _parser().get_terminal(terminal).pattern
    except KeyError:
        return None
    return f"`{pattern.value}`" if pattern.type == "str" else None


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({d for t in (getattr(exc, "expected", None) or ()) if (d := _describe(t))})
    if not names:
        return ""
    if len(names) > 6:
        names = names[:6] + ["..."]
    return "expected " + ", ".join(names)


def parse(text: str, locate: Locate, what: str = "expression") -> A.Program:
    """Parse a program (statements) or a single expression; raise a located SyntaxError_ on failure.

    Parses are cached by text with spans relative to the text, then mapped into the file by `locate`. A
    `locate` with a `place` (yaml_loader.py: a hashable that decides every span it gives) also caches the
    mapped parse: text that has not moved gets the very tree of before (trees are frozen, never changed).
    """
    depth = current_limit("max_expr_depth")
    place = getattr(locate, "place", None)
    key = (text, what, depth, place)
    if place is not None and key in _placed:
        _placed.move_to_end(key)
        return _placed[key]
    try:
        relative = _parse_relative(text, what, depth)
    except (SyntaxError_, LimitError) as exc:
        exc.span = _move(exc.span, locate)
        raise
    tree = _relocate(relative, locate)
    if place is not None:
        _placed[key] = tree
        if len(_placed) > PLACED_SIZE:
            _placed.popitem(last=False)
    return tree


PLACED_SIZE = 4096  # parses kept at their places, the latest used: the expressions of a few large specs
_placed: OrderedDict = OrderedDict()  # (text, what, max_expr_depth, place) -> the tree with its file spans


def clear_caches() -> None:
    """Forget every parse (for checks from scratch)."""
    _parse_relative.cache_clear()
    _placed.clear()


def _move(span: Span, locate: Locate) -> Span:
    return locate(span.line, span.col, span.length)


_FIELDS: dict = {}


def _relocate(node, locate: Locate):
    if isinstance(node, A.Node):
        cls = type(node)
        names = _FIELDS.get(cls) or _FIELDS.setdefault(cls, tuple(f.name for f in fields(cls)))
        copy = object.__new__(cls)  # frozen dataclass: fill the fields directly
        copy.__dict__.update({n: _relocate(node.__dict__[n], locate) for n in names})
        return copy
    if isinstance(node, tuple):
        return tuple(_relocate(n, locate) for n in node)
    if isinstance(node, Span):
        return _move(node, locate)
    return node


def _relative(line: int, col: int, length: int) -> Span:
    return Span("", line, col, length)


@lru_cache(maxsize=4096)
def _parse_relative(text: str, what: str, max_depth: int) -> A.Program:
    locate = _relative
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        line, col = max(1, exc.line if exc.line > 0 else 1), max(1, exc.column if exc.column > 0 else 1)
        if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
            lines = text.rstrip().split("\n")  # lines as Lark counts them: U+2028, \v, ... do not end one
            line, col = len(lines), len(lines[-1]) + 1
            msg = f"the {what} ends too early"
        elif isinstance(exc, UnexpectedCharacters):
            msg = f"unexpected character {exc.char!r} in the {what}"
        elif _f_string(text, exc):
            raise SyntaxError_(f"f-strings are not part of the {what}", locate(line, col - 1, 1),
                               hint="build the text with + and str(): `'dense' + str(i + 1)`") from None
        else:
            msg = f"unexpected {exc.token!s:.40} in the {what}" if isinstance(exc, UnexpectedToken) else f"invalid {what}"
        raise SyntaxError_(msg, locate(line, col, 1), hint=_expected(exc) or None) from None
    try:
        _check_depth(tree, max_depth, what)
        return _ToAst(locate).transform(tree)
    except VisitError as exc:
        raise exc.orig_exc from None


def _f_string(text: str, exc) -> bool:
    """Whether the unexpected token is a string written right after a lone `f` (Python's f'...')."""
    token = getattr(exc, "token", None)
    at = getattr(token, "start_pos", None)
    if not at or text[at] not in "'\"" or text[at - 1] != "f":
        return False
    return at < 2 or not (text[at - 2].isalnum() or text[at - 2] == "_")


def _check_depth(tree: Tree, limit: int, what: str) -> None:
    """Reject nesting deeper than `limit` (brackets, operators) before the recursive AST transform."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            meta = node.meta
            line, col = (meta.line, meta.column) if not meta.empty else (1, 1)
            raise LimitError(f"the {what} nests more than {limit} deep (the limit `max_expr_depth`)",
                             _relative(line, col, 1), hint=exceeded("max_expr_depth"))
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


def parse_expr(text: str, locate: Locate, what: str = "expression") -> A.Node:
    """Parse text that must be exactly one expression."""
    prog = parse(text, locate, what)
    if len(prog.stmts) != 1 or isinstance(prog.stmts[0], (A.Assign, A.Return, A.Assert, A.For)):
        where = prog.stmts[1].span if len(prog.stmts) > 1 else (prog.stmts[0].span if prog.stmts else locate(1, 1, 1))
        raise SyntaxError_(f"expected a single {what} here", where,
                           hint="statements and assignments belong in `forward:`")
    return prog.stmts[0]
