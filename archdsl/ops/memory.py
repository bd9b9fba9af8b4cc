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
from .registry import Param, register

CIRCULAR = '''
def circular_convolution(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Rotate the weighting w by the shift weighting s over the shifts -r..r, wrapping around
    (Graves et al. 2014, eq. 8): out[i] = sum_k s[k] w[i - k]."""
    r = s.shape[-1] // 2
    rolled = torch.stack([torch.roll(w, shift, -1) for shift in range(-r, r + 1)], -1)
    return (rolled * s.unsqueeze(-2)).sum(-1)
'''


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
    inputs=2, shape=_circular_shape, support=CIRCULAR,
    call=lambda a, ins, args: f"circular_convolution({args[0]}, {args[1]})",
    shape_doc="[*A, n], [*B, 2r+1] -> [broadcast(A, B), n]",
)

SHARPEN = '''
def sharpen(w: torch.Tensor, gamma: torch.Tensor, dim: int = -1,
            eps: float = 1e-12) -> torch.Tensor:
    """w^gamma / sum(w^gamma) along `dim` (Graves et al. 2014, eq. 9); gamma >= 1 focuses."""
    p = (w + eps).pow(gamma)
    return p / p.sum(dim, keepdim=True)
'''


def _sharpen_shape(a, ins):
    out = _broadcast("sharpen")(a, ins)
    norm_dim("sharpen", a.dim, out)
    return out


register(
    name="sharpen", family="activation",
    doc="Sharpen a weighting: w^gamma / sum(w^gamma) along `dim`, with gamma >= 1 broadcast against w "
        "(Graves et al. 2014, eq. 9).",
    params=(Param("dim", "int", -1),),
    inputs=2, shape=_sharpen_shape, support=SHARPEN,
    call=lambda a, ins, args: f"sharpen({args[0]}, {args[1]}{'' if a.dim == -1 else f', {a.dim}'})",
    shape_doc="broadcast of the two shapes",
)

POSITION = '''
def position_encoding(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x * l with l[j, k] = (1 - j/J) - (k/d) (1 - 2j/J), j = 1..J along `dim` (the words of a
    sentence) and k = 1..d along the last dim (the embedding): position encoding of Sukhbaatar
    et al. 2015."""
    J, d = x.shape[dim], x.shape[-1]
    j = torch.arange(1, J + 1, dtype=x.dtype, device=x.device)[:, None] / J
    k = torch.arange(1, d + 1, dtype=x.dtype, device=x.device)[None, :] / d
    l = (1 - j) - k * (1 - 2 * j)
    return x * l.reshape([J] + [1] * (x.dim() - dim % x.dim() - 2) + [d])
'''


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
    shape=_position_shape, support=POSITION,
    call=lambda a, ins, args: f"position_encoding({args[0]}, {a.dim})",
    shape_doc="shape unchanged",
)

LEARNED = '''
class LearnedTensor(nn.Module):
    """A learned tensor, repeated over the batch (the input's first dim): learned initial states
    and encodings."""

    def __init__(self, *shape, std=0.0):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand([x.shape[0]] + list(self.value.shape))
'''


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
    shape=_learned_shape, support=LEARNED,
    init=lambda a, ins: f"LearnedTensor({', '.join(map(str, a.shape))}{'' if a.std == 0 else f', std={a.std!r}'})",
    weights=lambda a, ins: product(a.shape),
    shape_doc="[N, *] -> [N, *shape]",
)
