"""Dropout: nn.Dropout as a layer, F.dropout inline (reading the module's training mode); stochastic depth as
the helper `stochastic_depth` and the module `StochasticDepth` (torchvision.ops' semantics, without torchvision)."""
from __future__ import annotations

from ._source import src_args
from .table import lower

for _name, _cls in (("dropout", "Dropout"), ("dropout2d", "Dropout2d")):
    lower(_name, init=lambda a, ins, c=_cls: f"nn.{c}({src_args(a, (), {'p': 0.5})})",
          call=lambda a, ins, args, f=_name: f"F.{f}({args[0]}, p={a.p!r}, training=self.training)")

STOCHASTIC_DEPTH = '''
def stochastic_depth(x: torch.Tensor, p: float, mode: str, training: bool = True) -> torch.Tensor:
    """Zero x per sample ('row') or as a whole ('batch') with probability p and scale the rest by
    1 / (1 - p) in training; x itself otherwise (torchvision.ops.stochastic_depth)."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    size = [x.shape[0]] + [1] * (x.dim() - 1) if mode == "row" else [1] * x.dim()
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


class StochasticDepth(nn.Module):
    """Stochastic depth as a layer (torchvision.ops.StochasticDepth)."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.mode, self.training)
'''

lower("stochastic_depth", support=STOCHASTIC_DEPTH,
      init=lambda a, ins: f"StochasticDepth({src_args(a, ('p',), {'mode': 'row'})})",
      call=lambda a, ins, args: f"stochastic_depth({args[0]}, {a.p!r}, {a.mode!r}, self.training)")
