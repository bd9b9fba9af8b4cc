"""The fully connected layer: nn.Linear, with in_features from the input shape."""
from __future__ import annotations

from .table import lower

lower("linear", init=lambda a, ins: f"nn.Linear({ins[0][-1]}, {a.out_features}{'' if a.bias else ', bias=False'})")
