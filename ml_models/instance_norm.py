"""Instance normalisation (Ulyanov et al., arXiv 1607.08022) that keeps an NHWC map NHWC.

``F.instance_norm`` folds the batch into the channels, ``(N, C, H, W) -> (1, N*C, H, W)``, through ``.contiguous()``:
an NHWC map is copied to NCHW there and the result comes back NCHW, so every norm layer of an NHWC network paid two
layout conversions (one here, one at the next convolution), and CycleGAN and Johnson were slower in NHWC than in
NCHW although their convolutions alone are faster in NHWC.

For one picture, instance statistics *are* batch statistics: batch norm in training mode without running averages
normalises each channel over (N, H, W) = (1, H, W), and ``native_batch_norm`` works on NHWC maps in place (statistics
accumulated in fp32 for bf16 maps, as instance norm's own path does). Batches of several pictures take the standard
path. The speed-up is in docs/performance.md.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (same parameters, same state-dict keys) whose output has the input's memory layout."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[0] != 1 or self.track_running_stats:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, training=True, momentum=0.0, eps=self.eps)
