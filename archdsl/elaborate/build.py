"""Elaboration: bind parameters, instantiate layers into a module tree, run `forward` into the graph."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import (ArchDSLError, ArityError, GraphError, LimitError, NameError_, ParamError, Span,
                      TypeError_, did_you_mean)
from ..ir.graph import Graph, ModeChoice, Module, Stmt, Tensor
from ..limits import DEFAULTS, exceeded
from ..ops.registry import REGISTRY, Attrs
from ..dims import Facts, as_static
from ..syntax import ast as A
from ..syntax.spec import SpecDoc
from ..syntax.unparse import unparse
from ..names import check_map_key
from .evaluate import Evaluator, is_tensorish
from .indexing import layer_item, subscript_entries
from .insizes import input_sizes, reads_input_sizes
from .layerloop import run_for
from .tying import resolve_ties
from .dimdecls import check_values, declared_dims
from .scope import Scope, SymbolScope, builtin_scope
from .loops import SIGNATURES, run_loop
from .modes import choice, is_entry, output_conds, refuse
from .values import TRAINING, BlockFn, BlockTemplate, LayerRef, LoopForm, OpFn, OpTemplate, describe

MAX_DEPTH = DEFAULTS["max_depth"]
MAX_NODES = DEFAULTS["max_nodes"]


@dataclass
class Frame:
    """One running `forward`: the block instance, and the statements recorded on its first call."""

    module: Module
    stmts: list | None
    seen: dict = field(default_factory=dict)  # call site -> how often it ran in this call
    bare: dict = field(default_factory=dict)  # `parameter` layer name -> its tensor in this call
    step: tuple | None = None  # inside `for layer in layers:`: (this iteration, iterations), for the probes
    modal: set = field(default_factory=set)  # a model's output conditionals, which may differ by mode (modes.py)

    def key(self, span: Span) -> str:
        """A name for a call site, the same in every instance of the block: `line.col`, `#k` when repeated."""
        base = f"{span.line}.{span.col}"
        k = self.seen[base] = self.seen.get(base, -1) + 1
        return f"{base}#{k}" if k else base


class Builder(Evaluator):
    def __init__(self, doc: SpecDoc, overrides: dict[str, Any] | None = None, limits: dict | None = None,
                 assume: bool = False):
        self.doc = doc
        self.graph = Graph()
        self.frame: Frame | None = None
        self.depth = 0
        self.limits = {**DEFAULTS, **(limits or {})}
        self.modules = 0  # layer instances made so far, bounded by the limit `max_nodes`
        self.unfilled: set[int] = set()  # blocks that read their input sizes, not yet called
        self.sized: dict[int, bool] = {}  # id(block) -> whether it reads its input sizes (asked once per block)
        self.warnings: list[tuple[str, Span, str]] = []
        overrides = dict(overrides or {})
        base = builtin_scope()
        names: dict[str, Any] = {op.name: OpFn(op) for op in REGISTRY.all()}
        names.update({k: LoopForm(k) for k in SIGNATURES})
        names["training"] = TRAINING
        self.ops = base.child(names, "ops")  # what every block sees, imported ones too
        self.homes: dict = {}  # an imported block's Home -> the scope its file gives it (`_outer`)
        self.ops_scope = self.ops.child({b.name: BlockFn(b) for b in doc.blocks.values() if b.name not in doc.hidden},
                                        "blocks")
        self.params = self._bind_params(overrides)
        self.dim_values = overrides  # what is left: values for symbolic dims
        self.globals = self.ops_scope.child(self.params, "params")
        self.globals = self._lets(self.doc.lets, self.globals)
        self.graph.facts = Facts(declared_dims(self), accept=assume)  # assume: conditions become assumptions
        check_values(self.graph.facts.decls, self.dim_values)

    # --- parameters
    def _bind_params(self, overrides: dict) -> dict:
        params = {}
        for name, (default, span) in self.doc.params.items():
            if name in overrides:
                value = overrides.pop(name)
                if not _same_kind(default, value):
                    raise ParamError(f"parameter `{name}` must be {_kind_name(default)}, got {value!r}",
                                     span, hint=f"the default is {default!r}")
                params[name] = value
            else:
                params[name] = default
        dim_names = {n.id for m in [*self.doc.models.values(), *self.doc.objectives.values()]
                     for _, dims, _ in m.inputs for d in (dims if isinstance(dims, list) else []) for n in _names_in(d)}
        for name in overrides:
            if name not in dim_names:
                raise ParamError(f"`{name}` is not a parameter of {self.doc.file}", self._params_span(),
                                 hint=did_you_mean(name, list(self.doc.params) + sorted(dim_names))
                                 or f"parameters: {', '.join(self.doc.params) or '(none)'}")
            value = overrides[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParamError(f"the dim `{name}` must be a positive integer, got {value!r}", self._params_span())
        return params

    def definition(self, name: str) -> Span | None:
        """Where a parameter, a let or a block's parameter or let named `name` is written (the first found)."""
        if name in self.doc.params:
            return self.doc.params[name][1]
        lets = [*self.doc.lets, *(let for m in self.doc.models.values() for let in m.lets),
                *(item for b in self.doc.blocks.values() for item in (*b.params, *b.lets))]
        return next((span for n, _, span in lets if n == name), None)

    def _params_span(self) -> Span:
        first = next(iter(self.doc.params.values()), None)
        return first[1] if first else Span(self.doc.file, 1, 1)

    def _lets(self, lets: list, scope: Scope) -> Scope:
        for name, node, _ in lets:
            scope = scope.child({name: self.static(node, scope, "derived value")}, "let")
        return scope

    # --- models
    def build(self) -> Graph:
        from .objectives import elaborate_objectives
        from .compose import model_order, tag_nodes, use_models

        for name in model_order(self.doc):  # each model after the models it uses (`uses:`)
            model = self.doc.models[name]
            first = len(self.graph)
            path = name if self.doc.multi_model else ""
            root = Module(path, name, "block", model.span, block=model, args={})
            self._fill_block(root, self.globals)
            use_models(self, name, root)
            self.graph.roots[name] = root
            inputs = self._inputs(model, path, path)
            self.graph.inputs[name] = [t.node for t in inputs]
            self.graph.outputs[name] = self.run_block(root, inputs, model.span)
            tag_nodes(self.graph, first, name)
            for method, mdef in model.methods.items():
                first = len(self.graph)
                inputs = self._inputs(mdef, f"{path}.{method}" if path else method, path)
                root.methods[method] = self.run_method(root, mdef, inputs)
                tag_nodes(self.graph, first, name)
                for nid in list(self.graph.g.nodes)[first:]:
                    self.graph.node(nid).method = method
        elaborate_objectives(self)
        self._lint()
        return self.graph

    def _inputs(self, model, path: str, scope_path: str) -> list:
        """Input nodes for the declared inputs of a model or method, ids prefixed with `path`."""
        scope = SymbolScope(self.globals, self.dim_values)
        inputs = []
        for in_name, dims, span in model.inputs:
            shape = tuple(self._dim(d, scope) for d in dims)
            nid = self.graph.unique_id(f"{path}.{in_name}" if path else in_name)
            self.graph.add(nid, [], op=None, kind="input", attrs=Attrs(), scope=scope_path,
                           module=None, span=span, call_span=span, shape=shape, name=in_name,
                           **self._input_type(model, in_name, scope))
            inputs.append(Tensor(nid))
        return inputs

    def run_method(self, root: Module, method, inputs: list):
        """A method of a model: its forward over the model's layers, recorded apart from the model's own."""
        view = Module(root.path, root.name, "block", method.span, block=method, args={}, children=root.children,
                      disabled=root.disabled, static_scope=self._lets(method.lets, root.static_scope))
        self.run_block(view, inputs, method.span)
        return view

    def _input_type(self, model, name: str, scope: Scope) -> dict:
        """dtype (float32 unless declared) and, for integer inputs, the value range [low, high) as dims."""
        t = model.input_types.get(name)
        if t is None:
            return {"dtype": "float32"}
        bounds = {k: None if n is None else self.static(n, scope, "value bound") for k, n in (("low", t.low),
                                                                                              ("high", t.high))}
        for k, v in bounds.items():
            if v is not None and (isinstance(v, bool) or not (isinstance(v, int) or hasattr(v, "free_symbols"))):
                raise TypeError_(f"`{k}` of the input `{name}` must be an integer, got {describe(v)}",
                                 getattr(t, k).span)
        return {"dtype": t.dtype, **bounds}

    def _dim(self, node: A.Node, scope: Scope):
        v = self.static(node, scope, "dim")
        if isinstance(v, bool) or not (isinstance(v, int) or hasattr(v, "free_symbols")):
            raise TypeError_(f"a dim must be a positive integer or a symbol, got {describe(v)}", node.span)
        if not isinstance(v, int) and not v.free_symbols:  # a symbolic computation without symbols: 1/0, ...
            v = as_static(v)
            if not isinstance(v, int):
                raise TypeError_(f"a dim must be a positive integer or a symbol, got `{v}`", node.span)
        if isinstance(v, int) and v < 1:
            raise TypeError_(f"a dim must be positive, got {v}", node.span)
        return v

    # --- layers -> module tree
    def _fill_block(self, module: Module, outer: Scope, sizes: dict | None = None) -> None:
        """The block's layers; `sizes`: its inputs' sizes (InputSizes), for a block that reads them."""
        if self.depth >= self.limits["max_depth"]:
            raise LimitError(f"blocks are nested more than {self.limits['max_depth']} deep at `{module.path}` "
                             "(the limit `max_depth`)", module.span,
                             hint="a block that uses itself never ends; otherwise " + exceeded("max_depth"))
        self.depth += 1
        names, scope, values = self.block_values(module.block, module.args, outer, sizes)
        for (lname, node, span), value in zip(module.block.layers, values):
            path = f"{module.path}.{lname}" if module.path else lname
            child = self.instantiate(value, path, lname, node.span)
            if child is None:
                module.disabled[lname] = span
            else:
                module.children[lname] = child
        resolve_ties(module)
        module.args = names
        module.static_scope = scope
        self.depth -= 1

    def _outer(self, block) -> Scope:
        """The names a block instance sees around its own: the spec's params and lets, or for a block imported
        from another file (syntax/imports.py) the ops and that file's blocks only."""
        home = block.home
        if home is None:
            return self.globals
        if home not in self.homes:
            blocks = {n: BlockFn(self.doc.blocks[n]) for n in home.sees if n in self.doc.blocks}
            outside = {n: _Outside(n, kind, home.file) for n, kind in home.outside}
            self.homes[home] = self.ops.child(outside, f"top level of {home.file}").child(blocks,
                                                                                         f"blocks of {home.file}")
        return self.homes[home]

    def block_values(self, block, args: dict, outer: Scope, sizes: dict | None):
        """What a block instance's layers are made from: its arguments (defaults filled in), its scope
        (arguments, input sizes, lets) and the value of each layer, evaluated as each is made (so errors come
        in source order). The language server's BlockCache (archdsl/incremental.py) reuses them."""
        names = {}
        for pname, default, _ in block.params:
            names[pname] = args[pname] if pname in args else self.static(default, outer, "default")
        scope = outer.child(names, f"arguments of {block.name}")
        scope = self._lets(block.lets, scope.child(sizes, "input sizes") if sizes else scope)
        return names, scope, (self.static(node, scope, "layer") for _, node, _ in block.layers)

    def _reads_sizes(self, block) -> bool:
        if id(block) not in self.sized:
            self.sized[id(block)] = reads_input_sizes(block)
        return self.sized[id(block)]

    def instantiate(self, value, path: str, name: str, span: Span) -> Module | None:
        if value is None:
            return None
        self.modules += 1
        if self.modules > self.limits["max_nodes"]:
            raise LimitError(f"the model has more than {self.limits['max_nodes']:,} layer instances "
                             "(the limit `max_nodes`)", getattr(value, "span", span), hint=exceeded("max_nodes"))
        if isinstance(value, OpFn):
            value = OpTemplate(value.op, _defaults(value.op, span), span)
        if isinstance(value, BlockFn):
            value = self.bind_block(value.block, [], {}, span)
        if isinstance(value, OpTemplate):
            if value.op.inline_only:
                raise TypeError_(f"`{value.op.name}` cannot be a layer; use it inline in `forward`", value.span)
            return Module(path, name, "op", value.span, op=value.op.called(value.attrs), attrs=value.attrs)
        if isinstance(value, BlockTemplate):
            module = Module(path, name, "block", value.span, block=value.block, args=dict(value.args))
            if self._reads_sizes(value.block):
                self.unfilled.add(id(module))  # its layers are made at its first call
            else:
                self._fill_block(module, self._outer(value.block))
            return module
        if isinstance(value, (list, tuple, dict)):
            if self.depth >= self.limits["max_depth"]:
                raise LimitError(f"lists of layers are nested more than {self.limits['max_depth']} deep at `{path}` "
                                 "(the limit `max_depth`)", span, hint=exceeded("max_depth"))
            module = Module(path, name, "seq", span)
            self.depth += 1
            for key, item in _named_items(value, span):
                index = key if key is not None else str(len(module.children))
                child = self.instantiate(item, f"{path}.{index}", index, getattr(item, "span", span))
                if child is not None and child.kind == "op" and not child.op.chainable:
                    raise TypeError_(f"`{child.op.name}` cannot be an element of a layer list: "
                                     + ("it returns several tensors" if child.op.outputs is not None else
                                        "it takes several tensors"), child.span,
                                     hint="declare it as a layer of its own and call it in `forward`")
                if child is not None:
                    module.children[index] = child
            self.depth -= 1
            return module
        raise TypeError_(f"a layer must be an op, a block, or a list or a map of them, got {describe(value)}", span)

    # --- forward -> graph
    def run_block(self, module: Module, args: list, call_span: Span):
        block = module.block
        if len(args) != len(block.inputs):
            raise ArityError(f"`{module.path or block.name}` takes {len(block.inputs)} input(s) "
                             f"({', '.join(n for n, _, _ in block.inputs)}), got {len(args)}", call_span)
        if self.depth >= self.limits["max_depth"]:
            raise LimitError(f"calls are nested more than {self.limits['max_depth']} deep (the limit `max_depth`)",
                             call_span, hint=exceeded("max_depth"))
        if id(module) in self.unfilled:
            self.unfilled.discard(id(module))
            self._fill_block(module, self._outer(block), input_sizes(self.graph, block, args))
        first = not module.calls
        frame = Frame(module, [] if first else None)
        last = block.forward.stmts[-1]
        if is_entry(self.doc, block):
            frame.modal = output_conds(last)
        outer, self.frame = self.frame, frame
        self.depth += 1
        names = {n: LayerRef(c) for n, c in module.children.items()}
        names.update({n: _Disabled(n, s) for n, s in module.disabled.items()})
        scope = module.static_scope.child(names, "layers").child(
            {n: t for (n, _, _), t in zip(block.inputs, args)}, "inputs")
        result = None
        try:
            for stmt in block.forward.stmts:
                result = self._stmt(stmt, scope, "out" if stmt is last else None)
        except ArchDSLError as exc:
            if module.path:
                exc.with_note(f"in `{module.path}`, an instance of `{block.name}` called at {call_span}")
            raise
        if outer is not None:  # a model using this one, or a loop running it
            refuse(result, f"the model `{module.path or block.name}`", call_span)
        if not is_tensorish(result) and not _is_tensor_tree(result) and not isinstance(result, ModeChoice):
            raise GraphError(f"the forward of `{module.path or block.name}` must end with its output tensor(s), "
                             f"got {describe(result)}", block.forward.stmts[-1].span)
        self.depth -= 1
        self.frame = outer
        if first:
            module.program, module.inputs, module.output = frame.stmts, list(args), result
        module.calls.append(result)
        return result

    def _stmt(self, stmt: A.Node, scope: Scope, default_target: str | None):
        if isinstance(stmt, A.Assert):
            return self.check_assert(stmt, scope)
        if isinstance(stmt, A.For):
            return run_for(self, stmt, scope)
        if isinstance(stmt, A.Assign):
            value = self._value(stmt.value, scope, _target_names(stmt.targets))
            names: dict = {}
            self.bind_targets(stmt.targets, value, names, stmt.span)
            scope.vars.update(names)
            return value
        node = stmt.value if isinstance(stmt, A.Return) else stmt
        return self._value(node, scope, default_target)

    def _value(self, node: A.Node, scope: Scope, target: str | None):
        before = len(self.frame.stmts) if self.frame.stmts is not None else 0
        link_target = target if isinstance(target, str) else None
        if isinstance(node, A.Chain):
            value = self.eval_Chain(node, scope, link_target)
        elif isinstance(node, A.Call):
            value = self.eval_Call(node, scope, target)
        else:
            value = self.eval(node, scope)
        stmts = self.frame.stmts
        if target and stmts is not None and len(stmts) > before and stmts[-1].result is value:
            stmts[-1].target = target
        return value

    def check_assert(self, stmt: A.Assert, scope: Scope) -> None:
        """`assert cond, 'message'`: decided statically, a located error when false."""
        if not self.truth(stmt.test, scope):
            message = self.static(stmt.msg, scope, "message") if stmt.msg is not None else None
            raise ParamError(f"assertion failed: {message if message is not None else unparse(stmt.test)}",
                             stmt.test.span, hint=_bindings(stmt.test, scope))

    def eval_Name(self, node: A.Name, scope: Scope):
        """A `parameter` layer named in `forward` is its tensor."""
        value = scope.lookup(node.id, node.span)
        if isinstance(value, _Outside):
            raise NameError_(f"`{node.id}` is a {value.kind} of {value.file}, which an imported block cannot read",
                             node.span, hint=f"make `{node.id}` a parameter of the block, and pass it where the "
                                             "block is used")
        if isinstance(value, LayerRef) and value.module.kind == "op" and value.module.op.name == "parameter":
            return self._bare(value, node.span)
        return value

    def _bare(self, ref: LayerRef, span: Span):
        if ref.source not in self.frame.bare:
            result = self.call_module(ref.module, [], span)
            self._record(Stmt("module", ref.source, [], result, span))
            self.frame.bare[ref.source] = result
        return self.frame.bare[ref.source]

    def loop_form(self, form: LoopForm, args: list, kwargs: dict, span: Span, target):
        if self.frame is None:
            raise TypeError_(f"`{form.kind}` runs tensors, so it belongs in `forward`", span)
        return run_loop(self, form.kind, args, kwargs, span, target)

    def apply(self, fn, values: list, kwargs: dict, span: Span, target: str | None = None):
        if self.frame is None:
            raise TypeError_(f"{describe(fn)} can only be applied to tensors inside `forward`", span)
        keywords = _call_keywords(fn, kwargs)
        if isinstance(fn, _Disabled):
            raise GraphError(f"the layer `{fn.name}` is disabled: its definition evaluated to None", span,
                             hint=f"its condition is false (see line {fn.span.line}); guard this call with the "
                                  "same condition")
        if isinstance(fn, OpFn):
            fn = OpTemplate(fn.op, _defaults(fn.op, span), span)
        bad = [v for v in values if not is_tensorish(v)]  # (a list: the bad value may itself be None)
        if bad or not values:
            raise TypeError_(f"{describe(fn)} must be applied to tensors, got {describe(bad[0]) if bad else 'nothing'}",
                             span)
        if isinstance(fn, OpTemplate):
            if fn.op.layer_only:
                raise TypeError_(f"`{fn.op.name}` has weights, so it must be declared under `layers:`", span,
                                 hint=f"add e.g. `{fn.op.name}1: {fn.op.name}(...)` to `layers:` and call it by name")
            return self._inline_op(fn, values, span, target)
        if isinstance(fn, LayerRef):
            result = self.call_module(fn.module, values, span, keywords)
            self._record(Stmt("module", fn.source, list(values) + list(keywords.values()), result, span, target))
            for owner in fn.owners:
                owner.calls.append(result)
            return result
        if isinstance(fn, BlockTemplate):
            raise TypeError_(f"the block `{fn.block.name}` must be declared under `layers:` before it is applied",
                             span)
        raise TypeError_(f"{describe(fn)} cannot be applied to tensors", span)

    def call_module(self, module: Module, values: list, span: Span, keywords: dict | None = None):
        if module.kind == "block":
            return self.run_block(module, values, span)
        if module.kind == "seq":  # the first input threads through, the others go to every layer unchanged
            value, rest = values[0], list(values[1:])
            for child in module.children.values():
                value = self.call_module(child, [value] + rest, span)
            module.calls.append(value)
            return value
        self._check_arity(module.op, values, span)
        nid = module.path if not module.calls else self.node_id(f"{module.path}@{len(module.calls)}")
        keywords = keywords or {}  # tensor keyword inputs follow the positional ones; the node's attrs flag them
        attrs = Attrs({**module.attrs, **dict.fromkeys(keywords, True)}) if keywords else module.attrs
        self._add_node(nid, module.op, attrs, values + list(keywords.values()), module.span, span, module.path)
        self._mark_call(nid, span)
        module.calls.append(nid)
        return op_result(module.op, nid)

    def _inline_op(self, tmpl: OpTemplate, values: list, span: Span, target: str | None):
        self._check_arity(tmpl.op, values, span)
        scope = self.frame.module.path
        nid = self.node_id(f"{scope}.{tmpl.op.name}" if scope else tmpl.op.name)
        op = tmpl.op.called(tmpl.attrs)  # its output structure as these attributes decide it (chunk's parts)
        self._add_node(nid, op, tmpl.attrs, values, tmpl.span, span, None)
        self._mark_call(nid, span)
        result = op_result(op, nid)
        self._record(Stmt("op", nid, list(values), result, span, target))
        return result

    def node_id(self, base: str) -> str:
        """A fresh id for an op node: `base`, or `base_k` where that is taken."""
        return self.graph.unique_id(base)

    def _mark_call(self, nid: str, span: Span) -> None:
        """Where the node is called in its block's forward, and in which call of the block (probes)."""
        node = self.graph.node(nid)
        node.stmt_index, node.call_index = self.frame.key(span), len(self.frame.module.calls)
        node.step = self.frame.step

    def _check_arity(self, op, values: list, span: Span) -> None:
        if op.inputs is None:
            if len(values) != 1 or not isinstance(values[0], (list, tuple)):
                raise ArityError(f"`{op.name}` takes one list of tensors, like `{op.name}([a, b])`", span)
            return
        if any(isinstance(v, (list, tuple)) for v in values):
            raise ArityError(f"`{op.name}` takes tensors, not a list", span)
        if len(values) not in op.arities:
            counts = " or ".join(map(str, op.arities))
            raise ArityError(f"`{op.name}` takes {counts} input tensor(s), got {len(values)}", span)

    def _add_node(self, nid, op, attrs, values, span, call_span, module_path):
        if len(self.graph) >= self.limits["max_nodes"]:
            raise LimitError(f"the graph has more than {self.limits['max_nodes']:,} nodes (the limit `max_nodes`)",
                             call_span, hint=exceeded("max_nodes"))
        inputs = [list(v) if isinstance(v, (list, tuple)) else v for v in values]
        self.graph.add(nid, inputs, op=op, kind="op", attrs=attrs, scope=self.frame.module.path, module=module_path,
                       span=span, call_span=call_span)

    def _record(self, stmt: Stmt) -> None:
        if self.frame.stmts is not None:
            self.frame.stmts.append(stmt)

    def tensor_binop(self, op: str, left, right, node: A.Node):
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            name = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul"}.get(op)
            args, attrs = [left, right], None
        else:
            number = right if isinstance(left, Tensor) else left
            if op not in ("+", "-", "*", "/") or isinstance(number, bool) or not isinstance(number, (int, float)):
                raise TypeError_(f"`{op}` between a tensor and {describe(number)} is not supported", node.span,
                                 hint="tensors combine with tensors (`y + x`) or with plain numbers (`x * 0.5`)")
            name, args = "scalar_arith", [left if isinstance(left, Tensor) else right]
            attrs = {"op": op, "value": number, "reverse": not isinstance(left, Tensor)}
        op_def = REGISTRY.get(name)
        if op_def is None:
            raise TypeError_(f"`{op}` is not supported between tensors", node.span)
        from ..ops.registry import bind

        bound = bind(op_def, [], {k: (v, node.span) for k, v in (attrs or {}).items()}, node.span)
        return self._inline_op(OpTemplate(op_def, bound, node.span), args, node.span, None)

    def tensor_index(self, value: Tensor, node: A.Index, scope: Scope):
        if self.frame is None:  # an objective's input naming a model's output: the model returns one tensor
            raise TypeError_("a tensor cannot be indexed here: the model returns one tensor", node.span,
                             hint="name the model's output without an index")
        op = REGISTRY.get("index")
        attrs = Attrs(subscript=subscript_entries(self, node, scope))
        return self._inline_op(OpTemplate(op, attrs, node.span), [value], node.span, None)

    def mode_branch(self, node: A.Cond, scope: Scope):
        """`a if training else b`: both tensors are made; the generated code picks one by `self.training`."""
        if self.frame is None:
            return super().mode_branch(node, scope)
        values = [self.eval(node.body, scope), self.eval(node.orelse, scope)]
        bad = next((v for v in values if not isinstance(v, Tensor)), None)
        if bad is not None and id(node) in self.frame.modal:  # a model's output: its structure may differ
            return choice(*values, node.span)
        if bad is not None:
            raise TypeError_(f"`a if training else b` chooses between two tensors, got {describe(bad)}", node.span,
                             hint="only a model's output (its last statement) may differ in structure by mode: "
                                  "`(logits, aux) if training else logits`")
        return self._inline_op(OpTemplate(REGISTRY.get("if_training"), Attrs(), node.span), values, node.span, None)

    def eval_Index(self, node: A.Index, scope: Scope):
        value = self.eval(node.value, scope)
        if isinstance(value, LayerRef):
            return layer_item(self, value, node, scope)
        if isinstance(value, Tensor):
            return self.tensor_index(value, node, scope)
        return self.index_value(value, node, scope)

    # --- lint
    def _lint(self) -> None:
        import networkx as nx

        if not nx.is_directed_acyclic_graph(self.graph.g):
            cycle = nx.find_cycle(self.graph.g)
            raise GraphError(f"the dataflow has a cycle through `{cycle[0][0]}`", self.graph.node(cycle[0][0]).span)
        for root in self.graph.roots.values():
            for module in root.walk():
                _check_list_used(module)
                if module is not root and not module.calls:
                    self.warnings.append(("W001", module.span, f"the layer `{module.path}` is never used in forward"))


class _Outside:
    """A top-level name of a file whose blocks are imported: out of those blocks' reach."""

    def __init__(self, name: str, kind: str, file: str):
        self.name, self.kind, self.file = name, kind, file


class _Disabled:
    def __init__(self, name: str, span: Span):
        self.name, self.span = name, span


def op_result(op, nid: str):
    """The value of an op node: a Tensor, or for multi-output ops their structure of Tensors."""
    if op.outputs is None:
        return Tensor(nid)

    def build(s):
        return Tensor(nid, s) if isinstance(s, int) else tuple(build(x) for x in s)

    return build(op.outputs)


def _call_keywords(fn, kwargs: dict) -> dict:
    """The tensor inputs a layer call gives by keyword (`lstm1(x, lengths=lengths)`), in its op's order."""
    allowed = fn.module.op.call_keywords if isinstance(fn, LayerRef) and fn.module.kind == "op" else ()
    for key, (value, where) in kwargs.items():
        if not allowed:
            raise TypeError_("keyword arguments are only for op parameters, not for layer calls", where)
        if key not in allowed:
            raise TypeError_(f"a `{fn.module.op.name}` layer call has no keyword `{key}`", where,
                             hint=f"it takes {', '.join(f'`{k}=`' for k in allowed)}")
        if not isinstance(value, Tensor):
            raise TypeError_(f"`{key}=` must be a tensor, got {describe(value)}", where)
    return {k: kwargs[k][0] for k in allowed if k in kwargs}


def _defaults(op, span: Span) -> Attrs:
    from ..ops.registry import bind

    return bind(op, [], {}, span)


def _check_list_used(module: Module) -> None:
    """A layer list used in part (`layers[0]` only) cannot be generated: its other layers' sizes are unknown."""
    if module.kind != "seq" or not module.calls:
        return
    for child in module.children.values():
        if not child.calls:
            raise GraphError(f"the layer `{child.path}` is never called, but the list `{module.path}` it belongs "
                             "to is used", child.span, hint="the sizes of a layer come from its inputs: call every "
                             "layer of the list, or make the list shorter")


def _named_items(value, span: Span):
    """(key, item) of a layer list (key None: numbered) or of a map of named layers (key: its name)."""
    if not isinstance(value, dict):
        return [(None, item) for item in value]
    for key in value:
        if not isinstance(key, str):
            raise TypeError_(f"a layer name must be a string, got {describe(key)}", span)
        check_map_key(key, span, "a layer name")
    return list(value.items())


def _bindings(test: A.Node, scope: Scope) -> str | None:
    """The values of the names in a failed condition: `depth = 7, groups = 2`."""
    names = dict.fromkeys(n.id for n in _names_in(test))
    shown = []
    for name in names:
        try:
            value = scope.lookup(name, test.span)
        except ArchDSLError:
            continue
        if isinstance(value, (bool, int, float, str)):
            shown.append(f"{name} = {value!r}")
    return ", ".join(shown) or None


def _target_names(target):
    """`y` -> 'y'; `a, (b, c)` -> ('a', ('b', 'c'))."""
    return target.id if isinstance(target, A.Name) else tuple(_target_names(t) for t in target)


def _kind_name(value) -> str:
    for kind, name in ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return "a value"


def _same_kind(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return isinstance(default, float) or isinstance(value, int)
    if default is None:
        return True
    return isinstance(value, type(default))


def _is_tensor_tree(v) -> bool:
    if isinstance(v, Tensor):
        return True
    return isinstance(v, tuple) and bool(v) and all(_is_tensor_tree(x) for x in v)


def _names_in(node):
    if isinstance(node, A.Name):
        yield node
    for value in getattr(node, "__dict__", {}).values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, A.Node):
                yield from _names_in(item)

