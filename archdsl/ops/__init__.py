"""Importing this package registers every op."""
from . import activation, conv, dropout, linear, merge, norm, pool, tensor  # noqa: F401
from . import capsule, linalg, memory  # noqa: F401  (memory and routing: einsum, squash, addressing, ...)
from . import generative  # noqa: F401  (generative models: reparameterize, losses, expand, ...)
from . import attention, recurrent  # noqa: F401  (recurrence and attention: lstm, gru, scores, matmul, ...)
from . import indexing  # noqa: F401  (subscripts, chunk, split, narrow, bare parameters)
from . import resize  # noqa: F401  (interpolate)
from . import window_attention  # noqa: F401  (Swin's shifted-window attention)
from . import maxvit_attention  # noqa: F401  (MaxViT's relative-position attention)
from .registry import REGISTRY, Attrs, Op, Param, bind, register

__all__ = ["REGISTRY", "Attrs", "Op", "Param", "bind", "register"]
