"""The YAML structure of a spec: sections, models and blocks, with their expressions parsed."""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field, fields
from typing import Any

from ..elaborate.scope import CONSTANTS
from ..errors import FileError, LimitError, Span, StructureError, did_you_mean
from ..limits import DEFAULTS, current as current_limit, exceeded
from ..names import check_attribute_name, check_class_name, check_code_name, check_model_name, name_from_file
from . import ast as A
from .expr import parse, parse_expr
from .yaml_loader import YMap, YScalar, YSeq, load_yaml

MAX_FILE_BYTES = DEFAULTS["max_file_bytes"]
TOP_KEYS = ("name", "doc", "imports", "params", "dims", "let", "inputs", "blocks", "layers", "forward", "methods", "models",
            "objectives")
MODEL_KEYS = ("doc", "dims", "inputs", "let", "layers", "forward", "methods", "uses")
DIM_KEYS = ("min", "max", "multiple_of")
METHOD_KEYS = ("doc", "inputs", "let", "forward")
OBJECTIVE_KEYS = ("doc", "inputs", "let", "forward")
BLOCK_KEYS = ("doc", "inputs", "let", "layers", "forward")
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()
MODEL_PARTS = ("inputs", "layers", "forward", "methods", "models", "objectives")  # none of them: a block library


@dataclass
class BlockDef:
    """A block or a model: parameters, inputs, derived values, layers and the forward program."""

    name: str
    span: Span
    params: list = field(default_factory=list)   # (name, default Node or REQUIRED, span)
    inputs: list = field(default_factory=list)   # (name, dims: list of Node, or None for blocks, span)
    lets: list = field(default_factory=list)     # (name, Node, span)
    layers: list = field(default_factory=list)   # (name, Node, span)
    forward: A.Program | None = None
    doc: str = ""
    input_types: dict = field(default_factory=dict)  # model input name -> InputType, for typed inputs
    uses: list = field(default_factory=list)     # models: the other models its forward calls, (name, span)
    methods: dict = field(default_factory=dict)  # models: more entry points over the same layers, name -> BlockDef
    dims: dict = field(default_factory=dict)     # models: declared dims, name -> ({constraint: Node}, span)
    home: Any = None  # an imported block: imports.Home, the scope of the file it is written in


@dataclass(frozen=True)
class Import:
    """One entry of `imports:`: `blocks/heads.yaml: [ASPP, LRASPPHead]` (or `"*"`, every block of the file)."""

    path: str      # as written: relative to the importing file
    names: tuple   # ((block name, span), ...); empty with `*`
    star: bool
    span: Span     # the path, where it is written


INPUT_DTYPES = ("float32", "float64", "int64", "int32", "bool")
INPUT_KEYS = ("shape", "dtype", "low", "high")


@dataclass
class InputType:
    """A model input written as a mapping: `tokens: {shape: [N, T], dtype: int64, high: vocab}`. Integer inputs
    (token ids, lengths) are drawn in [low, high) where random inputs are made; low and high are expressions."""

    dtype: str
    low: Any      # Node or None
    high: Any     # Node or None
    span: Span


@dataclass
class SpecDoc:
    file: str
    text: str
    name: str
    doc: str
    params: dict          # name -> (value, span)
    lets: list            # (name, Node, span)
    blocks: dict          # name -> BlockDef
    models: dict          # name -> BlockDef
    multi_model: bool
    objectives: dict = field(default_factory=dict)  # name -> BlockDef (inputs: dims, or a model output Node)
    dims: dict = field(default_factory=dict)        # declared dims: name -> ({constraint: Node}, span)
    imports: list = field(default_factory=list)     # Import entries, as written
    hidden: set = field(default_factory=set)        # imported blocks' own blocks: in `blocks`, not in scope here
    origins: dict = field(default_factory=dict)     # each imported file -> the `imports:` entry here that reaches it

    @property
    def library(self) -> bool:
        """A file of blocks only (no model): other specs import its blocks."""
        return not self.models


def read_spec(path: str, max_bytes: int | None = None) -> SpecDoc:
    """Read and parse a spec file (its imports not yet read: imports.resolve_imports)."""
    return parse_spec(read_text(path, max_bytes), path)


def read_text(path: str, max_bytes: int | None = None, opened=None) -> str:
    """The text of a spec file, read up to `max_bytes` (default: the limit `max_file_bytes` in force);
    `opened`: the file, already open in binary mode (it is closed)."""
    max_bytes = max_bytes or current_limit("max_file_bytes")
    try:
        with opened or open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise FileError(f"cannot read the spec: {exc.strerror or exc}", Span(path, 1, 1), hint="check the path") from None
    if len(raw) > max_bytes:
        raise LimitError(f"the spec is larger than {max_bytes:,} bytes (the limit `max_file_bytes`)",
                         Span(path, 1, 1), hint=exceeded("max_file_bytes"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = (raw[:exc.start].decode("utf-8") + "^").splitlines()  # lines as error messages count them
        line, col = len(before), len(before[-1])
        raise FileError("the spec is not valid UTF-8 text", Span(path, line, col),
                        hint="save the file as UTF-8") from None
    return text


def parse_spec(text: str, file: str) -> SpecDoc:
    root = load_yaml(text, file)
    if root is None or (isinstance(root, YScalar) and root.value is None):
        raise StructureError("the spec is empty", Span(file, 1, 1),
                             hint="a spec needs at least `inputs:`, `layers:` and `forward:`")
    top = _mapping(root, "the spec")
    _check_keys(top, TOP_KEYS, "the top level of a spec")
    name = _spec_name(top, file)
    doc = _string(top.get("doc"), "doc") if "doc" in top.items else ""
    params = {}
    if "params" in top.items:
        for key, node in _mapping(top.items["params"], "`params`").items.items():
            check_code_name(key, top.items["params"].keys[key], "a parameter name")
            params[key] = (_data(node), top.items["params"].keys[key])
    lets = _lets(top.get("let"))
    blocks = {}
    if "blocks" in top.items:
        bmap = _mapping(top.items["blocks"], "`blocks`")
        for header, node in bmap.items.items():
            bdef = _block(header, bmap.keys[header], node)
            if bdef.name in blocks:
                raise StructureError(f"the block `{bdef.name}` is defined twice", bdef.span)
            blocks[bdef.name] = bdef
    if "models" in top.items:
        for key in ("inputs", "layers", "forward", "methods"):
            if key in top.items:
                raise StructureError(f"`{key}` at the top level cannot be combined with `models:`", top.keys[key],
                                     hint=f"move `{key}` into one of the models")
        mmap = _mapping(top.items["models"], "`models`")
        for key, span in mmap.keys.items():
            check_model_name(key, span, "a model name")
        models = {k: _model(k, mmap.keys[k], v) for k, v in mmap.items.items()}
        if not models:
            raise StructureError("`models:` is empty", top.keys["models"])
        for k, v in mmap.items.items():
            models[k].uses = _uses(v.get("uses"))
        multi = True
    elif ("blocks" in top.items or "imports" in top.items) and not any(k in top.items for k in MODEL_PARTS):
        models, multi = {}, False  # a block library
    else:
        models = {name: _model(name, root.span, top, nested=False)}
        multi = False
    return SpecDoc(file, text, name, doc, params, lets, blocks, models, multi, _objectives(top, models),
                   _dim_decls(top.get("dims")) if multi else {}, _imports(top.get("imports")))


def _imports(node) -> list:
    """`imports:` file -> a list of block names, or `"*"`: Import entries (the files are read later)."""
    if node is None:
        return []
    m = _mapping(node, "`imports`")
    if len(m.items) > current_limit("max_imports"):
        raise LimitError(f"`imports` names more than {current_limit('max_imports'):,} files (the limit "
                         "`max_imports`)", node.span, hint=exceeded("max_imports"))
    out = []
    for path, value in m.items.items():
        star = isinstance(value, YScalar) and value.value == "*"
        if not star and not (isinstance(value, YSeq) and value.items and all(
                isinstance(i, YScalar) and isinstance(i.value, str) for i in value.items)):
            raise StructureError(f"the blocks imported from `{path}` are a list of block names or \"*\"",
                                 value.span, hint=f"for example `{path}: [ASPP, LRASPPHead]`")
        names = () if star else tuple((i.value, i.span) for i in value.items)
        for k, (block, span) in enumerate(names):
            check_class_name(block, span, "an imported block name")
            if block in (n for n, _ in names[:k]):
                raise StructureError(f"`{block}` is imported from `{path}` twice", span, hint="list it once")
        out.append(Import(path, names, star, m.keys[path]))
    return out


def _spec_name(top: YMap, file: str) -> str:
    """`name:`, which names the generated class, or a name made from the file name."""
    if "name" not in top.items:
        return name_from_file(file)
    name = _string(top.items["name"], "name")
    check_class_name(name, top.items["name"].span, "the spec's name")
    return name


def _mapping(node, what: str) -> YMap:
    if not isinstance(node, YMap):
        raise StructureError(f"{what} must be a mapping (`key: value` lines)", node.span)
    return node


def _check_keys(m: YMap, allowed, where: str) -> None:
    for key, span in m.keys.items():
        if key not in allowed:
            raise StructureError(f"unknown key `{key}` in {where}", span,
                                 hint=did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}")


def _string(node, what: str) -> str:
    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise StructureError(f"`{what}` must be a string", node.span)
    return node.value


def _data(node):
    """Plain YAML data (parameter defaults)."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [_data(n) for n in node.items]
    return {k: _data(v) for k, v in node.items.items()}


def to_expr(node, what: str = "expression") -> A.Node:
    """A YAML value as an expression: strings are parsed, other scalars are constants, lists are lists."""
    if isinstance(node, YScalar):
        if isinstance(node.value, str):
            return parse_expr(node.value, node.locate, what)
        return A.Const(node.span, node.value)
    if isinstance(node, YSeq):
        return A.ListExpr(node.span, tuple(to_expr(n, what) for n in node.items))
    keys = tuple(A.Const(node.keys[k], k) for k in node.items)
    return A.DictExpr(node.span, keys, tuple(to_expr(v, what) for v in node.items.values()))


def _lets(node) -> list:
    if node is None:
        return []
    m = _mapping(node, "`let`")
    for k, span in m.keys.items():
        check_code_name(k, span, "a `let` name")
    return [(k, to_expr(v, "derived value"), m.keys[k]) for k, v in m.items.items()]


def _layers(node) -> list:
    if node is None:
        return []
    m = _mapping(node, "`layers`")
    for k, span in m.keys.items():
        check_attribute_name(k, span, "a layer name")
    return [(k, to_expr(v, "layer definition"), m.keys[k]) for k, v in m.items.items()]


def _forward(node, owner: str) -> A.Program:
    if node is None:
        raise StructureError(f"{owner} has no `forward:`", None)
    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise StructureError("`forward` must be text: one statement per line, the last one is the output",
                             node.span, hint="write `forward: |` followed by indented lines")
    prog = parse(node.value, node.locate, "forward program")
    if not prog.stmts:
        raise StructureError(f"the `forward` of {owner} is empty", node.span)
    return prog


def _model(name: str, span: Span, node, nested: bool = True) -> BlockDef:
    m = _mapping(node, f"the model `{name}`")
    if nested:
        _check_keys(m, MODEL_KEYS, f"the model `{name}`")
    if "inputs" not in m.items:
        raise StructureError(f"the model `{name}` declares no `inputs:`", span,
                             hint="for example `inputs: {x: [N, 3, 224, 224]}`")
    inputs, types = [], {}
    for key, dims in _mapping(m.items["inputs"], "`inputs`").items.items():
        kspan = m.items["inputs"].keys[key]
        check_code_name(key, kspan, "an input name")
        if isinstance(dims, YMap):
            dims, types[key] = _input_type(key, dims)
        if not isinstance(dims, YSeq) or not dims.items:
            raise StructureError(f"the shape of input `{key}` must be a list of dims like [N, 3, 224, 224]",
                                 dims.span)
        inputs.append((key, _dims(dims), kspan))
    if "forward" not in m.items:
        raise StructureError(f"the model `{name}` has no `forward:`", span,
                             hint="add `forward: |` with the dataflow, e.g. `x >> conv1 >> relu`")
    model = BlockDef(name, span, [], inputs, _lets(m.get("let")), _layers(m.get("layers")),
                     _forward(m.items["forward"], f"the model `{name}`"),
                     m.items["doc"].value if isinstance(m.get("doc"), YScalar) else "", types)
    if "methods" in m.items:
        model.methods = _methods(m.items["methods"], model)
    model.dims = _dim_decls(m.get("dims"))
    return model


def _dim_decls(node) -> dict:
    """`dims: {H: {min: 32, multiple_of: 16}}`: name -> ({constraint: expression}, span)."""
    if node is None:
        return {}
    out = {}
    m = _mapping(node, "`dims`")
    for name, value in m.items.items():
        check_code_name(name, m.keys[name], "a dim name")
        c = _mapping(value, f"the dim `{name}`")
        _check_keys(c, DIM_KEYS, f"the dim `{name}`")
        out[name] = ({k: to_expr(v, "dim constraint") for k, v in c.items.items()}, m.keys[name])
    return out


def _methods(node, model: BlockDef) -> dict:
    """`methods:` more entry points of a model, over its layers: `translate` beside a teacher-forced forward."""
    out = {}
    methods = _mapping(node, "`methods`")
    layers = {n for n, _, _ in model.layers}
    for key, value in methods.items.items():
        span = methods.keys[key]
        check_attribute_name(key, span, "a method name")
        if key == "forward" or key in layers:
            raise StructureError(f"the method `{key}` of `{model.name}` is named like its "
                                 + ("forward" if key == "forward" else "layer"), span,
                                 hint="a method becomes a function of the model's module; pick another name")
        _check_keys(_mapping(value, f"the method `{key}`"), METHOD_KEYS, f"the method `{key}`")
        out[key] = _model(key, span, value, nested=False)
    return out


def _dims(seq: YSeq) -> list:
    """The dims of an input's shape; the names in them (symbolic dims, parameters) must be valid names."""
    for d in seq.items:  # a dim named like a keyword (`lambda`) is a bad name, not a broken expression
        if isinstance(d, YScalar) and isinstance(d.value, str) and keyword.iskeyword(d.value.strip()):
            check_code_name(d.value.strip(), d.span, "a dim name")
    out = [to_expr(d, "dim") for d in seq.items]
    for name in _names_in(out):
        if name.id not in CONSTANTS:
            check_code_name(name.id, name.span, "a dim name")
    return out


def _names_in(node):
    """The Name nodes of an expression (or of a list of them)."""
    if isinstance(node, A.Name):
        yield node
    elif isinstance(node, A.Node):
        for f in fields(node):
            yield from _names_in(getattr(node, f.name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _names_in(item)


def _input_type(name: str, m: YMap):
    """`{shape: [...], dtype: int64, low: 0, high: vocab}` -> (the shape node, InputType)."""
    _check_keys(m, INPUT_KEYS, f"the input `{name}`")
    if "shape" not in m.items:
        raise StructureError(f"the input `{name}` needs a `shape:`", m.span,
                             hint="for example `{shape: [N, T], dtype: int64, high: vocab}`")
    dtype = _string(m.items["dtype"], "dtype") if "dtype" in m.items else "float32"
    if dtype not in INPUT_DTYPES:
        raise StructureError(f"the dtype of input `{name}` must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}",
                             m.items["dtype"].span, hint=did_you_mean(dtype, INPUT_DTYPES))
    for key in ("low", "high"):
        if key in m.items and not dtype.startswith("int"):
            raise StructureError(f"`{key}` bounds the values of integer inputs; `{name}` is {dtype}", m.keys[key])
    bound = {k: to_expr(m.items[k], "value bound") if k in m.items else None for k in ("low", "high")}
    return m.items["shape"], InputType(dtype, bound["low"], bound["high"], m.span)


def _block(header: str, span: Span, node) -> BlockDef:
    head = parse_expr(header, lambda l, c, n: Span(span.file, span.line, span.col + c - 1, n), "block header")
    if isinstance(head, A.Name):
        name, params = head.id, []
    elif isinstance(head, A.Call) and isinstance(head.func, A.Name):
        name, params = head.func.id, []
        for a in head.args:
            if not isinstance(a, A.Name):
                raise StructureError("block parameters must be names, optionally with defaults: "
                                     "`Block(planes, stride=1)`", a.span)
            params.append((a.id, REQUIRED, a.span))
        params += [(k, v, s) for k, v, s in head.kwargs]
    else:
        raise StructureError("a block header is a name with parameters, like `Bottleneck(planes, stride=1)`", span)
    check_class_name(name, head.span if isinstance(head, A.Name) else head.func.span, "a block name")
    _check_parameters(params, "a block parameter")
    m = _mapping(node, f"the block `{name}`")
    _check_keys(m, BLOCK_KEYS, f"the block `{name}`")
    inputs = [("x", None, span)]
    if "inputs" in m.items:
        seq = m.items["inputs"]
        if not isinstance(seq, YSeq) or not all(isinstance(i, YScalar) and isinstance(i.value, str)
                                                for i in seq.items):
            raise StructureError("a block's `inputs` is a list of names, like [x, h]", seq.span)
        inputs = [(i.value, None, i.span) for i in seq.items]
        _check_parameters(inputs, "a block input")
    if "forward" not in m.items:
        raise StructureError(f"the block `{name}` has no `forward:`", span)
    return BlockDef(name, span, params, inputs, _lets(m.get("let")), _layers(m.get("layers")),
                    _forward(m.items["forward"], f"the block `{name}`"),
                    m.items["doc"].value if isinstance(m.get("doc"), YScalar) else "")


def _check_parameters(params: list, what: str) -> None:
    """The parameters of one generated function: valid names, each once."""
    seen = set()
    for name, _, span in params:
        check_code_name(name, span, what)
        if name in seen:
            raise StructureError(f"`{name}` is {what} twice", span, hint="rename one of them")
        seen.add(name)


def _uses(node) -> list:
    """A model's `uses: [encoder, decoder]`: the models it calls by name in its forward."""
    if node is None:
        return []
    if not isinstance(node, YSeq) or not all(isinstance(i, YScalar) and isinstance(i.value, str)
                                             and i.value.isidentifier() for i in node.items):
        raise StructureError("`uses` is a list of model names, like [encoder, decoder]", node.span)
    return [(i.value, i.span) for i in node.items]


def _objectives(top: YMap, models: dict) -> dict:
    """`objectives:` name -> BlockDef. An input is a shape (`x: [N, 784]`, or typed like a model input) or
    one output of a model (`x_hat: vae[0]`, `d_fake: discriminator`)."""
    if "objectives" not in top.items:
        return {}
    omap = _mapping(top.items["objectives"], "`objectives`")
    out = {}
    for name, node in omap.items.items():
        span = omap.keys[name]
        check_code_name(name, span, "an objective name")
        if name in models:
            raise StructureError(f"`{name}` is both a model and an objective", span, hint="rename the objective")
        m = _mapping(node, f"the objective `{name}`")
        _check_keys(m, OBJECTIVE_KEYS, f"the objective `{name}`")
        if "inputs" not in m.items:
            raise StructureError(f"the objective `{name}` declares no `inputs:`", span,
                                 hint="for example `inputs: {x: [N, 784], x_hat: vae[0]}`")
        imap = _mapping(m.items["inputs"], "`inputs`")
        inputs, types = [], {}
        for key, value in imap.items.items():
            kspan = imap.keys[key]
            check_code_name(key, kspan, "an input name")
            if isinstance(value, YMap):
                value, types[key] = _input_type(key, value)
            if isinstance(value, YSeq) and value.items:
                inputs.append((key, _dims(value), kspan))
            elif isinstance(value, YScalar) and isinstance(value.value, str) and not types.get(key):
                inputs.append((key, to_expr(value, "model output"), kspan))
            else:
                raise StructureError(f"the input `{key}` of an objective is a shape like [N, 784] or one output of "
                                     "a model like `vae[0]`", value.span)
        if "forward" not in m.items:
            raise StructureError(f"the objective `{name}` has no `forward:`", span,
                                 hint="add `forward: |` computing the loss from the inputs, e.g. `mse(x_hat, x)`")
        doc = m.items["doc"].value if isinstance(m.get("doc"), YScalar) else ""
        out[name] = BlockDef(name, span, [], inputs, _lets(m.get("let")), [],
                             _forward(m.items["forward"], f"the objective `{name}`"), doc, types)
    return out
