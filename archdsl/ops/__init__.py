"""Importing this package registers every op."""
from . import activation, conv, dropout, linear, merge, norm, pool, tensor  # noqa: F401
from .registry import REGISTRY, Attrs, Op, Param, bind, register

__all__ = ["REGISTRY", "Attrs", "Op", "Param", "bind", "register"]
