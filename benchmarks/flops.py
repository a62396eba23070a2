"""Counting a network's arithmetic from the shapes it actually sees.

Forward hooks on every ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` add ``2 * MACs`` (one multiply and one add per
multiply-accumulate) for the real input and output shapes of each call, so padding to a multiple of 4, tiling with
overlaps and the style branch are all counted as run. Pointwise work (biases, activations, normalisation, pooling,
upsampling, concatenation, AdaIN statistics) is deliberately left out: it is a few percent of the arithmetic but
memory-bound, so including it would flatter neither the model nor the machine. Hooks cost a Python call per layer;
count in a run that is not timed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class FlopCount:
    flops: int = 0  # 2 * MACs of the counted layers
    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, flops: int) -> None:
        self.flops += flops
        self.calls += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + flops

    @property
    def gflop(self) -> float:
        return self.flops / 1e9


def layer_macs(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> int:
    """Multiply-accumulates of one call of a conv / transposed conv / linear layer, from the tensors' shapes."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        # every input pixel scatters a (out_channels / groups) x kh x kw patch
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


_COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@contextlib.contextmanager
def counting(*modules: nn.Module) -> Iterator[FlopCount]:
    """Count the FLOPs of every counted layer inside ``modules`` while the block runs (shared layers once per call)."""
    count = FlopCount()
    seen: set[int] = set()
    handles = []

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        count.add(type(module).__name__, 2 * layer_macs(module, inputs, output))

    for root in modules:
        for sub in root.modules():
            if isinstance(sub, _COUNTED) and id(sub) not in seen:
                seen.add(id(sub))
                handles.append(sub.register_forward_hook(hook))
    try:
        yield count
    finally:
        for handle in handles:
            handle.remove()
