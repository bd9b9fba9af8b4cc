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
from ._util import expect_min_rank, mismatch
from .registry import Param, register

REDUCTIONS = ("mean", "sum", "batchmean", "none")


def _same_shapes(name: str, what: tuple[str, str]):
    def check(ins):
        x, y = ins
        if len(x) != len(y) or any(mismatch(p, q, "the op compares") for p, q in zip(x, y)):
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


# --- the stochastic node -------------------------------------------------------------------------------

register(
    name="reparameterize", family="stochastic",
    doc="Reparameterised Gaussian sample z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) "
        "(Kingma & Welling 2014); eps = 0, so z = mu, in eval mode (sample='train'), or always (sample='never').",
    params=(Param("sample", "str", "train", choices=("train", "always", "never"),
                  doc="when eps is drawn: in training mode only (eval: eps = 0), always, or never (eps = 0)"),),
    inputs=2, shape=lambda a, ins: _same_shapes("reparameterize", ("mu", "logvar"))(ins), inline_only=True,
    training_dependent=lambda a: a.sample == "train",
    shape_doc="mu [*S], logvar [*S] -> z [*S]",
)


# --- losses --------------------------------------------------------------------------------------------

def _pair_loss_shape(name: str, what=("the input", "the target")):
    def shape(a, ins):
        return _reduced(name, _same_shapes(name, what)(ins), a.reduction)

    return shape


for _name, _doc, _unit_interval in (
        ("bce", "Binary cross-entropy -[t log p + (1 - t) log(1 - p)] of probabilities p (a Bernoulli likelihood) "
                "against targets t in [0, 1].", True),
        ("bce_with_logits",
         "Binary cross-entropy of logits (sigmoid applied inside, numerically stable) against targets in [0, 1].",
         True),
        ("mse", "Squared error (x - t)^2.", False),
):
    register(
        name=_name, family="loss", doc=_doc,
        params=(Param("reduction", "str", "mean", choices=REDUCTIONS),),
        inputs=2, shape=_pair_loss_shape(_name), inline_only=True, unit_interval=_unit_interval,
        shape_doc="input [*S], target [*S] -> [] (reduction='none': [*S])",
    )


register(
    name="kl_normal", family="loss",
    doc="KL divergence of the diagonal Gaussian N(mu, exp(logvar)) from N(0, I): "
        "-1/2 (1 + logvar - mu^2 - exp(logvar)) per element (Kingma & Welling 2014, appendix B).",
    params=(Param("reduction", "str", "mean", choices=REDUCTIONS),),
    inputs=2, shape=_pair_loss_shape("kl_normal", ("mu", "logvar")), inline_only=True,
    shape_doc="mu [*S], logvar [*S] -> [] (reduction='none': [*S])",
)


register(
    name="gan_discriminator_loss", family="loss",
    doc="GAN discriminator loss -mean log D(x) - mean log(1 - D(G(z))) (Goodfellow et al. 2014): binary "
        "cross-entropy of D on real samples against 1 and on generated samples against 0.",
    params=(Param("logits", "bool", False, doc="D outputs logits rather than probabilities"),),
    inputs=2, shape=lambda a, ins: (), inline_only=True, unit_interval=True,
    shape_doc="d_real [*S], d_fake [*T] -> []",
)


register(
    name="gan_generator_loss", family="loss",
    doc="GAN generator loss: -mean log D(G(z)) (non-saturating, the default), or mean log(1 - D(G(z))), the "
        "minimax objective, which saturates when D rejects the samples (Goodfellow et al. 2014).",
    params=(Param("non_saturating", "bool", True, doc="maximise log D(G(z)) instead of minimising "
                                                      "log(1 - D(G(z)))"),
            Param("logits", "bool", False, doc="D outputs logits rather than probabilities")),
    inputs=1, shape=lambda a, ins: (), inline_only=True, unit_interval=True,
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
        elif mismatch(d, s, "the op compares"):
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
    shape=_expand_shape, inline_only=True,
    shape_doc="[*S] -> sizes, each input dim equal to its size, 1, or kept with -1",
)

for _name, _value in (("ones_like", "ones"), ("zeros_like", "zeros")):
    register(
        name=_name, family="tensor", doc=f"A tensor of {_value} with the input's shape (torch.{_name}).",
        shape=lambda a, ins: ins[0], inline_only=True,
        shape_doc="shape unchanged",
    )
