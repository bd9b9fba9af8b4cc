"""Generative ops: the reparameterised sample, losses (F.binary_cross_entropy, F.mse_loss, ...) and helpers."""
from __future__ import annotations

from ._source import atom
from .table import lower


def _reduce(src: str, reduction: str, first: str) -> str:
    """Reduce an elementwise loss source; `first` is the source of a tensor of the same shape (for dim 0)."""
    return {"none": src, "mean": f"{atom(src)}.mean()", "sum": f"{atom(src)}.sum()",
            "batchmean": f"{atom(src)}.sum() / {atom(first)}.shape[0]"}[reduction]


def _reparameterize_call(a, ins, args):
    mu, logvar = atom(args[0]), atom(args[1])
    sample = f"{mu} + torch.exp(0.5 * {logvar}) * torch.randn_like({mu})"
    if a.sample == "always":
        return sample
    if a.sample == "never":
        return mu  # eps = 0
    return f"({sample} if self.training else {mu})"


lower("reparameterize", call=_reparameterize_call)


def _functional_loss(fn: str):
    def call(a, ins, args):
        x, t = args
        if a.reduction == "batchmean":
            return f"{fn}({x}, {t}, reduction='sum') / {atom(x)}.shape[0]"
        return f"{fn}({x}, {t}, reduction={a.reduction!r})"

    return call


for _name, _fn in (("bce", "F.binary_cross_entropy"), ("bce_with_logits", "F.binary_cross_entropy_with_logits"),
                   ("mse", "F.mse_loss")):
    lower(_name, call=_functional_loss(_fn))


def _kl_call(a, ins, args):
    mu, logvar = atom(args[0]), atom(args[1])
    return _reduce(f"-0.5 * (1 + {logvar} - {mu}.pow(2) - {logvar}.exp())", a.reduction, mu)


lower("kl_normal", call=_kl_call)


def _bce_const(src: str, value: str, logits: bool) -> str:
    fn = "F.binary_cross_entropy_with_logits" if logits else "F.binary_cross_entropy"
    return f"{fn}({src}, torch.{value}_like({src}))"


def _generator_call(a, ins, args):
    fake = atom(args[0])
    if a.non_saturating:
        return _bce_const(fake, "ones", a.logits)
    return f"-{_bce_const(fake, 'zeros', a.logits)}"


lower("gan_discriminator_loss", call=lambda a, ins, args: f"{_bce_const(atom(args[0]), 'ones', a.logits)} + "
                                                          f"{_bce_const(atom(args[1]), 'zeros', a.logits)}")
lower("gan_generator_loss", call=_generator_call)
lower("expand", call=lambda a, ins, args: f"{atom(args[0])}.expand({', '.join(map(str, a.sizes))})")
for _name in ("ones_like", "zeros_like"):
    lower(_name, call=lambda a, ins, args, n=_name: f"torch.{n}({args[0]})")
