"""Loops with carried state: `scan` over a sequence dim, `loop` for a fixed count, `decode` (greedy).

    ys, h, c = scan(cell, xs, state=[h0, c0], consts=[memory], dim=1)   # cell(x_t, h, c, memory) -> (y_t, h, c)
    ys, h = scan(cell, xs, state=[h0], reverse=true)  # last step to first; ys stacked in the sequence's order
    b, v = loop(routing, 3, state=[b0, v0], consts=[u_hat])            # routing(b, v, u_hat) -> (b, v)
    tokens, logits, h = decode(step, start, state=[h0], max_len=20, eos=2)  # step(token, h) -> (logits, h)

A body may return several per-step outputs, grouped first: `(y_t, a_t), h` -> `(ys, as_), h = scan(...)`;
`(logits, a_t), h` -> `tokens, (logits, as_), h = decode(...)` (decode feeds back the argmax of the first).

The body is a block declared under `layers:` (its weights are shared by all steps). It is elaborated
once, on placeholder inputs with the per-step shapes; the loop node carries the rest: how many steps,
which outputs feed back, and what it returns.
"""
from __future__ import annotations

from ..errors import ArgumentError, ArityError, Span, TypeError_
from ..ir.graph import Stmt, Tensor
from .values import LayerRef, describe

SIGNATURES = {
    "scan": ("body", "xs", "state", "consts", "dim", "reverse"),
    "loop": ("body", "count", "state", "consts"),
    "decode": ("body", "start", "state", "consts", "max_len", "eos"),
}
DEFAULTS = {"state": [], "consts": [], "dim": 1, "reverse": False, "eos": None}


def bind_form(kind: str, args: list, kwargs: dict, span: Span) -> dict:
    names = SIGNATURES[kind]
    sig = f"{kind}({', '.join(names)})"
    if len(args) > len(names):
        raise ArgumentError(f"`{kind}` takes at most {len(names)} arguments", args[len(names)][1], hint=sig)
    bound = {n: a for n, a in zip(names, args)}
    for key, value in kwargs.items():
        if key not in names:
            raise ArgumentError(f"`{kind}` has no argument `{key}`", value[1], hint=sig)
        if key in bound:
            raise ArgumentError(f"`{kind}` got `{key}` twice", value[1], hint=sig)
        bound[key] = value
    out = {}
    for n in names:
        if n in bound:
            out[n] = bound[n]
        elif n in DEFAULTS:
            out[n] = (DEFAULTS[n], span)
        else:
            raise ArgumentError(f"`{kind}` is missing its argument `{n}`", span, hint=sig)
    return out


def tensors(value, what: str, span: Span) -> list:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if not isinstance(v, Tensor):
            raise TypeError_(f"`{what}` must be a tensor or a list of tensors, got {describe(v)}", span)
    return items


def run_loop(builder, kind: str, args: list, kwargs: dict, span: Span, target):
    """Elaborate a loop form inside a forward; returns its result structure."""
    a = bind_form(kind, args, kwargs, span)
    body, body_span = a["body"]
    if not isinstance(body, LayerRef) or body.module.kind != "block" or body.callee is not None:
        raise TypeError_(f"the body of `{kind}` must be a block declared under `layers:`, got {describe(body)}",
                         body_span, hint="write the step as a block whose inputs are the step input and the state; "
                                         "a layer taken from a list cannot be a body")
    module = body.module
    state = tensors(a["state"][0], "state", a["state"][1])
    consts = tensors(a["consts"][0], "consts", a["consts"][1])
    attrs: dict = {"n_state": len(state)}
    if kind == "scan":
        (xs,) = tensors(a["xs"][0], "xs", a["xs"][1])
        dim = _int(a["dim"], "dim", allow_negative=True)
        sources = [(xs, dim)] + [(t, None) for t in state + consts]
        reverse, reverse_span = a["reverse"]
        if not isinstance(reverse, bool):
            raise TypeError_(f"`reverse` must be true or false, got {describe(reverse)}", reverse_span)
        attrs.update(dim=dim, reverse=reverse)
    elif kind == "loop":
        attrs["count"] = _int(a["count"], "count")
        sources = [(t, None) for t in state + consts]
    else:
        (start,) = tensors(a["start"][0], "start", a["start"][1])
        attrs["max_len"] = _int(a["max_len"], "max_len")
        eos = a["eos"][0]
        if eos is not None and not (isinstance(eos, int) and not isinstance(eos, bool)):
            raise TypeError_(f"`eos` must be a token id, got {describe(eos)}", a["eos"][1])
        attrs["eos"] = eos
        sources = [(start, None)] + [(t, None) for t in state + consts]
    names = [n for n, _, _ in module.block.inputs]
    if len(names) != len(sources):
        raise ArityError(f"the body `{module.path}` takes {len(names)} input(s) ({', '.join(names)}), but `{kind}` "
                         f"passes {len(sources)}: {_roles(kind, len(state), len(consts))}", span)
    graph, frame = builder.graph, builder.frame
    loop_id = graph.unique_id(f"{module.path}.{kind}")
    first_node = len(graph)
    placeholders = []
    for name, (source, drop) in zip(names, sources):
        nid = graph.add(f"{loop_id}.{name}", [source], op=None, kind="loop_in", attrs={"drop_dim": drop},
                        scope=frame.module.path, module=None, span=span, call_span=span, loop=loop_id)
        placeholders.append(Tensor(nid))
    result = builder.run_block(module, placeholders, span)
    outs = list(result) if isinstance(result, tuple) else [result]
    expected = len(state) + (0 if kind == "loop" else 1)
    grouped = kind != "loop" and len(outs) == expected and isinstance(outs[0], tuple)
    if grouped:  # several per-step outputs: ((y_t, a_t), *state); each is stacked
        outs = list(outs[0]) + outs[1:]
    n_ys = 0 if kind == "loop" else len(outs) - len(state)
    if n_ys < (kind != "loop") or len(outs) - n_ys != len(state) or not all(isinstance(o, Tensor) for o in outs):
        want = {"loop": "the new state", "scan": "(y_t, *new state)", "decode": "(logits, *new state)"}[kind]
        raise ArityError(f"the body `{module.path}` of `{kind}` must return {want}: {expected} tensor(s), "
                         f"got {describe(result)}", span,
                         hint=None if kind == "loop" else "several per-step outputs are grouped first: "
                         "`(y_t, a_t), h`")
    if kind != "loop":
        attrs.update(step_outputs=n_ys, grouped=grouped)
    body_nodes = [nid for nid in list(graph.g.nodes)[first_node:]]
    n_out = {"loop": len(state), "scan": n_ys + len(state), "decode": 1 + n_ys + len(state)}[kind]
    ins = sources_inputs = [s for s, _ in sources]
    graph.add(loop_id, list(ins) + outs, op=None, kind=kind, attrs=attrs, scope=frame.module.path, module=None,
              span=span, call_span=span, body=module.path, placeholders=[p.node for p in placeholders],
              body_nodes=body_nodes, body_outputs=outs, n_inputs=len(sources_inputs), n_outputs=n_out,
              stmt_index=frame.key(span), call_index=len(frame.module.calls))
    value = tuple(Tensor(loop_id, i) for i in range(n_out))
    if kind != "loop" and grouped:  # the stacked per-step outputs keep the body's grouping
        at = 0 if kind == "scan" else 1
        value = value[:at] + (value[at:at + n_ys],) + value[at + n_ys:]
    if n_out == 1:
        value = value[0]
    builder._record(Stmt(kind, module.name, [s for s, _ in sources], value, span, target,
                         options={**attrs, "placeholders": [p.node for p in placeholders]}))
    return value


def _int(arg, what: str, allow_negative: bool = False) -> int:
    value, span = arg
    if not isinstance(value, int) or isinstance(value, bool) or (value < 0 and not allow_negative):
        raise TypeError_(f"`{what}` must be a {'' if allow_negative else 'non-negative '}integer, got {describe(value)}",
                         span)
    return value


def _roles(kind: str, n_state: int, n_consts: int) -> str:
    first = {"scan": ["x_t"], "loop": [], "decode": ["token"]}[kind]
    roles = first + [f"state{i}" for i in range(n_state)] + [f"const{i}" for i in range(n_consts)]
    return ", ".join(roles) or "nothing"
