"""The PyTorch lowering of every op, split by family like archdsl/ops/; importing this package fills the table."""
from . import activation, conv, dropout, linear, merge, norm, pool, tensor  # noqa: F401
from . import attention, capsule, generative, linalg, memory, recurrent  # noqa: F401
from . import indexing  # noqa: F401
from . import resize  # noqa: F401
from . import window_attention  # noqa: F401
from . import maxvit_attention  # noqa: F401
from .table import LOWERINGS, Lowering, lowering, probed_call

__all__ = ["LOWERINGS", "Lowering", "lowering", "probed_call"]
