"""Activations: a module (nn.ReLU()) as a layer, a function (torch.relu(x)) inline; in place where the code
generator finds the input dead (nn.ReLU(inplace=True), torch.relu_(x), F.silu(x, inplace=True))."""
from __future__ import annotations

from ._source import src_args
from .table import lower

# (name, module, function, whether both take inplace=True: the activation overwriting its input where it is dead)
for _name, _module, _fn, _inplace in (("relu", "nn.ReLU", "torch.relu", True),
                                      ("sigmoid", "nn.Sigmoid", "torch.sigmoid", False),
                                      ("tanh", "nn.Tanh", "torch.tanh", False), ("relu6", "nn.ReLU6", "F.relu6", True),
                                      ("hardswish", "nn.Hardswish", "F.hardswish", True),
                                      ("hardsigmoid", "nn.Hardsigmoid", "F.hardsigmoid", True),
                                      ("silu", "nn.SiLU", "F.silu", True), ("mish", "nn.Mish", "F.mish", True)):
    lower(_name, init=lambda a, ins, m=_module: f"{m}()", call=lambda a, ins, args, f=_fn: f"{f}({args[0]})",
          inplace=(lambda a, ins, args: f"torch.relu_({args[0]})") if _name == "relu"
          else (lambda a, ins, args, f=_fn: f"{f}({args[0]}, inplace=True)") if _inplace else None,
          inplace_init=(lambda a, ins, m=_module: f"{m}(inplace=True)") if _inplace else None)

lower("identity", init=lambda a, ins: "nn.Identity()", call=lambda a, ins, args: args[0])

for _name in ("sin", "cos", "exp"):   # no nn module: inline only
    lower(_name, call=lambda a, ins, args, f=f"torch.{_name}": f"{f}({args[0]})")

# Activations with one optional parameter: (name, module, functional, parameter, its PyTorch default)
for _name, _cls, _fn, _param, _default in (("leaky_relu", "LeakyReLU", "leaky_relu", "negative_slope", 0.01),
                                           ("elu", "ELU", "elu", "alpha", 1.0),
                                           ("gelu", "GELU", "gelu", "approximate", "none")):
    _inplace = _name != "gelu"  # nn.GELU has no inplace
    lower(_name,
          init=lambda a, ins, c=_cls, p=_param, d=_default: f"nn.{c}({src_args(a, (), {p: d})})",
          call=lambda a, ins, args, f=_fn, p=_param, d=_default: f"F.{f}({src_args(a, (), {p: d}, args[:1])})",
          inplace=(lambda a, ins, args, f=_fn, p=_param, d=_default:
                   f"F.{f}({src_args(a, (), {p: d}, args[:1])}, inplace=True)") if _inplace else None,
          inplace_init=(lambda a, ins, c=_cls, p=_param, d=_default:
                        f"nn.{c}({', '.join(filter(None, [src_args(a, (), {p: d}), 'inplace=True']))})")
          if _inplace else None)

for _name, _cls, _fn in (("softmax", "Softmax", "torch.softmax"), ("log_softmax", "LogSoftmax", "F.log_softmax")):
    lower(_name, init=lambda a, ins, c=_cls: f"nn.{c}(dim={a.dim})",
          call=lambda a, ins, args, f=_fn: f"{f}({args[0]}, dim={a.dim})")
