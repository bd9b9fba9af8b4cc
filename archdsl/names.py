"""The rules for names that become Python identifiers in the generated file, checked where a spec is read.

Names are ASCII identifiers (`[A-Za-z_][A-Za-z0-9_]*`): Python reads identifiers after NFKC normalisation
(`ﬁ` is `fi`), so two names a spec keeps apart could be one name in Python; ASCII names cannot collide that
way. Names that may stand alone in the generated code (parameters, `let`s, dims, inputs, block parameters,
objectives, models) must also leave alone every name the generated file looks up itself (RESERVED); names of
attributes of an nn.Module (layers, models) those nn.Module already has (MODULE_ATTRS); and the class of a
spec, block or model (`class_name`) must not be a reserved name either. The keys of a map of named layers may
also hold `-` (`check_map_key`): they are written only as string literals.
"""
from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

from .errors import Span, StructureError

_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
# What the generated file binds or looks up itself: its imports, `self`, and any builtin.
GENERATED_NAMES = frozenset({"self", "torch", "nn", "F", "OrderedDict"})
RESERVED = KEYWORDS | GENERATED_NAMES | frozenset(dir(builtins))
# The public attributes of torch.nn.Module (tests/test_security.py checks this against the installed torch).
MODULE_ATTRS = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "state_dict", "to", "to_empty", "train", "training", "type", "xpu", "zero_grad"})
_RULE = "names become Python identifiers: ASCII letters, digits and `_`, not starting with a digit"
# A key of a map of named layers may also hold `-` (torchvision's RegNet names its blocks `block1-0`): torch's
# add_module takes any string without `.`, and the generated code writes keys only as string literals (an
# OrderedDict of nn.Sequential), reaching a non-identifier key by its position, never as an identifier.
_MAP_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")


def class_name(name: str) -> str:
    """The class generated for a spec, model or block: `basic_block` -> `BasicBlock`."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def check_name(name: str, span: Span, what: str) -> None:
    """An ASCII identifier that is not a Python keyword (soft keywords included)."""
    if not _ASCII_NAME.match(name):
        nfkc = unicodedata.normalize("NFKC", name)
        read_as = f" (Python reads {_shown(name)} as `{nfkc}`)" if nfkc != name and nfkc.isidentifier() else ""
        _refuse(name, span, what, "it is not an ASCII identifier", _RULE + read_as)
    if name in KEYWORDS:
        _refuse(name, span, what, "it is a Python keyword", f"rename it, e.g. `{name}_`")


def check_code_name(name: str, span: Span, what: str) -> None:
    """A name that may stand alone in the generated code: a variable, a function parameter or a function."""
    check_name(name, span, what)
    if name.startswith("_"):
        _refuse(name, span, what, "names starting with `_` are kept for the generated file", "rename it")
    if name in RESERVED:
        _refuse(name, span, what, "the generated file uses that name itself",
                f"rename it, e.g. `{name}_`; reserved: `self`, `torch`, `nn`, `F` and Python's builtins")


def check_attribute_name(name: str, span: Span, what: str) -> None:
    """A layer or model: an attribute of the nn.Module that holds it."""
    check_name(name, span, what)
    if name.startswith("_") or name in MODULE_ATTRS:
        _refuse(name, span, what, "nn.Module uses that name itself" if name in MODULE_ATTRS else
                "names starting with `_` are kept for nn.Module", f"rename it, e.g. `{name.strip('_')}_`")


def check_map_key(name: str, span: Span, what: str) -> None:
    """A key of a map of named layers: a layer name, or a name with `-` (`block1-0`), which is only a key."""
    if _ASCII_NAME.match(name):
        check_attribute_name(name, span, what)
    elif not _MAP_KEY.match(name):
        _refuse(name, span, what, "a map's keys are ASCII letters, digits, `_` and `-`, starting with a letter",
                "e.g. `block1-0`; `.` separates the parts of a state_dict key, so no key holds one")


def check_class_name(name: str, span: Span, what: str) -> None:
    """A spec or block, whose class is named `class_name(name)`."""
    check_name(name, span, what)
    if name.startswith("_"):
        _refuse(name, span, what, "names starting with `_` are kept for the generated file", "rename it")
    cls = class_name(name)
    if cls in RESERVED:
        _refuse(name, span, what, f"its class would be `{cls}`, a name the generated file uses itself",
                f"rename it, e.g. `{name}_net`")


def check_model_name(name: str, span: Span, what: str) -> None:
    """A model of a multi-model spec: an attribute of the container, a parameter of the models using it, a class."""
    check_code_name(name, span, what)
    check_attribute_name(name, span, what)
    check_class_name(name, span, what)


def name_from_file(path: str) -> str:
    """The name of a spec without `name:`: its file name made a valid name (`2-layer.yaml` -> `model_2_layer`)."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    try:
        check_class_name(name, Span(path, 1, 1), "the spec's name")
        return name
    except StructureError:
        return "model_" + name


def _shown(name: str) -> str:
    """The name as an error message shows it: in backticks, or as a Python literal if it is not plain text."""
    short = name if len(name) <= 40 else name[:40] + "..."
    return f"`{short}`" if short and short.isprintable() and "`" not in short else ascii(short)


def _refuse(name: str, span: Span, what: str, why: str, hint: str):
    raise StructureError(f"{_shown(name)} cannot be {what}: {why}", span, hint=hint)
