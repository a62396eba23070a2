"""AdaIN: arbitrary style transfer in real time (Huang & Belongie, arXiv 1703.06868).

A fixed VGG encoder maps content and style to relu4_1 features; adaptive instance normalisation gives the content
features the per-channel mean and standard deviation of the style features; a trained decoder maps the result back to
an image. Module indices follow naoto0804/pytorch-AdaIN (``vgg_normalised.pth`` and ``decoder.pth``), whose keys are
bare Sequential indices, so both classes below are Sequentials.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import torch
from torch import Tensor, nn

from ml_models import device as dev
from ml_models import families
from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.padding import ReflectionPad2d
from ml_models.tiling import pad_to_multiple

ENCODER_DEPTH = 31  # modules 0..30: input -> relu4_1; the official file continues to relu5_4 (module 52)


def mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and std (unbiased variance + eps) over H x W, computed in fp32."""
    flat = feat.float().flatten(2)
    mean = flat.mean(dim=2)[..., None, None]
    std = (flat.var(dim=2, unbiased=True) + eps).sqrt()[..., None, None]
    return mean, std


def adain_with_stats(content_feat: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise ``content_feat`` per channel, then scale and shift it to the given style statistics (fp32 out)."""
    mean, std = mean_std(content_feat, eps)
    return (content_feat.float() - mean) / std * style_std.float() + style_mean.float()


def adaptive_instance_norm(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y), statistics in fp32 (bf16 variance is too coarse)."""
    style_mean, style_std = mean_std(style_feat, eps)
    return adain_with_stats(content_feat, style_mean, style_std, eps).to(content_feat.dtype)


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]


def _pool() -> nn.Module:
    return nn.MaxPool2d(2, 2, 0, ceil_mode=True)


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


class AdaINEncoder(nn.Sequential):
    """The "normalised" VGG-19 up to relu4_1. Module 0 is a 1x1 conv that does Caffe's RGB->BGR, x255, mean shift."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 3, 1),
            *_conv(3, 64), *_conv(64, 64), _pool(),                                          # 1..7
            *_conv(64, 128), *_conv(128, 128), _pool(),                                      # 8..14
            *_conv(128, 256), *_conv(256, 256), *_conv(256, 256), *_conv(256, 256), _pool(),  # 15..27
            *_conv(256, 512),                                                                # 28..30 relu4_1
        )

    @classmethod
    def load(cls, path: str | PathLike[str]) -> AdaINEncoder:
        """Load ``vgg_normalised.pth``; keys of the unused modules 31..52 are accepted and ignored."""
        state = read_state_dict(path)
        used = {k: v for k, v in state.items()
                if not ((m := re.match(r"(\d+)\.", k)) and int(m.group(1)) >= ENCODER_DEPTH)}
        return load_strict(cls(), used, path).eval()


class AdaINDecoder(nn.Sequential):
    """Mirror of the encoder: relu4_1 features (512 channels, 1/8 size) back to RGB, nearest x2 upsampling."""

    def __init__(self) -> None:
        super().__init__(
            *_conv(512, 256), _up(),                                                         # 0..3
            *_conv(256, 256), *_conv(256, 256), *_conv(256, 256), *_conv(256, 128), _up(),    # 4..16
            *_conv(128, 128), *_conv(128, 64), _up(),                                        # 17..23
            *_conv(64, 64), ReflectionPad2d(1), nn.Conv2d(64, 3, 3),                         # 24..28
        )

    @classmethod
    def load(cls, path: str | PathLike[str]) -> AdaINDecoder:
        return load_strict(cls(), read_state_dict(path), path).eval()


class AdaIN(nn.Module):
    """Encoder + AdaIN + decoder; several styles are blended in feature space as in the paper (Sec. 7)."""

    def __init__(self, encoder: AdaINEncoder, decoder: AdaINDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def load(cls, encoder_path: str | PathLike[str], decoder_path: str | PathLike[str]) -> AdaIN:
        return cls(AdaINEncoder.load(encoder_path), AdaINDecoder.load(decoder_path)).eval()

    def encode_styles(self, styles: Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Per-channel (mean, std) of each style's relu4_1 features: all ``stylize_with`` needs from a style."""
        return [mean_std(self.encoder(style)) for style in styles]

    def stylize_with(self, content: Tensor, style_stats: Sequence[tuple[Tensor, Tensor]],
                     weights: Sequence[float] | None = None, alpha: float = 1.0) -> Tensor:
        """Content (N,3,H,W) RGB in [0,1] and encoded styles -> stylised RGB in [0,1], same size as content.

        ``weights`` (normalised here) mix the styles' AdaIN targets; ``alpha`` in [0,1] moves from the content's own
        features (0) to the fully stylised ones (1).
        """
        if not style_stats:
            raise ValueError("AdaIN needs at least one style image")
        weights = [1.0] * len(style_stats) if not weights else list(weights)
        if len(weights) != len(style_stats) or sum(weights) <= 0:
            raise ValueError("style weights must be as many as the styles and sum to a positive number")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        total = sum(weights)
        padded, (h, w) = pad_to_multiple(content, 8)
        content_feat = self.encoder(padded)
        target = torch.zeros_like(content_feat, dtype=torch.float32)
        for (mean, std), weight in zip(style_stats, weights, strict=True):
            target += weight / total * adain_with_stats(content_feat, mean, std)
        target = alpha * target + (1.0 - alpha) * content_feat.float()
        out = self.decoder(target.to(content_feat.dtype))
        return out[..., :h, :w].float().clamp_(0.0, 1.0)

    def stylize(self, content: Tensor, styles: Sequence[Tensor], weights: Sequence[float] | None = None,
                alpha: float = 1.0) -> Tensor:
        """``stylize_with`` on style pictures (1,3,h,w) RGB in [0,1]."""
        return self.stylize_with(content, self.encode_styles(styles), weights, alpha)


class AdaINFamily(families.StyleFamily):
    """Any style from a picture; styles are encoded once per job, strength interpolates in feature space as in the
    paper (no pixel blend)."""

    def load(self, paths: Sequence[Path]) -> AdaIN:
        return AdaIN.load(*paths)

    def prepare(self, job: families.Job) -> families.Stylise:
        net: AdaIN = job.net
        with dev.inference_context(job.device, job.dtype):
            stats = net.encode_styles(families.style_tensors(job, families.STYLE_SIDE))
        return families.feed_forward(job, lambda x: net.stylize_with(x, stats, job.style_weights, alpha=job.strength),
                                     pixel_strength=False)


FAMILY = AdaINFamily()
