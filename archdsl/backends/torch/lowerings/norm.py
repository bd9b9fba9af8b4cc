"""Normalization: nn.BatchNorm1d/2d/3d, nn.LayerNorm, LayerNorm2d (an nn.LayerNorm over channels),
nn.LocalResponseNorm, with the sizes from the input shape."""
from __future__ import annotations

from ....ops.norm import normalized_shape
from ._source import src_args
from .table import lower

_BN_KW = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
_LN_KW = {"eps": 1e-5, "elementwise_affine": True}
_LRN_KW = {"alpha": 1e-4, "beta": 0.75, "k": 1.0}

for _n in (1, 2, 3):
    lower(f"batchnorm{_n}d",
          init=lambda a, ins, n=_n: f"nn.BatchNorm{n}d({src_args(a, (), _BN_KW, first=(ins[0][1],))})")


def _ln_init(a, ins):
    dims = normalized_shape(a, ins)
    shape = dims[0] if len(dims) == 1 else dims
    return f"nn.LayerNorm({src_args(a, (), _LN_KW, first=(shape,))})"


lower("layernorm", init=_ln_init)

LAYERNORM2D = '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of [N, C, H, W] at each position (ConvNeXt's, torchvision's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
'''

lower("layernorm2d", support=LAYERNORM2D,
      init=lambda a, ins: f"LayerNorm2d({src_args(a, (), _LN_KW, first=(ins[0][1],))})")
lower("local_response_norm",
      init=lambda a, ins: f"nn.LocalResponseNorm({src_args(a, ('size',), _LRN_KW)})",
      call=lambda a, ins, args: f"F.local_response_norm({src_args(a, ('size',), _LRN_KW, args[:1])})")
