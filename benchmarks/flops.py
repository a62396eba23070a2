"""Counting a network's arithmetic from the shapes it actually sees.

Forward hooks on every ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` add ``2 * MACs`` for the real shapes of each
call, so padding, tiling overlaps and the style branch are counted as run. Pointwise work (activations,
normalisation, pooling) is left out: a few percent of the arithmetic, but memory-bound. Hooks cost a Python call per
layer, so count in a run that is not timed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class FlopCount:
    flops: int = 0  # 2 * MACs of the counted layers
    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def gflop(self) -> float:
        return self.flops / 1e9


def layer_macs(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> int:
    """Multiply-accumulates of one call of a conv / transposed conv / linear layer, from the tensors' shapes."""
    if isinstance(module, nn.Conv2d):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.ConvTranspose2d):  # every input pixel scatters an (out / groups) x kh x kw patch
        return inputs[0].numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


@contextlib.contextmanager
def counting(*modules: nn.Module) -> Iterator[FlopCount]:
    """Count the FLOPs of every counted layer inside ``modules`` while the block runs (shared layers once per call)."""
    count = FlopCount()

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        flops = 2 * layer_macs(module, inputs, output)
        count.flops += flops
        count.calls += 1
        count.by_kind[type(module).__name__] = count.by_kind.get(type(module).__name__, 0) + flops

    layers = {id(sub): sub for root in modules for sub in root.modules()
              if isinstance(sub, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)}
    handles = [layer.register_forward_hook(hook) for layer in layers.values()]
    try:
        yield count
    finally:
        for handle in handles:
            handle.remove()
