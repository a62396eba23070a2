"""Reflection padding that stays in the activations' precision under autocast.

CPU autocast lists ``reflection_pad2d`` among the ops it runs in fp32, so in a bf16 network every padding layer
casts its bf16 input up to fp32 and the next convolution casts the padded map back down: two full copies of every
activation per layer, which cost CycleGAN and Johnson more than their instance norms. Padding only moves values, so
doing it in bf16 is exact; autocast is switched off just around it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ReflectionPad2d(nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that returns its input's dtype under autocast (no parameters: layouts are unchanged)."""

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)
