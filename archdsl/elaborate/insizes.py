"""A block's input sizes in its `let` and `layers:`: `x.shape[1]` (depthwise `groups=x.shape[1]`).

Such a block makes its layers at its first call, when the shapes of its inputs are known; they are inferred
then from the graph made so far.
"""
from __future__ import annotations

from ..ir.graph import Graph, Tensor
from ..syntax import ast as A
from .values import InputSizes


def reads_input_sizes(block) -> bool:
    """Whether the block's lets or layers read `<input>.shape`."""
    inputs = {n for n, _, _ in block.inputs}
    return any(_reads(node, inputs) for _, node, _ in [*block.lets, *block.layers])


def _reads(node, inputs: set) -> bool:
    if isinstance(node, A.Attr) and node.name == "shape" and isinstance(node.value, A.Name) \
            and node.value.id in inputs:
        return True
    return any(_reads(item, inputs) for value in vars(node).values()
               for item in (value if isinstance(value, tuple) else (value,)) if isinstance(item, A.Node))


def input_sizes(graph: Graph, block, args: list) -> dict:
    """Input name -> its sizes, for the block's call with `args`."""
    from ..passes.shapes import infer_shapes

    infer_shapes(graph)
    return {name: InputSizes(name, tuple(graph.shape(t))) for (name, _, _), t in zip(block.inputs, args)
            if isinstance(t, Tensor)}
