"""Elementwise activations and softmax: shape-preserving, no weights."""
from __future__ import annotations

from ._util import norm_dim, src_args
from .registry import Param, register


def _same(a, ins):
    return ins[0]


register(name="relu", family="activation", doc="Rectified linear unit max(x, 0).", shape=_same,
         init=lambda a, ins: "nn.ReLU()", call=lambda a, ins, args: f"torch.relu({args[0]})",
         shape_doc="shape unchanged")

register(name="sigmoid", family="activation", doc="Logistic sigmoid 1 / (1 + exp(-x)).", shape=_same,
         init=lambda a, ins: "nn.Sigmoid()", call=lambda a, ins, args: f"torch.sigmoid({args[0]})",
         shape_doc="shape unchanged")

register(name="tanh", family="activation", doc="Hyperbolic tangent.", shape=_same,
         init=lambda a, ins: "nn.Tanh()", call=lambda a, ins, args: f"torch.tanh({args[0]})",
         shape_doc="shape unchanged")

register(name="identity", family="activation", doc="Pass the input through unchanged (nn.Identity).", shape=_same,
         init=lambda a, ins: "nn.Identity()", call=lambda a, ins, args: args[0],
         shape_doc="shape unchanged")

# Activations with one optional parameter: (name, module, functional, param, doc)
for _name, _cls, _fn, _param, _doc in (
        ("leaky_relu", "LeakyReLU", "leaky_relu", Param("negative_slope", "float", 0.01),
         "Leaky ReLU: x for x >= 0, negative_slope * x otherwise."),
        ("elu", "ELU", "elu", Param("alpha", "float", 1.0), "Exponential linear unit."),
        ("gelu", "GELU", "gelu", Param("approximate", "str", "none", choices=("none", "tanh")),
         "Gaussian error linear unit, exact or with the tanh approximation."),
):
    register(
        name=_name, family="activation", doc=_doc, params=(_param,), shape=_same,
        init=lambda a, ins, c=_cls, p=_param: f"nn.{c}({src_args(a, (), {p.name: p.default})})",
        call=lambda a, ins, args, f=_fn, p=_param: f"F.{f}({src_args(a, (), {p.name: p.default}, args[:1])})",
        shape_doc="shape unchanged",
    )


def _softmax_shape(name: str):
    def shape(a, ins):
        norm_dim(name, a.dim, ins[0])
        return ins[0]

    return shape


for _name, _cls, _fn, _doc in (("softmax", "Softmax", "torch.softmax", "Softmax along `dim`."),
                               ("log_softmax", "LogSoftmax", "F.log_softmax", "Log of softmax along `dim`.")):
    register(
        name=_name, family="activation", doc=_doc, params=(Param("dim", "int", -1),), shape=_softmax_shape(_name),
        init=lambda a, ins, c=_cls: f"nn.{c}(dim={a.dim})",
        call=lambda a, ins, args, f=_fn: f"{f}({args[0]}, dim={a.dim})",
        shape_doc="shape unchanged",
    )
