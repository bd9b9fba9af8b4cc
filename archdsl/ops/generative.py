"""Ops of generative models: the reparameterised Gaussian sample, losses, and small tensor helpers.

Stochastic (family `stochastic`):
  reparameterize(mu, logvar)   z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (Kingma & Welling 2014).
                               With sample='train' (the default) eps is drawn in training mode and is 0 in
                               eval mode, so `model.eval()` makes the model deterministic (z = mu).
Losses (family `loss`), scalar unless reduction='none':
  bce, bce_with_logits, mse    elementwise losses between a prediction and a target of the same shape
  kl_normal(mu, logvar)        KL(N(mu, diag(exp(logvar))) || N(0, I)), summed per element
  gan_discriminator_loss       -log D(x) - log(1 - D(G(z))), each averaged (Goodfellow et al. 2014)
  gan_generator_loss           -log D(G(z)) (non-saturating), or log(1 - D(G(z))) (the minimax loss)
Reductions: 'mean' over all elements, 'sum', 'batchmean' (the sum divided by dim 0: a per-example sum
averaged over the batch, as the ELBO is usually reported), 'none' (elementwise).
Tensor helpers (family `tensor`): expand (replicate size-1 dims, e.g. a text embedding over a 4x4 map),
ones_like, zeros_like.
"""
from __future__ import annotations

from ..dims import fmt_shape, known_eq
from ..errors import ShapeRuleError
from ._util import atom, expect_min_rank
from .registry import Param, register

REDUCTIONS = ("mean", "sum", "batchmean", "none")
# Inputs that must lie in [0, 1] (probabilities): tests draw them uniformly (see tests/test_ops_contract.py).
UNIT_INTERVAL = {"unit_interval": True}


def _same_shapes(name: str, what: tuple[str, str]):
    def check(ins):
        x, y = ins
        if len(x) != len(y) or any(known_eq(p, q) is False for p, q in zip(x, y)):
            raise ShapeRuleError(f"`{name}` needs {what[0]} and {what[1]} of the same shape, got {fmt_shape(x)} "
                                 f"and {fmt_shape(y)}")
        return x

    return check


def _reduced(name: str, x, reduction: str):
    if reduction == "none":
        return tuple(x)
    if reduction == "batchmean":
        expect_min_rank(name, x, 1)
    return ()


def _reduce(src: str, reduction: str, first: str) -> str:
    """Reduce an elementwise loss source; `first` is the source of a tensor of the same shape (for dim 0)."""
    return {"none": src, "mean": f"{atom(src)}.mean()", "sum": f"{atom(src)}.sum()",
            "batchmean": f"{atom(src)}.sum() / {atom(first)}.shape[0]"}[reduction]


# --- the stochastic node -------------------------------------------------------------------------------

def _reparameterize_call(a, ins, args):
    mu, logvar = atom(args[0]), atom(args[1])
    sample = f"{mu} + torch.exp(0.5 * {logvar}) * torch.randn_like({mu})"
    if a.sample == "always":
        return sample
    if a.sample == "never":
        return mu  # eps = 0
    return f"({sample} if self.training else {mu})"


register(
    name="reparameterize", family="stochastic",
    doc="Reparameterised Gaussian sample z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) "
        "(Kingma & Welling 2014); eps = 0, so z = mu, in eval mode (sample='train'), or always (sample='never').",
    params=(Param("sample", "str", "train", choices=("train", "always", "never"),
                  doc="when eps is drawn: in training mode only (eval: eps = 0), always, or never (eps = 0)"),),
    inputs=2, shape=lambda a, ins: _same_shapes("reparameterize", ("mu", "logvar"))(ins),
    call=_reparameterize_call,
    shape_doc="mu [*S], logvar [*S] -> z [*S]",
)


# --- losses --------------------------------------------------------------------------------------------

def _pair_loss_shape(name: str, what=("the input", "the target")):
    def shape(a, ins):
        return _reduced(name, _same_shapes(name, what)(ins), a.reduction)

    return shape


def _functional_loss(fn: str):
    def call(a, ins, args):
        x, t = args
        if a.reduction == "batchmean":
            return f"{fn}({x}, {t}, reduction='sum') / {atom(x)}.shape[0]"
        return f"{fn}({x}, {t}, reduction={a.reduction!r})"

    return call


for _name, _fn, _doc, _extra in (
        ("bce", "F.binary_cross_entropy",
         "Binary cross-entropy -[t log p + (1 - t) log(1 - p)] of probabilities p (a Bernoulli likelihood) "
         "against targets t in [0, 1].", UNIT_INTERVAL),
        ("bce_with_logits", "F.binary_cross_entropy_with_logits",
         "Binary cross-entropy of logits (sigmoid applied inside, numerically stable) against targets in [0, 1].",
         UNIT_INTERVAL),
        ("mse", "F.mse_loss", "Squared error (x - t)^2.", {}),
):
    register(
        name=_name, family="loss", doc=_doc,
        params=(Param("reduction", "str", "mean", choices=REDUCTIONS),),
        inputs=2, shape=_pair_loss_shape(_name), call=_functional_loss(_fn), extra=dict(_extra),
        shape_doc="input [*S], target [*S] -> [] (reduction='none': [*S])",
    )


def _kl_call(a, ins, args):
    mu, logvar = atom(args[0]), atom(args[1])
    return _reduce(f"-0.5 * (1 + {logvar} - {mu}.pow(2) - {logvar}.exp())", a.reduction, mu)


register(
    name="kl_normal", family="loss",
    doc="KL divergence of the diagonal Gaussian N(mu, exp(logvar)) from N(0, I): "
        "-1/2 (1 + logvar - mu^2 - exp(logvar)) per element (Kingma & Welling 2014, appendix B).",
    params=(Param("reduction", "str", "mean", choices=REDUCTIONS),),
    inputs=2, shape=_pair_loss_shape("kl_normal", ("mu", "logvar")), call=_kl_call,
    shape_doc="mu [*S], logvar [*S] -> [] (reduction='none': [*S])",
)


def _bce_const(src: str, value: str, logits: bool) -> str:
    fn = "F.binary_cross_entropy_with_logits" if logits else "F.binary_cross_entropy"
    return f"{fn}({src}, torch.{value}_like({src}))"


register(
    name="gan_discriminator_loss", family="loss",
    doc="GAN discriminator loss -mean log D(x) - mean log(1 - D(G(z))) (Goodfellow et al. 2014): binary "
        "cross-entropy of D on real samples against 1 and on generated samples against 0.",
    params=(Param("logits", "bool", False, doc="D outputs logits rather than probabilities"),),
    inputs=2, shape=lambda a, ins: (),
    call=lambda a, ins, args: f"{_bce_const(atom(args[0]), 'ones', a.logits)} + "
                              f"{_bce_const(atom(args[1]), 'zeros', a.logits)}",
    extra=dict(UNIT_INTERVAL),
    shape_doc="d_real [*S], d_fake [*T] -> []",
)


def _generator_call(a, ins, args):
    fake = atom(args[0])
    if a.non_saturating:
        return _bce_const(fake, "ones", a.logits)
    return f"-{_bce_const(fake, 'zeros', a.logits)}"


register(
    name="gan_generator_loss", family="loss",
    doc="GAN generator loss: -mean log D(G(z)) (non-saturating, the default), or mean log(1 - D(G(z))), the "
        "minimax objective, which saturates when D rejects the samples (Goodfellow et al. 2014).",
    params=(Param("non_saturating", "bool", True, doc="maximise log D(G(z)) instead of minimising "
                                                      "log(1 - D(G(z)))"),
            Param("logits", "bool", False, doc="D outputs logits rather than probabilities")),
    inputs=1, shape=lambda a, ins: (), call=_generator_call, extra=dict(UNIT_INTERVAL),
    shape_doc="d_fake [*S] -> []",
)


# --- tensor helpers ------------------------------------------------------------------------------------

def _expand_shape(a, ins):
    x, sizes = ins[0], list(a.sizes)
    want = "(" + ", ".join(map(str, sizes)) + ")"
    if len(sizes) < len(x):
        raise ShapeRuleError(f"`expand` sizes {want} has {len(sizes)} entries, fewer than the rank of the input "
                             f"{fmt_shape(x)}", hint="give one size per dim (-1 keeps a dim); extra leading sizes add dims")
    lead = len(sizes) - len(x)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise ShapeRuleError(f"`expand` sizes {want}: the new leading dim {i} cannot be -1")
            out.append(s)
            continue
        d = x[i - lead]
        if s == -1 or known_eq(d, s) is True:
            out.append(d)
        elif known_eq(d, 1) is True:
            out.append(s)
        elif known_eq(d, s) is False:
            raise ShapeRuleError(f"`expand` can only replicate dims of size 1: dim {i - lead} of {fmt_shape(x)} "
                                 f"is {d}, not 1, and cannot become {s}",
                                 hint="reshape to add size-1 dims first, e.g. reshape([0, 0, 1, 1])")
        else:
            out.append(s)
    return tuple(out)


register(
    name="expand", family="tensor",
    doc="Replicate size-1 dims to the given sizes without copying (Tensor.expand); -1 keeps a dim, extra "
        "leading sizes add dims.",
    params=(Param("sizes", "int_list", min=-1, doc="the output size of each dim; -1 keeps the input's"),),
    shape=_expand_shape,
    call=lambda a, ins, args: f"{atom(args[0])}.expand({', '.join(map(str, a.sizes))})",
    shape_doc="[*S] -> sizes, each input dim equal to its size, 1, or kept with -1",
)

for _name, _value in (("ones_like", "ones"), ("zeros_like", "zeros")):
    register(
        name=_name, family="tensor", doc=f"A tensor of {_value} with the input's shape (torch.{_name}).",
        shape=lambda a, ins: ins[0], call=lambda a, ins, args, n=_name: f"torch.{n}({args[0]})",
        shape_doc="shape unchanged",
    )
