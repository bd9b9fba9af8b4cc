"""archdsl: a declarative language and compiler for neural-network architectures."""
from .api import Spec, Summary, load
from .errors import ArchDSLError, Span

__all__ = ["ArchDSLError", "Span", "Spec", "Summary", "load"]
__version__ = "0.1.0"
