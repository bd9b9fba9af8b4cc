"""`for layer in layers:` in `forward`: the body runs once per layer of a list or map.

Each iteration is traced on its own, so every layer has its own static shapes (the layers of a list may differ);
the generated code is one Python loop over the container (`for layer in self.layers:`), written from the first
iteration's statements. That is only right when every iteration does the same thing, which is checked here:
the same statements, ops and wiring, the loop variable standing for each layer in turn.
"""
from __future__ import annotations

from ..errors import ArchDSLError, GraphError, TypeError_
from ..ir.graph import Stmt, flat_tensors
from ..syntax import ast as A
from .values import LayerRef, describe


def run_for(builder, stmt: A.For, scope) -> None:
    """Run the body once per layer of the list named after `in`; record one `for` statement."""
    if not isinstance(stmt.target, A.Name):
        raise TypeError_("`for` in `forward` binds one name, the layer: `for layer in layers:`", stmt.span,
                         hint="unpack a layer's outputs inside the body: `x, attn = layer(x)`")
    ref = builder.eval(stmt.iter, scope)
    if not isinstance(ref, LayerRef) or ref.module.kind != "seq":
        raise TypeError_(f"`for` in `forward` loops over a layer list or map, got {describe(ref)}", stmt.iter.span,
                         hint="declare the layers as a list under `layers:`, e.g. "
                              "`layers: \"[Block(d) for _ in range(n)]\"`")
    frame, var = builder.frame, stmt.target.id
    children = list(ref.module.children.values())
    assigned = list(dict.fromkeys(n for s in stmt.body for n in _assigned(s)))
    entry = {n: scope.vars.get(n) for n in assigned}
    outer_stmts, outer_step, seen, bare = frame.stmts, frame.step, dict(frame.seen), dict(frame.bare)
    iterations = []
    for k, child in enumerate(children):
        frame.seen, frame.bare = dict(seen), dict(bare)  # each iteration: the call sites and probes of the first
        frame.stmts = [] if outer_stmts is not None else None
        frame.step = (k, len(children)) if outer_step is None else \
            (outer_step[0] * len(children) + k, outer_step[1] * len(children))
        scope.vars[var] = LayerRef(child, var, ref.owners + (ref.module,))
        try:
            for s in stmt.body:
                builder._stmt(s, scope, None)
        except ArchDSLError as exc:
            raise exc.with_note(f"in the iteration of `for {var} in ...` over `{child.path}`")
        finally:
            body, frame.stmts, frame.step = frame.stmts, outer_stmts, outer_step
        iterations.append((body, {n: scope.vars.get(n) for n in assigned}))
    frame.seen, frame.bare = seen, bare
    if outer_stmts is None or not iterations:
        return
    roles = _roles(builder.graph, iterations, entry, stmt, ref)
    made = {t for body, _ in iterations for st in body for t in flat_tensors(st.result)}
    reads = [t for body, _ in iterations for st in body for t in flat_tensors(st.args) if t not in made]
    final = iterations[-1][1]
    builder._record(Stmt("for", ref.source, list(dict.fromkeys(reads)),
                        tuple(t for n in assigned for t in flat_tensors(final[n])), stmt.span,
                        options={"var": var, "names": assigned, "entry": entry, "iterations": iterations, "roles": roles,
                                 "starts": [(s.span.line, s.span.col) for s in stmt.body]}))


def _assigned(stmt):
    """The names a statement assigns (inside a nested `for` too)."""
    if isinstance(stmt, A.Assign):
        yield from _flat_names(stmt.targets)
    elif isinstance(stmt, A.For):
        for s in stmt.body:
            yield from _assigned(s)


def _flat_names(target):
    if isinstance(target, A.Name):
        yield target.id
    else:
        for t in target:
            yield from _flat_names(t)


def _roles(graph, iterations: list, entry: dict, stmt: A.For, ref: LayerRef) -> list:
    """Each body statement's reads by role (and last, the names' values at its end), the same in every
    iteration: ('made', j, i) (output i of body statement j), ('name', n) (the value the name n holds when the iteration starts) or ('outside', tensor).
    The roles are the second iteration's (the loop's steady state; the first iteration's names hold values
    made before the loop); a body that runs differently for some layer is an error."""
    names = [n for n in entry if list(flat_tensors(iterations[0][1][n]))]
    # the values the names hold at the end of an iteration are read too, by the next iteration or after the loop
    iterations = [(body + [Stmt("end", "", [after[n] for n in names], None, stmt.span)], after)
                  for body, after in iterations]
    starts = [entry] + [after for _, after in iterations[:-1]]
    steady = _signature(graph, iterations[min(1, len(iterations) - 1)][0], starts[min(1, len(iterations) - 1)],
                        prefer_outside=len(iterations) == 1)
    plan = [_plan(graph, body) for body, _ in iterations]
    differs = [k for k in range(len(iterations)) if plan[k] != plan[0]] or \
        [k for k, (body, _) in enumerate(iterations) if not _fits(graph, body, starts[k], steady)]
    if differs:
        child = list(ref.module.children)[differs[0]]
        raise GraphError(f"the body of `for` runs differently for the layer `{ref.module.path}.{child}`, so it "
                         "cannot be one loop", stmt.span,
                         hint="the layers of a list iterated by `for` must take the same inputs and give "
                              "outputs of the same structure")
    return [roles for _, _, roles, _ in steady]


def _signature(graph, body: list, before: dict, prefer_outside: bool = False) -> list:
    """(kind, what it calls, the roles of its reads, its result's structure) of each statement of a body."""
    made: dict = {}
    entry = {t: (n, i) for n, v in before.items() for i, t in enumerate(flat_tensors(v))}
    out = []
    for j, st in enumerate(body):
        roles = tuple(made.get(t) or (("name", *entry[t]) if t in entry and not prefer_outside else ("outside", t))
                      for t in flat_tensors(st.args))
        out.append((st.kind, _callee(graph, st), roles, _structure(st.result)))
        for i, t in enumerate(flat_tensors(st.result)):
            made[t] = ("made", j, i)
    return out


def _fits(graph, body: list, before: dict, steady: list) -> bool:
    """Whether an iteration's statements are the steady ones, each read holding the value its role names."""
    if len(body) != len(steady):
        return False
    made: dict = {}
    for j, (st, (kind, callee, roles, structure)) in enumerate(zip(body, steady)):
        if (st.kind, _callee(graph, st), _structure(st.result)) != (kind, callee, structure):
            return False
        reads = list(flat_tensors(st.args))
        if len(reads) != len(roles):
            return False
        for t, role in zip(reads, roles):
            if t != _held(role, made, before):
                return False
        for i, t in enumerate(flat_tensors(st.result)):
            made[(j, i)] = t
    return True


def _plan(graph, body: list) -> list:
    """What each statement runs and what it gives, without its reads' roles."""
    return [(st.kind, _callee(graph, st), len(list(flat_tensors(st.args))), _structure(st.result)) for st in body]


def _held(role: tuple, made: dict, before: dict):
    """The value a role names in an iteration."""
    if role[0] == "made":
        return made.get(role[1:])
    if role[0] == "outside":
        return role[1]
    values = list(flat_tensors(before.get(role[1])))
    return values[role[2]] if role[2] < len(values) else None


def _callee(graph, st):
    """What a statement runs: the layer's source, the inline op and its attributes, or a nested loop."""
    if st.kind == "op":
        node = graph.node(st.callee)
        return node.op.name, repr(sorted(node.attrs.items()))
    if st.kind == "for":
        inner = st.options["iterations"][0][0]
        return st.callee, st.options["var"], repr(_signature(graph, inner, st.options["entry"]))
    return st.callee


def _structure(value):
    if isinstance(value, tuple):
        return tuple(_structure(v) for v in value)
    return "list" if isinstance(value, list) else "tensor"
