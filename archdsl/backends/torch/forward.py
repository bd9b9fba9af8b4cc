"""The `forward` of a generated class: straight-line statements, plus `for` loops for scan/loop/decode.

A value the spec did not name, used once and within the same spec statement, is not given a variable: its
expression is written where it is used (`torch.relu(y + self.downsample(x))`), so one spec statement
reads as one Python statement. Values are still computed in the spec's order: an expression is inlined
only where the values waiting to be used are consumed in the order they were made.
"""
from __future__ import annotations

import ast
from collections import Counter

from ...ir.graph import ModeChoice, Module, Tensor
from ...ir.graph import flat_tensors as _tensors
from ...names import RESERVED
from ...syntax import ast as A
from .lowerings import lowering, probed_call
from .pysource import MAX_LINE, docstring

INDENT = "        "


class ForwardWriter:
    def __init__(self, gen, module: Module, name: str = "forward", inline=None):
        self.gen, self.module, self.name = gen, module, name
        # (node, write, args) -> an inline op's call, its attributes written as the class has them (classes.py);
        # None: as numbers
        self.inline = inline or (lambda node, write, args: write(node.attrs, gen.in_shapes(node), args))
        self.stmts, self.sections = _by_mode(module.program, module.output)
        self.live_until = _last_uses(self.stmts, module.output)
        self.holder: dict = {}   # variable -> the value it holds now
        self.expr: dict = {}     # value -> source expression
        self.lines: list[str] = []
        self.i = 0
        self.busy: set | None = None  # inside a loop statement: the names it uses, which no new variable may take
        self.hints = arg_names(module.block.forward) if module.block.forward else {}
        self.statement: list[int] = []  # per line: the index of the spec statement it comes from
        self.uses = _uses(self.stmts, module.output)
        self.pending: list = []  # unnamed values waiting to be used: (Tensor, expression, base name, comment)
        self.taken: list = []    # the pending values the expression being built reads, in order
        self.indent = INDENT
        self.output = module.output  # what the code being written ends with (a `for` body: its names' values)
        self.fixed: dict = {}    # inside a `for` body: spec name -> the variable that holds it across iterations
        self.loop_vars: set = set()  # the `for` variables in scope: their layers are called without `self.`
        self.outside: list | None = None  # in a `for` body: per statement, the source of each read from outside

    def write(self) -> list[str]:
        names = [n for n, _, _ in self.module.block.inputs]
        for n, t in zip(names, self.module.inputs):
            self.holder[n] = t
            self.expr.setdefault(t, n)
        self.lines.append(f"    def {self.name}(self, {', '.join(names)}):")
        self.statement.append(-1)
        if self.name != "forward" and self.module.block.doc:
            self.lines.append(docstring(self.module.block.doc.strip("\n"), INDENT))
            self.statement.append(-1)
        starts = [(s.span.line, s.span.col) for s in self.module.block.forward.stmts]
        self.statement_of = [_statement_of(starts, st.span) for st in self.stmts]
        output, (common, train) = self.module.output, self.sections
        self._statements(0, common, starts)
        if isinstance(output, ModeChoice):  # the training-only statements, then the eval-only ones
            self._flush()
            first = len(self.lines)
            self.lines.append(f"{self.indent}if self.training:")
            self.indent += "    "
            self._statements(common, common + train, starts)
            self._return(output.train, len(starts))
            self.indent = INDENT
            self._statements(common + train, len(self.stmts), starts)
            output = output.eval
            self.statement[first:] = [len(starts)] * (len(self.lines) - first)  # all one piece, as the return
        self._return(output, len(starts))
        return self.lines

    def _statements(self, first: int, end: int, starts: list) -> None:
        for self.i in range(first, end):
            st = self.stmts[self.i]
            self._statement(st)
            self.statement += [_statement_of(starts, st.span)] * (len(self.lines) - len(self.statement))

    def _return(self, value, statement: int) -> None:
        self.taken = []
        self.lines.append(f"{self.indent}return {self._inlined(self.src(value), None)}")
        self.statement += [statement] * (len(self.lines) - len(self.statement))

    def _statement(self, st) -> None:
        where = f"  # line {st.span.line}"
        if st.kind == "for":
            self._flush()
            self._for(st)
        elif st.kind in ("scan", "loop", "decode"):
            self._flush()
            first, outer = len(self.lines), self.busy
            first_state = 0 if st.kind == "loop" else 1  # the state's initial values may give up their names
            kept = st.args[:first_state] + st.args[first_state + st.options["n_state"]:]
            self.busy = {self.src(a).split("[")[0] for a in _tensors(kept)} | (outer or set())
            getattr(self, f"_{st.kind}")(st)
            self.busy = outer
            self.lines[first] += where
        else:
            self._call(st, where)

    # --- values and names
    def src(self, value, hint: str | None = None) -> str:
        if isinstance(value, Tensor):
            if hint is not None and self.holder.get(hint) == value:  # `p(x, x)`: the name the spec wrote
                return hint
            if any(t == value for t, _, _, _ in self.pending):
                self.taken.append(value)
                return f"__pending{len(self.taken) - 1}__"
            return self.expr[value]
        if isinstance(value, list):
            return "[" + ", ".join(self.src(v) for v in value) + "]"
        inner = ", ".join(self.src(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"

    def var(self, want: str, value=None, before: bool = False) -> str:
        """A variable for `value` named `want`, unless that name holds a value still needed later. `before`:
        the line goes before the current statement's, so the values that statement reads are still needed."""
        base = want if want.isidentifier() and want not in RESERVED and want not in self.gen.support_names \
            else f"{want}_"
        name, k = base, 1
        needed = self.i - 1 if before else self.i
        if want in self.fixed:  # a name a `for` body assigns: its variable, the value it held kept if needed
            name = self.fixed[want]
            old = self.holder.get(name)
            if old is not None and old != value and self.live_until.get(old, -1) > needed:
                self.lines.append(f"{self.indent}{self.var(f'{want}_in', old)} = {name}")
            self.holder[name] = value
            if value is not None:
                _bind(value, name, self.expr)
            return name
        while (name in self.holder and self.live_until.get(self.holder[name], -1) > needed) or \
                (self.busy is not None and name in self.busy):
            name = f"{base}_{k}"
            k += 1
        if self.busy is not None:
            self.busy.add(name)
        self.holder[name] = value
        if value is not None:
            _bind(value, name, self.expr)
        return name

    # --- unnamed values written where they are used
    def _inlined(self, text: str, result) -> str:
        """`text` with the pending values it reads written in, when they are the last ones made, in order
        (else they get variables first); the other pending values get their variables, unless `result`
        itself will wait (then they keep waiting)."""
        taken, self.taken = self.taken, []
        waiting = [t for t, _, _, _ in self.pending]
        inline = {k: next(e for u, e, _, _ in self.pending if u == t) for k, t in enumerate(taken)}
        once = all(text.count(f"__pending{k}__") == 1 for k in inline)  # `x.reshape(x.shape[0], -1)`: x twice
        written = _substitute(text, inline) if inline and once else text
        if taken != waiting[len(waiting) - len(taken):] or not once or not _reads_well(written):
            for k, t in enumerate(taken):
                text = text.replace(f"__pending{k}__", self._flush_until(t))
            if result is None:
                self._flush()
            return text
        self.pending = self.pending[:len(self.pending) - len(taken)]
        if result is None:
            self._flush()
        return written

    def _flush_until(self, t) -> str:
        """Give variables to the pending values up to `t`, in order; `t`'s variable."""
        while self.pending:
            u, expr, base, where = self.pending.pop(0)
            name = self.var(base, u, before=True)
            self.lines.append(f"{self.indent}{name} = {expr}{where}")
            if u == t:
                return name
        raise KeyError(t)

    def _flush(self) -> None:
        while self.pending:
            self._flush_until(self.pending[-1][0])

    def _dead_after(self, t) -> bool:
        """`t` may be overwritten by the op reading it: made in this forward by an op whose gradient does not
        need its output, and read nowhere else (torchvision's `nn.ReLU(inplace=True)` after conv, bn, add)."""
        if not isinstance(t, Tensor) or self.uses[t] != 1 or any(t == x for x in self.module.inputs) or self.loop_vars:
            return False
        node = self.gen.graph.node(t.node)
        return node.kind == "op" and node.scope == self.module.path and node.op.name in _BACKWARD_WITHOUT_OUTPUT

    def _waits(self, st) -> bool:
        """An unnamed value used once, later in the same spec statement (or returned by it)."""
        r = st.result
        if not isinstance(r, Tensor) or st.target is not None or self.uses[r] != 1:
            return False
        later = [j for j in range(self.i + 1, len(self.stmts)) if r in _tensors(self.stmts[j].args)]
        if not later:  # returned: written into `return` when made by the last spec statement
            return r in set(_tensors(self.output)) and self.statement_of[self.i] == max(self.statement_of, default=0)
        j = later[0]
        return self.statement_of[j] == self.statement_of[self.i] and self.stmts[j].kind not in ("scan", "loop",
                                                                                              "decode")

    # --- statements
    def _call(self, st, where: str) -> None:
        hints = self.hints.get(st.span, [])
        self.taken = []
        args = self._args(st.args, hints)
        if st.kind == "module":
            owner = "" if _head(st.callee) in self.loop_vars else "self."
            call, base = f"{owner}{st.callee}({', '.join(args)})", _identifier(st.callee)
            child = self.module.children.get(st.callee)  # None: a model this model uses (`uses:`)
            if child is not None and child.kind == "op" and probed_call(child.op):  # several outputs or a custom call: probed inline
                node = self.gen.graph.node(next(_tensors(st.result)).node)
                layer_call = lowering(child.op).layer_call
                if layer_call is not None:
                    call = layer_call(node.attrs, self.gen.in_shapes(node), f"self.{st.callee}", args)
                if self.gen.probe:
                    call = f"_probe(self, {node.stmt_index!r}, {call})"
        else:
            node = self.gen.graph.node(st.callee)
            low = lowering(node.op)
            write = low.inplace if low.inplace is not None and self._dead_after(st.args[0]) else low.call
            call, base = self.inline(node, write, args), node.op.name
            if self.gen.probe:
                call = f"_probe(self, {node.stmt_index!r}, {call})"
        waits = self._waits(st)
        call = self._inlined(call, st.result if waits else None)
        if waits:
            self.pending.append((st.result, call, base, where))
            return
        if isinstance(st.target, tuple) and _same_structure(st.target, st.result):
            var = self._unpack(st.target, st.result)
        else:
            want = st.target if isinstance(st.target, str) else ("out" if self.output == st.result else base)
            var = self.var(want, st.result)
        self.lines.append(f"{self.indent}{var} = {call}{where}")

    def _args(self, values: list, hints: list) -> list[str]:
        """The sources of a statement's arguments; inside a `for` body, a value read from outside the loop by its
        variable from before the loop (`self.outside`: its flat read positions)."""
        if self.outside is None:
            return [self.src(a, hints[k] if k < len(hints) else None) for k, a in enumerate(values)]
        flat = iter(self.outside[self.i])

        def one(v):  # (no spec-written names here: the name may hold the value of another iteration)
            if isinstance(v, Tensor):
                outer = next(flat)
                return outer if outer is not None else self.src(v)
            inner = ", ".join(one(x) for x in v)
            return f"[{inner}]" if isinstance(v, list) else f"({inner},)" if len(v) == 1 else f"({inner})"

        return [one(a) for a in values]

    def _unpack(self, names, result) -> str:
        if isinstance(names, str):
            return self.var(names, result)
        return ", ".join(self._unpack(n, r) if isinstance(n, str) else f"({self._unpack(n, r)})"
                         for n, r in zip(names, result))

    def _names(self, st, defaults: list[str]) -> list[str]:
        """Names of a loop's results, flat: the spec's assignment targets, else the defaults."""
        if isinstance(st.target, tuple) and _same_structure(st.target, st.result):
            flat = list(_flat_names(st.target))
            if len(flat) == len(defaults):
                return flat
        if isinstance(st.target, str) and len(defaults) == 1:
            return [st.target]
        return defaults

    def _probe(self, st, key: str, source: str) -> str:
        if not self.gen.probe:
            return source
        return f"_probe(self, {self.gen.graph.node(_loop_id(st)).stmt_index + '.' + key!r}, {source})"

    def _state(self, st, first: int, outputs: list, names: list[str]) -> list[str]:
        """Bind the carried state variables to their initial values; returns their names."""
        n = st.options["n_state"]
        sources = [self.src(v) for v in st.args[first:first + n]]
        state = [self.var(nm, out) for nm, out in zip(names, outputs)]
        moved = [(v, src) for v, src in zip(state, sources) if v != src]  # `h = h` is left out
        if moved:
            self.lines.append(f"{self.indent}{', '.join(v for v, _ in moved)} = {', '.join(src for _, src in moved)}")
        return state

    def _body_args(self, st, first_arg: str | None, state: list[str], first: int) -> str:
        consts = [self.src(v) for v in st.args[first + st.options["n_state"]:]]
        args = ([first_arg] if first_arg is not None else []) + state + consts
        return ", ".join(self._probe(st, f"p{k}", a) for k, a in enumerate(args))

    def _outputs_probe(self, st, names: list[str]) -> None:
        for j, name in enumerate(names):
            if self.gen.probe:
                self.lines.append(f"{self.indent}{self._probe(st, f'o{j}', name)}")

    def _scan(self, st) -> None:
        outs, m = list(_tensors(st.result)), st.options.get("step_outputs", 1)
        body_inputs = self._body_input_names(st)
        names = self._names(st, (["ys"] if m == 1 else [f"ys{i}" for i in range(m)])
                            + body_inputs[1:1 + st.options["n_state"]])
        xs, dim = self.src(st.args[0]), st.options["dim"]
        state = self._state(st, 1, outs[m:], names[m:])
        ys = [self.var(nm, out) for nm, out in zip(names[:m], outs[:m])]
        step = self.var("t")
        ys_t = [self.var(f"{y}_t") for y in ys]
        kept = self._kept(outs[:m], ys, ys_t)
        steps = [self.var(f"{y}_steps") for y, _ in kept]
        if steps:
            self.lines.append(f"{self.indent}{', '.join(steps)} = {', '.join('[]' for _ in steps)}")
        steps_range, order = f"range({xs}.shape[{dim}])", ""
        if st.options.get("reverse"):  # last step to first; the outputs are stacked in the sequence's order
            steps_range, order = f"reversed({steps_range})", "[::-1]"
        self.lines += [f"{self.indent}for {step} in {steps_range}:",
                       f"{self.indent}    {self._step_lhs(st, ys_t, state)} = "
                       f"self.{st.callee}({self._body_args(st, _select(xs, dim, step), state, 1)})"]
        self.lines += [f"{self.indent}    {s}.append({y_t})" for s, (_, y_t) in zip(steps, kept)]
        self.lines += [f"{self.indent}{y} = torch.stack({s}{order}, {dim})" for s, (y, _) in zip(steps, kept)]
        self._outputs_probe(st, [y for y, _ in kept] + state)

    def _kept(self, outs: list, ys: list[str], ys_t: list[str]) -> list[tuple[str, str]]:
        """The stacked per-step outputs that are used later (all of them when probing)."""
        return [(y, y_t) for out, y, y_t in zip(outs, ys, ys_t) if self.gen.probe or out in self.live_until]

    def _step_lhs(self, st, ys_t: list[str], state: list[str]) -> str:
        """`y_t, h` or, for grouped per-step outputs, `(y_t, a_t), h`."""
        ys = ", ".join(ys_t)
        if st.options.get("grouped"):
            ys = f"({ys},)" if len(ys_t) == 1 else f"({ys})"
        return ", ".join([ys] + state)

    def _loop(self, st) -> None:
        outs = _as_list(st.result)
        names = self._names(st, self._body_input_names(st)[:st.options["n_state"]])
        state = self._state(st, 0, outs, names)
        self.lines += [f"{self.indent}for _ in range({st.options['count']}):",
                       f"{self.indent}    {', '.join(state)} = self.{st.callee}({self._body_args(st, None, state, 0)})"]
        self._outputs_probe(st, state)

    def _decode(self, st) -> None:
        outs, m = list(_tensors(st.result)), st.options.get("step_outputs", 1)
        body_inputs = self._body_input_names(st)
        names = self._names(st, ["tokens", "logits"] + [f"outs{i}" for i in range(1, m)]
                            + body_inputs[1:1 + st.options["n_state"]])
        start_shape = self.gen.graph.node(st.args[0].node).meta.shape
        token = self.var("token")
        self.lines.append(f"{self.indent}{token} = {self.src(st.args[0])}")
        state = self._state(st, 1, outs[1 + m:], names[1 + m:])
        tokens = self.var(names[0], outs[0])
        ys = [self.var(nm, out) for nm, out in zip(names[1:1 + m], outs[1:1 + m])]
        ys_t = [self.var(f"{y}_t") for y in ys]
        kept = self._kept(outs[1:1 + m], ys, ys_t)
        token_steps = self.var(f"{tokens}_steps")
        steps = [self.var(f"{y}_steps") for y, _ in kept]
        eos = st.options["eos"]
        done = self.var("done") if eos is not None else None
        self.lines.append(f"{self.indent}{', '.join([token_steps] + steps)} = {', '.join('[]' for _ in [0] + steps)}")
        if done:
            self.lines.append(f"{self.indent}{done} = torch.zeros_like({token}, dtype=torch.bool)")
        self.lines += [f"{self.indent}for _ in range({st.options['max_len']}):",
                       f"{self.indent}    {self._step_lhs(st, ys_t, state)} = "
                       f"self.{st.callee}({self._body_args(st, token, state, 1)})",
                       f"{self.indent}    {token} = {ys_t[0]}.argmax(-1)"]
        if done:  # after end-of-sentence a sequence only repeats it
            self.lines += [f"{self.indent}    {token} = torch.where({done}, torch.full_like({token}, {eos}), {token})",
                           f"{self.indent}    {done} = {done} | ({token} == {eos})"]
        self.lines.append(f"{self.indent}    {token_steps}.append({token})")
        self.lines += [f"{self.indent}    {s}.append({y_t})" for s, (_, y_t) in zip(steps, kept)]
        at = len(start_shape)
        self.lines.append(f"{self.indent}{tokens} = torch.stack({token_steps}, {at})")
        self.lines += [f"{self.indent}{y} = torch.stack({s}, {at})" for s, (y, _) in zip(steps, kept)]
        self._outputs_probe(st, [tokens] + [y for y, _ in kept] + state)

    def _for(self, st) -> None:
        """`for layer in self.layers:` with the body written from the first iteration's statements. Each name the
        body assigns has one variable across the iterations; values from before the loop keep theirs."""
        opts, where = st.options, f"  # line {st.span.line}"
        body, first_end = opts["iterations"][0]
        names = [n for n in opts["names"] if list(_tensors(first_end[n]))]
        fixed = {**self.fixed, **{n: self.fixed.get(n) or self.var(n) for n in names}}
        carried = {r[1] for roles in opts["roles"] for r in roles if r[0] == "name"}
        moved = [(fixed[n], self.src(opts["entry"][n])) for n in names if n in carried]
        moved = [(v, src) for v, src in moved if v != src]
        if moved:
            self.lines.append(f"{self.indent}{', '.join(v for v, _ in moved)} = {', '.join(s for _, s in moved)}")
        outside = {}  # the values read from outside the loop: each keeps a variable the body does not assign
        for t in (r[1] for roles in opts["roles"] for r in roles if r[0] == "outside"):
            if t not in outside:
                src = self.src(t)
                if _head(src) in fixed.values():
                    keep = self.var(f"{_head(src)}_outer", t)
                    self.lines.append(f"{self.indent}{keep} = {src}")
                    src = self.src(t)
                outside[t] = src
        owner = "" if _head(st.callee) in self.loop_vars else "self."
        self.lines.append(f"{self.indent}for {opts['var']} in {owner}{st.callee}:{where}")
        live = {n for n, v in self.holder.items() if v is not None and self.live_until.get(v, -1) >= self.i}
        saved = (self.stmts, self.i, self.live_until, self.uses, self.statement_of, self.busy, self.output,
                 self.indent, self.fixed, set(self.loop_vars), self.outside)
        self.stmts, self.output = body, tuple(first_end[n] for n in names)
        self.live_until, self.uses = _last_uses(body, self.output), _uses(body, self.output)
        self.statement_of = [_statement_of(opts["starts"], b.span) for b in body]
        self.busy = (live | (self.busy or set()) | {opts["var"]}) - set(fixed.values())
        self.indent, self.fixed = self.indent + "    ", fixed
        self.loop_vars.add(opts["var"])
        self.outside = [[outside.get(r[1]) if r[0] == "outside" else None for r in roles] for roles in opts["roles"]]
        before = {t: self.expr[t] for n in names if n in carried for t in _tensors(opts["entry"][n])}
        for n in names:
            if n in carried:
                self.holder[fixed[n]] = opts["entry"][n]
                _bind(opts["entry"][n], fixed[n], self.expr)
        for self.i, inner in enumerate(body):
            self._statement(inner)
        self.taken = []
        self._flush()
        self.i = len(body)  # the names' values at the end of the body: read as the loop's last statement
        ends = [(fixed[n], self._args([first_end[n]], [])[0]) for n in names]
        ends = [(v, src) for v, src in ends if v != src]
        if ends:  # a name that ends the iteration holding another's value (`h = x`): one assignment for all
            self.lines.append(f"{self.indent}{', '.join(v for v, _ in ends)} = {', '.join(s for _, s in ends)}")
        (self.stmts, self.i, self.live_until, self.uses, self.statement_of, self.busy, self.output,
         self.indent, self.fixed, self.loop_vars, self.outside) = saved
        self.expr.update(before)
        for n in names:
            final = opts["iterations"][-1][1][n]
            self.holder[fixed[n]] = final
            _bind(final, fixed[n], self.expr)

    def _body_input_names(self, st) -> list[str]:
        """The inputs of the loop's body: a layer of this block, or a model this model uses."""
        body = self.module.children.get(st.callee) or self.gen.graph.roots[st.callee]
        return [n for n, _, _ in body.block.inputs]


def _statement_of(starts: list, span) -> int:
    """The index of the spec statement a call at `span` belongs to: the last one starting before it."""
    at = (span.line, span.col)
    return max((k for k, s in enumerate(starts) if s <= at), default=0)


def arg_names(program) -> dict:
    """Call span -> the names the spec wrote as its tensor arguments (None where it wrote an expression)."""
    out: dict = {}

    def name(n):
        return n.id if isinstance(n, A.Name) else None

    def visit(node):
        if isinstance(node, A.Call):
            out[node.span] = [name(a) for a in node.args]
        elif isinstance(node, A.BinOp):
            out[node.span] = [name(node.left), name(node.right)]
        elif isinstance(node, A.Chain):
            out[node.items[1].span] = [name(node.items[0])]
        for value in vars(node).values():
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, A.Node):
                    visit(item)

    for stmt in program.stmts:
        visit(stmt)
    return out


# ops whose backward reads their inputs, not their output: an in-place op may overwrite that output (each
# checked by a gradient through torch.relu_ equal to one through torch.relu)
_BACKWARD_WITHOUT_OUTPUT = frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose2d", "linear", "tied_linear",
                                      "batchnorm1d", "batchnorm2d", "batchnorm3d", "layernorm", "layernorm2d",
                                      "matmul", "bmm", "add", "sub", "mul", "concat"})


def overwrites_input(graph, layer) -> bool:
    """Whether the activation layer `layer` may overwrite its input (`nn.ReLU(inplace=True)`, as torchvision's
    conv-norm-activation layers do): at each call, a value that an op of its block's forward whose gradient
    does not need its output made (the conv and the norm before it in a layer list), and that nothing else
    reads."""
    for call in layer.calls:
        node = graph.node(call)
        t = node.inputs[0] if node.inputs else None
        if not isinstance(t, Tensor) or list(graph.g.successors(t.node)) != [call] or _returned(graph, t):
            return False
        made = graph.node(t.node)
        if made.kind != "op" or made.scope != node.scope or made.op.name not in _BACKWARD_WITHOUT_OUTPUT:
            return False
    return bool(layer.calls)


def _returned(graph, t) -> bool:
    """Whether a model, one of its methods or an objective returns `t`."""
    views = [v for root in graph.roots.values() for v in root.methods.values()] + list(graph.objectives.values())
    return any(t in _tensors(out) for out in [*graph.outputs.values(), *(v.output for v in views)])


def _reads_well(expr: str) -> bool:
    """Short enough for one line, or a sum (which is written one term per line)."""
    if len(INDENT) + len(expr) + 24 <= MAX_LINE:
        return True
    body = ast.parse(expr, mode="eval").body
    return isinstance(body, ast.BinOp) and isinstance(body.op, (ast.Add, ast.Sub))


def _uses(stmts, output) -> Counter:
    """How often each value is read, the output counted as a read (once per mode where it differs by mode)."""
    sides = (output.train, output.eval) if isinstance(output, ModeChoice) else (output,)
    return Counter(t for st in stmts for t in _tensors(st.args)) + Counter(t for v in sides for t in _tensors(v))


def _by_mode(stmts: list, output) -> tuple[list, tuple[int, int]]:
    """The statements in the order they are written, and how many run in both modes and in training only.
    For an output that differs by mode: those that it needs in both modes (or in neither) first, then those
    only its training side needs (written under `if self.training:`), then those only its eval side needs."""
    if not isinstance(output, ModeChoice):
        return stmts, (len(stmts), 0)
    read = _needed(stmts, output.train, []) | _needed(stmts, output.eval, [])
    dead = [st for st in stmts if not set(_tensors(st.result)) & read]  # what they read runs in both modes
    train, eval_ = _needed(stmts, output.train, dead), _needed(stmts, output.eval, dead)
    sections: tuple = ([], [], [])
    for st in stmts:
        made = set(_tensors(st.result))
        in_train, in_eval = bool(made & train), bool(made & eval_)
        sections[0 if in_train == in_eval else 1 if in_train else 2].append(st)
    return [st for part in sections for st in part], (len(sections[0]), len(sections[1]))


def _needed(stmts: list, value, dead: list) -> set:
    """The values that computing `value`, and running the `dead` statements, reads."""
    need = set(_tensors(value)) | {t for st in dead for t in _tensors(st.args)}
    for st in reversed(stmts):
        if set(_tensors(st.result)) & need:
            need |= set(_tensors(st.args))
    return need


PRIMARY = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple)
_BINDING = {ast.BitOr: 5, ast.BitXor: 6, ast.BitAnd: 7, ast.LShift: 8, ast.RShift: 8, ast.Add: 9, ast.Sub: 9,
            ast.Mult: 10, ast.Div: 10, ast.FloorDiv: 10, ast.Mod: 10, ast.MatMult: 10, ast.Pow: 12}


def _binding(node) -> int:
    """How tightly an expression holds together: an operand binding looser than its operator needs parentheses."""
    if isinstance(node, ast.BinOp):
        return _BINDING[type(node.op)]
    if isinstance(node, ast.UnaryOp):
        return 3 if isinstance(node.op, ast.Not) else 11
    if isinstance(node, ast.Compare):
        return 4
    if isinstance(node, ast.BoolOp):
        return 2 if isinstance(node.op, ast.And) else 1
    return 0 if isinstance(node, (ast.IfExp, ast.Lambda, ast.NamedExpr)) else 13


def _needs_parentheses(parent, node, expr) -> bool:
    """Whether `expr`, written in place of `node` (a child of `parent`), must be parenthesized."""
    own = _binding(expr)
    if isinstance(parent, ast.BinOp):
        outer = _binding(parent)
        right = node is parent.right
        return own < outer or (own == outer and (right != isinstance(parent.op, ast.Pow)))
    if isinstance(parent, (ast.UnaryOp, ast.Compare, ast.BoolOp)):
        return own <= _binding(parent)
    if isinstance(parent, (ast.Attribute, ast.Subscript, ast.Starred, ast.IfExp, ast.Await)):
        return not isinstance(expr, PRIMARY)
    return False


def _substitute(text: str, inline: dict) -> str:
    """Write each `__pendingK__` of `text` as its expression, parenthesized where an operator binds it."""
    tree = ast.parse(text, mode="eval")
    parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("__pending"):
            expr = inline[int(node.id[len("__pending"):-2])]
            loose = _needs_parentheses(parents.get(id(node)), node, ast.parse(expr, mode="eval").body)
            text = text.replace(node.id, f"({expr})" if loose else expr, 1)
    return text


def _head(source: str) -> str:
    """The variable a source starts with: `layer` in `layer[0]`, `layers` in `layers.a`."""
    return source.split("[")[0].split(".")[0].split("(")[0]


def _identifier(callee: str) -> str:
    """A variable name for the value of `self.<callee>`: `layers[0]` -> `layers_0`, `blocks.a` -> `blocks_a`."""
    return "_".join("".join(c if c.isalnum() else " " for c in callee).split())


def _loop_id(st) -> str:
    return next(_tensors(st.result)).node


def _flat_names(names):
    if isinstance(names, str):
        yield names
    else:
        for n in names:
            yield from _flat_names(n)


def _select(xs: str, dim: int, step: str) -> str:
    if dim == 0:
        return f"{xs}[{step}]"
    if dim == 1:
        return f"{xs}[:, {step}]"
    return f"{xs}.select({dim}, {step})"


def _as_list(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


def _bind(result, var: str, expr: dict, prefix: str | None = None) -> None:
    src = prefix or var
    if isinstance(result, Tensor):
        expr[result] = src
        return
    for i, r in enumerate(result):
        _bind(r, var, expr, f"{src}[{i}]")


def _same_structure(names, result) -> bool:
    if isinstance(names, str):
        return isinstance(result, Tensor)
    return isinstance(result, tuple) and len(result) == len(names) and all(
        _same_structure(n, r) for n, r in zip(names, result))


def _last_uses(stmts, output) -> dict:
    last: dict = {}
    for i, st in enumerate(stmts):
        for t in _tensors(st.args):
            last[t] = i
    for t in _tensors(output):
        last[t] = len(stmts)
    return last
