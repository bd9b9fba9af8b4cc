"""Elementwise activations and functions (sin, cos, exp) and softmax: shape-preserving, no weights."""
from __future__ import annotations

from ._util import norm_dim
from .dtypes import SAME
from .registry import Param, register


def _same(a, ins):
    return ins[0]


for _name, _doc in (("relu", "Rectified linear unit max(x, 0)."), ("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x))."),
                    ("tanh", "Hyperbolic tangent."), ("relu6", "ReLU capped at 6: min(max(x, 0), 6) (MobileNet)."),
                    ("hardswish", "Hard swish x * relu6(x + 3) / 6 (MobileNetV3)."),
                    ("hardsigmoid", "Hard sigmoid relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate)."),
                    ("silu", "Sigmoid linear unit (swish) x * sigmoid(x) (EfficientNet)."),
                    ("mish", "Mish x * tanh(softplus(x))."),
                    ("identity", "Pass the input through unchanged (nn.Identity).")):
    register(name=_name, family="activation", doc=_doc, shape=_same, shape_doc="shape unchanged",
             dtypes=SAME if _name == "identity" else None)

# Elementwise functions with no nn module, inline only (`sin(angles)`); floating-point inputs, as the
# activations take: `cast(arange(x, 1), 'float32')` for positions
for _name, _doc in (("sin", "Sine of a floating-point tensor, elementwise (torch.sin), in radians."),
                    ("cos", "Cosine of a floating-point tensor, elementwise (torch.cos), in radians."),
                    ("exp", "Exponential e^x of a floating-point tensor, elementwise (torch.exp).")):
    register(name=_name, family="activation", doc=_doc, shape=_same, shape_doc="shape unchanged", inline_only=True)

# Activations with one optional parameter: (name, param, doc)
for _name, _param, _doc in (
        ("leaky_relu", Param("negative_slope", "float", 0.01),
         "Leaky ReLU: x for x >= 0, negative_slope * x otherwise."),
        ("elu", Param("alpha", "float", 1.0), "Exponential linear unit."),
        ("gelu", Param("approximate", "str", "none", choices=("none", "tanh")),
         "Gaussian error linear unit, exact or with the tanh approximation."),
):
    register(name=_name, family="activation", doc=_doc, params=(_param,), shape=_same, shape_doc="shape unchanged")


def _softmax_shape(name: str):
    def shape(a, ins):
        norm_dim(name, a.dim, ins[0])
        return ins[0]

    return shape


for _name, _doc in (("softmax", "Softmax along `dim`."), ("log_softmax", "Log of softmax along `dim`.")):
    register(
        name=_name, family="activation", doc=_doc, params=(Param("dim", "int", -1),), shape=_softmax_shape(_name),
        shape_doc="shape unchanged",
    )
