"""Memory addressing and memory-network ops: circular convolution and sharpening (Graves, Wayne, Danihelka
2014), position encoding (Sukhbaatar et al. 2015), and learned tensors for initial states and temporal
encodings. Content addressing, reads and writes are written in the specs with cosine_similarity, softmax,
einsum and outer (specs/ntm.yaml, specs/memn2n.yaml, specs/memnn.yaml).
"""
from __future__ import annotations

from ..dims import as_static, fmt_shape, product
from ..errors import ShapeRuleError
from ._util import expect_min_rank, norm_dim
from .merge import _broadcast
from .dtypes import FLOAT, GIVES_FLOAT32
from .registry import Param, register


def _circular_shape(a, ins):
    w, s = ins
    expect_min_rank("circular_conv", w, 1)
    expect_min_rank("circular_conv", s, 1)
    k, n = as_static(s[-1]), as_static(w[-1])
    if not isinstance(k, int) or k % 2 == 0:
        raise ShapeRuleError(f"`circular_conv` needs an odd, static number of shift weights (last dim of the "
                             f"shift input {fmt_shape(s)}), for the shifts -r..r",
                             hint="e.g. 3 weights for the shifts -1, 0, 1")
    if isinstance(n, int) and k > n:
        raise ShapeRuleError(f"`circular_conv` has {k} shift weights but the weighting {fmt_shape(w)} has only "
                             f"{n} locations")
    batch = _broadcast("circular_conv")(a, [w[:-1], s[:-1]])
    return (*batch, w[-1])


register(
    name="circular_conv", family="merge",
    doc="Circular convolution of a weighting w [*, n] with shift weights s [*, 2r+1] over the shifts -r..r: "
        "location-based addressing of the Neural Turing Machine (Graves et al. 2014, eq. 8).",
    inputs=2, shape=_circular_shape, inline_only=True, dtypes=FLOAT,
    shape_doc="[*A, n], [*B, 2r+1] -> [broadcast(A, B), n]",
)


def _sharpen_shape(a, ins):
    out = _broadcast("sharpen")(a, ins)
    norm_dim("sharpen", a.dim, out)
    return out


register(
    name="sharpen", family="activation",
    doc="Sharpen a weighting: w^gamma / sum(w^gamma) along `dim`, with gamma >= 1 broadcast against w "
        "(Graves et al. 2014, eq. 9).",
    params=(Param("dim", "int", -1),),
    inputs=2, shape=_sharpen_shape, inline_only=True,
    shape_doc="broadcast of the two shapes",
)


def _position_shape(a, ins):
    x = ins[0]
    d = norm_dim("position_encode", a.dim, x)
    if d == len(x) - 1:
        raise ShapeRuleError(f"`position_encode` dim={a.dim} is the embedding (last) dim of {fmt_shape(x)}",
                             hint="`dim` is the word dim; the embedding is the last dim")
    return x


register(
    name="position_encode", family="tensor",
    doc="Weight word embeddings by their position in the sentence: x * l_kj with l_kj = (1 - j/J) - (k/d)(1 - 2j/J) "
        "for word j of J along `dim` and embedding entry k of d (the last dim), Sukhbaatar et al. 2015, sec. 4.1.",
    params=(Param("dim", "int", -2, doc="the word dim"),),
    shape=_position_shape, inline_only=True, dtypes=FLOAT,
    shape_doc="shape unchanged",
)


def _learned_shape(a, ins):
    expect_min_rank("learned_tensor", ins[0], 1)
    if not a.shape or any(v < 1 for v in a.shape):
        raise ShapeRuleError(f"`learned_tensor` shape {tuple(a.shape)} must be positive sizes")
    return (ins[0][0], *a.shape)


register(
    name="learned_tensor", family="tensor",
    doc="A learned tensor of `shape`, repeated for each item of the batch (the input's first dim; the input is "
        "used for nothing else): learned initial states of loops, temporal encodings.",
    params=(Param("shape", "int_list", doc="the tensor's shape, without the batch dim"),
            Param("std", "float", 0.0, min=0, doc="standard deviation of the initial values (0: zeros)")),
    shape=_learned_shape, layer_only=True, dtypes=GIVES_FLOAT32,
    weights=lambda a, ins: product(a.shape),
    shape_doc="[N, *] -> [N, *shape]",
)
