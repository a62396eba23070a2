"""Fast feed-forward style transfer (Johnson, Alahi & Fei-Fei, arXiv 1603.08155): one network per style.

Layout and names of pytorch/examples' ``TransformerNet`` (Ulyanov's instance normalisation instead of batch norm,
upsample-then-conv instead of transposed convs to avoid checkerboard artefacts). The width is a parameter because
reduced-width retrains (16 channels instead of 32) exist and are four times cheaper on a CPU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml_models import families
from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.instance_norm import InstanceNorm2d
from ml_models.padding import ReflectionPad2d
from ml_models.tiling import pad_to_multiple

# Pre-0.4 InstanceNorm kept running statistics; current InstanceNorm2d(track_running_stats=False) has none.
_DEPRECATED_NORM_STATS = re.compile(r"(^|\.)in\d+\.running_(mean|var)$")


class ConvLayer(nn.Module):
    """Reflection padding k//2 then a convolution, optionally preceded by nearest-neighbour upsampling."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: int = 1) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv2d(self.pad(x))


def _norm(channels: int) -> InstanceNorm2d:
    return InstanceNorm2d(channels, affine=True)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.in1 = ConvLayer(channels, channels, 3), _norm(channels)
        self.conv2, self.in2 = ConvLayer(channels, channels, 3), _norm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    """RGB 0..255 in, RGB about 0..255 out; downsamples by 4 internally."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.conv1, self.in1 = ConvLayer(3, c, 9), _norm(c)
        self.conv2, self.in2 = ConvLayer(c, 2 * c, 3, stride=2), _norm(2 * c)
        self.conv3, self.in3 = ConvLayer(2 * c, 4 * c, 3, stride=2), _norm(4 * c)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (ResidualBlock(4 * c) for _ in range(5))
        self.deconv1, self.in4 = ConvLayer(4 * c, 2 * c, 3, upsample=2), _norm(2 * c)
        self.deconv2, self.in5 = ConvLayer(2 * c, c, 3, upsample=2), _norm(c)
        self.deconv3 = ConvLayer(c, 3, 9)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.in1(self.conv1(x)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = torch.relu(self.in4(self.deconv1(y)))
        y = torch.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)

    def stylize(self, x: Tensor) -> Tensor:
        """RGB 0..255 (N,3,H,W) -> stylised RGB clamped to 0..255, same H x W (reflect-padded to a multiple of 4)."""
        padded, (h, w) = pad_to_multiple(x, 4)
        return self(padded)[..., :h, :w].float().clamp_(0.0, 255.0)


def load_transformer_net(path: str | PathLike[str]) -> TransformerNet:
    """Load a pytorch/examples style file of any width; the deprecated InstanceNorm running stats are dropped."""
    state = {k: v for k, v in read_state_dict(path).items() if not _DEPRECATED_NORM_STATS.search(k)}
    width = state["conv1.conv2d.weight"].shape[0] if "conv1.conv2d.weight" in state else 32
    return load_strict(TransformerNet(width), state, path).eval()


class JohnsonFamily(families.StyleFamily):
    """One network per preset; strength blends with the photo in pixel space (the net has no style input to scale)."""

    def load(self, paths: Sequence[Path]) -> TransformerNet:
        return load_transformer_net(paths[0])

    def prepare(self, job: families.Job) -> families.Stylise:
        net = job.net
        return families.feed_forward(job, lambda x: net.stylize(x * 255.0).float().div_(255.0), pixel_strength=True)


FAMILY = JohnsonFamily()
