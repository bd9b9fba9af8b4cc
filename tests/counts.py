"""Parameter and multiply-add counts written out from layer sizes, so that tests compare archdsl's counts with
arithmetic a reader can check, not with numbers archdsl printed once.

Conventions (those of torchvision's published `_ops` and of archdsl's summary): a convolution or linear layer
costs one multiply-add per weight per output position; biases, batch norm and activations cost no MACs.
"""
from __future__ import annotations


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    """Parameters of a k x k convolution."""
    return k * k * cin * cout + (cout if bias else 0)


def linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def bn(c: int) -> int:
    """Batch norm's trainable parameters: a scale and a shift per channel."""
    return 2 * c


# LeNet-5 as specs/lenet5.yaml builds it (LeCun et al. 1998, Section II.B and Fig. 2: C1 6@5x5, C3 16@5x5,
# C5 120@5x5, F6 84, 10 outputs), with the spec's stated simplification that C3 sees all 6 maps of S2.
LENET5 = conv(1, 6, 5) + conv(6, 16, 5) + conv(16, 120, 5) + linear(120, 84) + linear(84, 10)
assert LENET5 == 61_706


def bottleneck(inplanes: int, planes: int, downsample: bool) -> int:
    """torchvision's ResNet Bottleneck (He et al. 2016, Table 1: 1x1 planes, 3x3 planes, 1x1 4*planes; no conv
    bias, batch norm after each conv; a 1x1 projection with batch norm where the shape changes)."""
    out = 4 * planes
    n = conv(inplanes, planes, 1, False) + bn(planes) + conv(planes, planes, 3, False) + bn(planes) \
        + conv(planes, out, 1, False) + bn(out)
    return n + (conv(inplanes, out, 1, False) + bn(out) if downsample else 0)


def float32_mb(params: int) -> float:
    """Parameter memory in MB (2**20 bytes) at 4 bytes a parameter."""
    return params * 4 / 2 ** 20
