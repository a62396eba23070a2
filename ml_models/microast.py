"""MicroAST: super-fast ultra-resolution arbitrary style transfer (Wang et al., AAAI 2023, arXiv 2211.15313).

Two tiny encoders (content, style) replace VGG; the style features drive the decoder twice: through AdaIN statistics
("feature modulation") and through per-channel weights and biases from the modulator ("filter modulation") that
scale the decoder's residual convolutions. About 0.47 M parameters, so multi-megapixel photos take about a second on a
CPU. The released files are plain state dicts saved as ``*.pth.tar`` (a name only: they are ordinary torch pickles).

Strength is not a network input here: with AdaIN interpolation strictly between 0 and 1 the released weights
saturate to a flat colour, so the engine runs at alpha 1 and blends with the content photo in pixel space.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ml_models import device as dev
from ml_models import families
from ml_models.adain import adain_with_stats, mean_std
from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.padding import ReflectionPad2d
from ml_models.tiling import pad_to_multiple

Stats = tuple[Tensor, Tensor]  # per-channel (mean, std), each (N, C, 1, 1)


class ConvLayer(nn.Module):
    """Reflection padding k//2, then a (possibly grouped / depthwise) convolution."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.pad = ReflectionPad2d(kernel // 2)
        self.conv_layer = nn.Conv2d(cin, cout, kernel, stride, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_layer(self.pad(x))


class ResidualLayer(nn.Module):
    """x + conv2(relu(conv1(x))); with ``w``/``b`` each conv output is re-weighted per channel by the style."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)

    def forward(self, x: Tensor, w: Tensor | None = None, b: Tensor | None = None) -> Tensor:
        if w is None or b is None:
            return x + self.conv2(torch.relu(self.conv1(x)))
        y = torch.relu(w * self.conv1(x) + b * x)
        return x + w * self.conv2(y) + b * y


class Encoder(nn.Module):
    """3 -> 64 channels at 1/4 size: full 9x9 conv, two depthwise-separable stride-2 stages, two residual layers."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(
            ConvLayer(3, 16, 9), nn.ReLU(),
            ConvLayer(16, 32, 3, 2, groups=16), nn.ReLU(),
            ConvLayer(32, 32, 1), nn.ReLU(),
            ConvLayer(32, 64, 3, 2, groups=32), nn.ReLU(),
            ConvLayer(64, 64, 1), nn.ReLU(),
            ResidualLayer(64),
        )
        self.enc2 = nn.Sequential(ResidualLayer(64))

    def forward(self, x: Tensor) -> list[Tensor]:
        f1 = self.enc1(x)
        return [f1, self.enc2(f1)]


def _branch() -> nn.Sequential:
    return nn.Sequential(ConvLayer(64, 64, 3, groups=64), nn.AdaptiveAvgPool2d(1))


class Modulator(nn.Module):
    """Per-channel filter weights and biases (each (N, 64, 1, 1)) from the two style feature levels."""

    def __init__(self) -> None:
        super().__init__()
        self.weight1, self.bias1 = _branch(), _branch()
        self.weight2, self.bias2 = _branch(), _branch()

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        s1, s2 = feats
        return [self.weight1(s1), self.weight2(s2)], [self.bias1(s1), self.bias2(s2)]


class Decoder(nn.Module):
    """Two modulated residual layers with AdaIN before each, then x4 bilinear upsampling back to RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.dec1 = ResidualLayer(64)
        self.dec2 = ResidualLayer(64)
        self.dec3 = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear"),
            ConvLayer(64, 32, 3, groups=32), nn.ReLU(),
            ConvLayer(32, 32, 1), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear"),
            ConvLayer(32, 16, 3, groups=16), nn.ReLU(),
            ConvLayer(16, 16, 1), nn.ReLU(),
            ConvLayer(16, 3, 9),
        )

    def forward(self, content: Sequence[Tensor], stats: Sequence[Stats], w: Sequence[Tensor],
                b: Sequence[Tensor]) -> Tensor:
        c1, c2 = content
        dtype = c2.dtype
        u = self.dec1(adain_with_stats(c2, *stats[1]).to(dtype), w[1], b[1])
        z = self.dec2(adain_with_stats(u, *stats[0]).to(dtype), w[0], b[0])
        return self.dec3(z)


class StyleCode(NamedTuple):
    """What the decoder needs from a style image: feature statistics per level and the filter modulation."""

    stats: list[Stats]
    w: list[Tensor]
    b: list[Tensor]


def blend_styles(codes: Sequence[StyleCode], weights: Sequence[float]) -> StyleCode:
    """Weighted average of style codes (weights normalised here); AdaIN is linear in (mean, std), so this matches
    interpolating the AdaIN outputs."""
    total = float(sum(weights))
    if len(codes) != len(weights) or not codes or total <= 0:
        raise ValueError("need as many positive-sum weights as style codes")
    ws = [wt / total for wt in weights]

    def mix(parts: Sequence[Tensor]) -> Tensor:
        return sum((wt * p.float() for wt, p in zip(ws, parts, strict=True)), torch.zeros_like(parts[0].float()))

    levels = range(len(codes[0].stats))
    return StyleCode(
        stats=[(mix([c.stats[i][0] for c in codes]), mix([c.stats[i][1] for c in codes])) for i in levels],
        w=[mix([c.w[i] for c in codes]) for i in levels],
        b=[mix([c.b[i] for c in codes]) for i in levels],
    )


class MicroAST(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.content_encoder = Encoder()
        self.style_encoder = Encoder()
        self.modulator = Modulator()
        self.decoder = Decoder()

    @classmethod
    def load(cls, content_encoder: str | PathLike[str], style_encoder: str | PathLike[str],
             modulator: str | PathLike[str], decoder: str | PathLike[str]) -> MicroAST:
        net = cls()
        for part, path in ((net.content_encoder, content_encoder), (net.style_encoder, style_encoder),
                           (net.modulator, modulator), (net.decoder, decoder)):
            load_strict(part, read_state_dict(path), path)
        return net.eval()

    def encode_style(self, style: Tensor) -> StyleCode:
        """Style image (1,3,h,w) RGB in [0,1], any size -> its ``StyleCode`` (blend several with ``blend_styles``)."""
        feats = self.style_encoder(style)
        w, b = self.modulator(feats)
        return StyleCode([mean_std(f) for f in feats], w, b)

    def stylize_with(self, content: Tensor, stats: Sequence[Stats], w: Sequence[Tensor],
                     b: Sequence[Tensor]) -> Tensor:
        """Content (N,3,H,W) RGB in [0,1] with a (possibly blended) style code -> RGB in [0,1], same size."""
        padded, (h, wd) = pad_to_multiple(content, 4)
        out = self.decoder(self.content_encoder(padded), stats, w, b)
        return out[..., :h, :wd].float().clamp_(0.0, 1.0)

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.stylize_with(content, *self.encode_style(style))


class MicroASTFamily(families.StyleFamily):
    """Any style from a picture. The style is encoded once per job (and blended when there are two); strength blends
    with the photo in pixel space (see the module docstring for why not in feature space)."""

    def load(self, paths: Sequence[Path]) -> MicroAST:
        return MicroAST.load(*paths)

    def precision(self, device: torch.device, setting: str = "auto") -> torch.dtype:
        """fp32 on CPUs even where bf16 is the default: the network is made of depthwise and pointwise convolutions,
        which are memory-bound, and oneDNN's bf16 kernels for them are slower than fp32. An explicit setting wins."""
        if device.type == "cpu" and (setting or "auto").strip().lower() == "auto":
            return torch.float32
        return dev.precision_for(device, setting)

    def prepare(self, job: families.Job) -> families.Stylise:
        net: MicroAST = job.net
        with dev.inference_context(job.device, job.dtype):
            codes = [net.encode_style(s) for s in families.style_tensors(job, families.STYLE_SIDE)]
        code = codes[0] if len(codes) == 1 else blend_styles(codes, job.style_weights)
        return families.feed_forward(job, lambda x: net.stylize_with(x, *code), pixel_strength=True)


FAMILY = MicroASTFamily()
