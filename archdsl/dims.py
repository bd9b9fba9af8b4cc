"""Dims are plain ints on the concrete path and sympy expressions when a spec uses symbols.

Shape rules are written with ordinary arithmetic (`(h + 2 * p - k) // s + 1`), which works for both;
sympy is imported only when a symbolic dim is created.

Two dims are compared with `same(a, b, what)` (see docs/language.md, "Symbolic dims"): `decide` proves them
equal for every value the declared constraints allow, proves them different, or finds the condition under
which they are equal (`H % 2 == 0` for H against 2*floor(H/2)). A condition is a located error unless
assumptions are accepted (`archdsl check --assume`); then it is recorded in the active `Facts`.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product as cartesian
from math import lcm
from typing import Any, Union

Dim = Union[int, Any]  # int or sympy.Expr
Shape = tuple  # tuple[Dim, ...]

MAX_CASES = 256  # residue classes tried when splitting symbols (H = 4h + r)


def symbol(name: str):
    import sympy

    return sympy.Symbol(name, integer=True, positive=True)


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def as_static(d: Dim) -> Dim:
    """Turn a sympy integer back into a plain int; leave true expressions alone."""
    if isinstance(d, int) or getattr(d, "free_symbols", None):
        return d
    try:
        return int(d)
    except TypeError:
        return d


# --- what the prover knows: declared constraints and recorded assumptions --------------------------------

@dataclass(frozen=True)
class DimDecl:
    """A declared dim (`dims: {H: {min: 32, multiple_of: 16}}`); `span` is where it is declared."""

    min: int = 1
    max: int | None = None
    multiple_of: int = 1
    span: Any = field(default=None, compare=False)

    def violation(self, value: int) -> str | None:
        """What `value` fails of the declaration, or None."""
        if value < self.min:
            return f"at least {self.min}"
        if self.max is not None and value > self.max:
            return f"at most {self.max}"
        if value % self.multiple_of:
            return f"a multiple of {self.multiple_of}"
        return None

    def describe(self) -> str:
        parts = [f"min: {self.min}"] if self.min > 1 else []
        parts += [f"max: {self.max}"] if self.max is not None else []
        parts += [f"multiple_of: {self.multiple_of}"] if self.multiple_of > 1 else []
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Condition:
    """Two dims are equal exactly when this holds: `name % modulus` in `residues`, or else `diff == 0`."""

    text: str       # as code: "H % 2 == 0", "H == W"
    reason: str     # in words: "H must be even"
    name: str | None = None
    modulus: int = 1
    residues: tuple = (0,)
    diff: Any = None

    def holds(self, values: dict) -> bool:
        if self.name is not None:
            return values[self.name] % self.modulus in self.residues
        return substitute(self.diff, values) == 0

    def fix(self) -> str:
        accept = "or accept it as an assumption (`archdsl check --assume`, `archdsl.load(..., assume=True)`)"
        if self.name is not None and self.residues == (0,):
            m, low = self.modulus, self.name.lower()
            return (f"declare the dim `dims: {{{self.name}: {{multiple_of: {m}}}}}`, or write it in the input "
                    f"shape as `{m} * {low}`; {accept}")
        clamps = _clamps(self.diff) if self.diff is not None else []
        if clamps:  # a slice `x[:, :8]` on T is Min(8, T): 8 once T's min is 8
            return f"declare {' and '.join(f'`{n}: {{min: {k}}}`' for n, k in clamps)} under `dims:`, {accept}"
        return f"make the dims agree (one dim name for both, a fixed size), {accept}"


def _clamps(d) -> list[tuple[str, int]]:
    """(dim, k) for each Min(k, dim) in d: the dim's least value that makes the Min a fixed k."""
    import sympy

    found = set()
    for m in getattr(d, "atoms", lambda *_: ())(sympy.Min):
        ints = [a for a in m.args if a.is_Integer]
        syms = [a for a in m.args if a.is_Symbol]
        if len(ints) == 1 and len(syms) == 1 and len(m.args) == 2:
            found.add((syms[0].name, int(ints[0])))
    return sorted(found)


class Facts:
    """The declared dims (name -> DimDecl) and, when `accept`, the conditions assumed so far."""

    def __init__(self, decls: dict | None = None, accept: bool = False):
        self.decls = dict(decls or {})
        self.accept = accept
        self.assumed: list[Condition] = []

    @property
    def key(self) -> tuple:
        return tuple(sorted(self.decls.items())), tuple(self.assumed)

    def residues(self, name: str) -> tuple[int, frozenset]:
        """The residue classes `name` may take: (modulus, allowed residues), from `multiple_of` and assumptions."""
        decl = self.decls.get(name)
        k, allowed = (decl.multiple_of if decl else 1), frozenset({0})
        for c in self.assumed:
            if c.name == name:
                m = lcm(k, c.modulus)
                allowed = frozenset(r for r in range(m) if r % k in allowed and r % c.modulus in c.residues)
                k = m
        return k, allowed

    def assume(self, cond: Condition) -> None:
        if cond not in self.assumed:
            self.assumed.append(cond)

    def admits(self, values: dict) -> bool:
        """Whether `values` (name -> int) satisfy every declaration and assumption that they bind."""
        for name, decl in self.decls.items():
            if name in values and decl.violation(values[name]):
                return False
        return all(c.holds(values) for c in self.assumed
                   if all(s in values for s in ((c.name,) if c.name else (s.name for s in c.diff.free_symbols))))


_FACTS: ContextVar[Facts] = ContextVar("facts", default=Facts())


@contextmanager
def reasoning(facts: Facts):
    """Compare dims with `facts` (a graph's declarations and assumptions) for the duration."""
    token = _FACTS.set(facts)
    try:
        yield facts
    finally:
        _FACTS.reset(token)


# --- deciding equality ------------------------------------------------------------------------------------

def known_eq(a: Dim, b: Dim) -> bool | None:
    """True or False when decidable, None when it depends on the symbols' values."""
    out = decide(a, b)
    return out if isinstance(out, bool) else None


def decide(a: Dim, b: Dim) -> bool | Condition:
    """True: equal for every allowed value; False: never equal; else the Condition under which they are."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    import sympy

    facts = _FACTS.get()
    return _decide(sympy.sympify(a), sympy.sympify(b), facts.key, facts)


def same(a: Dim, b: Dim, what: str) -> bool:
    """Whether `a` and `b` are equal, for a comparison site that `what` describes ("`concat` joins").
    A conditional equality raises a ShapeRuleError naming it, or is recorded when assumptions are accepted."""
    out = decide(a, b)
    if isinstance(out, bool):
        return out
    facts = _FACTS.get()
    if facts.accept:
        facts.assume(out)
        return True
    from .errors import ShapeRuleError

    raise ShapeRuleError(f"{out.reason}: {what} {fmt_dim(a)} with {fmt_dim(b)}", hint=out.fix())


@lru_cache(maxsize=4096)
def _decide(a, b, key, facts: Facts):  # `key` makes the cache see the facts' contents
    import sympy

    diff = _core(sympy.expand(canonical(a) - canonical(b)))
    if diff == 0:
        return True
    if diff.is_zero is False:
        return False
    if any(c.diff is not None and _core(sympy.expand(c.diff)) in (diff, -diff) for c in facts.assumed):
        return True
    split = _by_residues(diff, facts)
    if split is not None:
        return split
    linear = _linear_condition(diff, facts)
    if linear is not None:
        return linear
    return _mod_condition(diff) or Condition(f"{fmt_dim(a)} == {fmt_dim(b)}", f"{fmt_dim(a)} must equal {fmt_dim(b)}",
                                             diff=diff)


def _core(diff):
    """`diff` without its positive factors (N*(H - 2*floor(H/2)) -> H - 2*floor(H/2)): same zeros."""
    import sympy

    diff = sympy.factor_terms(diff)
    if isinstance(diff, sympy.Mul):
        kept = [f for f in diff.args if not f.is_positive]
        return sympy.Mul(*kept) if len(kept) < len(diff.args) else diff
    return diff


def _floors(e):
    import sympy

    return e.atoms(sympy.floor)


def _moduli(diff, facts: Facts) -> dict | None:
    """{symbol: K}: splitting each symbol into K*h + r makes every floor of `diff` evaluate; None if not linear."""
    import sympy

    out: dict = {}
    for f in _floors(diff):
        arg = f.args[0].replace(sympy.floor, lambda x: x)
        for s in arg.free_symbols:
            c = sympy.expand(arg).coeff(s)
            if not c.is_Rational or not sympy.expand(arg - c * s).free_symbols.isdisjoint({s}):
                return None
            out[s] = lcm(out.get(s, 1), int(c.q), facts.residues(s.name)[0])
    return out


def _by_residues(diff, facts: Facts):
    """Decide a floor expression class by class (H = K*h + r): True, False, a Condition, or None (unknown)."""
    import sympy

    if not _floors(diff) or diff.has(sympy.Piecewise):
        return None
    moduli = _moduli(diff, facts)
    if not moduli:
        return None
    syms = sorted(moduli, key=lambda s: s.name)
    if _count([range(moduli[s]) for s in syms]) > MAX_CASES:  # before listing them: a stride of 10**12
        return None
    classes = []
    for s in syms:
        base, allowed = facts.residues(s.name)
        classes.append([r for r in range(moduli[s]) if r % base in allowed])
    if _count(classes) > MAX_CASES:
        return None
    zero = {}
    for rs in cartesian(*classes):
        e = sympy.expand(diff.subs({s: moduli[s] * _h(r) + r for s, r in zip(syms, rs)}))
        if e != 0 and e.is_zero is not False:
            return None
        zero[rs] = e == 0
    if all(zero.values()):
        return True
    if not any(zero.values()):
        return False
    if len(syms) > 1:
        return None
    return _divisibility(syms[0].name, moduli[syms[0]], classes[0], {rs[0] for rs, z in zero.items() if z})


def _count(classes) -> int:
    n = 1
    for c in classes:
        n *= len(c)
    return n


def _h(r: int):
    import sympy

    return sympy.Symbol("_h", integer=True, positive=True) if r == 0 else \
        sympy.Symbol("_h0", integer=True, nonnegative=True)


def _divisibility(name: str, modulus: int, allowed, zero: set) -> Condition:
    """The condition `name % k` in residues, with the smallest k that describes the zero classes."""
    for k in range(1, modulus + 1):
        if modulus % k:
            continue
        res = {r % k for r in zero}
        if {r for r in allowed if r % k in res} == zero:
            return _mod_text(name, k, tuple(sorted(res)))
    raise AssertionError("unreachable: k = modulus describes every set")


def _mod_text(name: str, k: int, res: tuple) -> Condition:
    if res == (0,):
        reason = f"{name} must be even" if k == 2 else f"{name} must be a multiple of {k}"
        return Condition(f"{name} % {k} == 0", reason, name, k, res)
    if k == 2:
        return Condition(f"{name} % 2 == 1", f"{name} must be odd", name, k, res)
    shown = " or ".join(map(str, res))
    return Condition(f"{name} % {k} in ({', '.join(map(str, res))})",
                     f"{name} % {k} must be {shown}", name, k, res)


def _mod_condition(diff):
    """`diff` = c*(E - k*floor(E/k)) for an integer polynomial E: the condition E % k == 0 (H*W % 4 == 0)."""
    import sympy

    for f in _floors(diff):
        arg = f.args[0]
        k = sympy.denom(sympy.together(arg))
        e = sympy.expand(arg * k)
        if not k.is_Integer or k < 2 or _floors(e) or not e.is_integer:
            continue
        c = sympy.expand(diff / (e - k * f))
        if c.is_number and c != 0:
            text = fmt_dim(e)
            return Condition(f"{text} % {k} == 0", f"{text} must be a multiple of {k}", diff=diff)
    return None


def _linear_condition(diff, facts: Facts):
    """One symbol, linearly (H - 4): the one value it may take, or False when no allowed value solves it."""
    import sympy

    if len(diff.free_symbols) != 1 or _floors(diff):
        return None
    (s,) = diff.free_symbols
    poly = diff.as_poly(s)
    if poly is None or poly.degree() != 1:
        return None
    root = sympy.solve(diff, s)[0]
    decl = facts.decls.get(s.name, DimDecl())
    k, allowed = facts.residues(s.name)
    if not root.is_Integer or decl.violation(int(root)) or int(root) % k not in allowed:
        return False
    return Condition(f"{s.name} == {root}", f"{s.name} must be {root}",
                     diff=diff)


def at_least(d: Dim, bound: int) -> bool:
    """Whether d >= bound for every value that the declared dims' `min`s allow, as far as sympy can tell."""
    if isinstance(d, int):
        return d >= bound
    decls = _FACTS.get().decls
    lowest = {s: s + decls[s.name].min - 1 for s in d.free_symbols if s.name in decls}  # s >= 1 stands for s >= min
    return bool((d.xreplace(lowest) - bound).is_nonnegative)


def known_positive(d: Dim) -> bool | None:
    if isinstance(d, int):
        return d > 0
    return getattr(d, "is_positive", None)


def product(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d
    return as_static(out)


# --- a canonical form of floors (and how dims are shown) ---------------------------------------------------

def canonical(d):
    """`d` with ceilings and remainders as floors, nested floors merged and each floor written floor((A + k)/n),
    0 <= k < n, plus an integer: the identities floor((floor(x) + j)/m) = floor((x + j)/m), ceil(x) = -floor(-x)
    and x % n = x - n floor(x/n) (`x.shape[2] % 2` read in a let)."""
    import sympy

    if not getattr(d, "has", None) or not d.has(sympy.floor, sympy.ceiling, sympy.Mod):
        return d
    d = d.replace(sympy.Mod, lambda x, n: x - n * sympy.floor(x / n))
    d = d.replace(sympy.ceiling, lambda x: -sympy.floor(-x))
    return d.replace(sympy.floor, _floor_rule)


def _floor_rule(arg):
    """floor(arg) in the canonical form, or as sympy has it where arg is not (integer)/n + rational."""
    import sympy

    n, num = _over_integer(arg)
    if n is None:
        return sympy.floor(arg)
    const = num.as_coeff_Add()[0]
    rest = num - const
    inner = _single_floor(rest)
    if inner is not None:  # floor((floor(x) + j)/n) = floor((x + j)/n)
        return _floor_rule((inner + const) / n)
    if rest.could_extract_minus_sign():  # floor(-x) = -ceil(x) = -floor((A + n - 1)/n) for x = A/n
        return -_floor_rule((-num + n - 1) / n)
    k = int(const) % n
    return sympy.floor((rest + k) / n) + (int(const) - k) // n


def _over_integer(arg):
    """(n, A) with arg = A/n, A integer-valued with integer coefficients, n a positive integer; else (None, None)."""
    import sympy

    arg = sympy.expand(arg)
    n = lcm(*(int(sympy.Rational(c).q) for c in arg.as_coefficients_dict().values() if c.is_Rational) or [1])
    num = sympy.expand(arg * n)
    coeffs = num.as_coefficients_dict().values()
    if not num.is_integer or not all(c.is_Integer for c in coeffs):
        return None, None
    return n, num


def _single_floor(e):
    """x when `e` is floor(x) alone, else None."""
    import sympy

    return e.args[0] if isinstance(e, sympy.floor) else None


def fmt_dim(d: Dim) -> str:
    if isinstance(d, int) or not getattr(d, "free_symbols", None):
        return str(d)
    return _Printer().doprint(canonical(d)).replace("**", "^")


def _printer_class():
    from sympy.printing.str import StrPrinter

    class Printer(StrPrinter):
        """floor((A + n - 1)/n) as ceil(A/n), floor((A + k)/n) with its numerator in parentheses."""

        def _print_floor(self, e):
            n, num = _over_integer(e.args[0])
            if n is None or n == 1:
                return f"floor({self._print(e.args[0])})"
            const = num.as_coeff_Add()[0]
            rest = num - const
            if const == n - 1:
                return f"ceil({self._div(rest, n)})"
            return f"floor({self._div(num, n)})"

        def _div(self, num, n) -> str:
            import sympy

            text = self._print(num)
            return f"{text}/{n}" if isinstance(num, (sympy.Symbol, sympy.Mul, sympy.Pow)) else f"({text})/{n}"

    return Printer


def _Printer():
    global _PRINTER
    if _PRINTER is None:
        _PRINTER = _printer_class()
    return _PRINTER()


_PRINTER = None


def fmt_shape(shape: Shape) -> str:
    return "[" + ", ".join(fmt_dim(d) for d in shape) + "]"


def substitute(d: Dim, values: dict[str, int]) -> Dim:
    if isinstance(d, int):
        return d
    subs = {s: values[s.name] for s in d.free_symbols if s.name in values}
    return as_static(d.subs(subs)) if subs else d
