"""The expression AST: frozen dataclasses, each node with its Span in the spec file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Span


@dataclass(frozen=True)
class Node:
    span: Span


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Const(Node):
    value: Any


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple


@dataclass(frozen=True)
class TupleExpr(Node):
    items: tuple


@dataclass(frozen=True)
class DictExpr(Node):
    keys: tuple
    values: tuple


@dataclass(frozen=True)
class Star(Node):
    value: Node


@dataclass(frozen=True)
class Comprehension(Node):
    targets: tuple  # nested tuples of names
    iter: Node
    conds: tuple


@dataclass(frozen=True)
class ListComp(Node):
    elt: Node
    fors: tuple  # of Comprehension


@dataclass(frozen=True)
class DictComp(Node):
    key: Node
    value: Node
    fors: tuple  # of Comprehension


@dataclass(frozen=True)
class Lambda(Node):
    """`lambda a, b=1: body`: a pure function over values (a user function in `let`)."""

    params: tuple  # of (name, default Node or None)
    body: Node


@dataclass(frozen=True)
class Call(Node):
    func: Node
    args: tuple
    kwargs: tuple  # of (name, Node, Span)


@dataclass(frozen=True)
class Index(Node):
    value: Node
    items: tuple


@dataclass(frozen=True)
class Slice(Node):
    lower: Node | None
    upper: Node | None
    step: Node | None


@dataclass(frozen=True)
class Attr(Node):
    value: Node
    name: str


@dataclass(frozen=True)
class BinOp(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary(Node):
    op: str  # '-', '+', 'not'
    operand: Node


@dataclass(frozen=True)
class Compare(Node):
    first: Node
    ops: tuple
    rest: tuple


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # 'and' | 'or'
    left: Node
    right: Node


@dataclass(frozen=True)
class Cond(Node):
    test: Node
    body: Node
    orelse: Node | None  # None: `x if c` yields None when c is false


@dataclass(frozen=True)
class Chain(Node):
    """`x >> f >> g`: items[0] is the value, the rest are applied in order."""

    items: tuple


@dataclass(frozen=True)
class Assign(Node):
    targets: tuple  # nested tuples of names
    value: Node


@dataclass(frozen=True)
class Return(Node):
    value: Node


@dataclass(frozen=True)
class Assert(Node):
    test: Node
    msg: Node | None


@dataclass(frozen=True)
class For(Node):
    """`for layer in layers:` and its body: the statements run once per layer of a list or map."""

    target: Node | tuple  # a Name (a tuple of targets is a located error in forward)
    iter: Node
    body: tuple


@dataclass(frozen=True)
class Program(Node):
    stmts: tuple
