"""CycleGAN photo -> painting generators (Zhu et al., arXiv 1703.10593).

The ResNet generator of junyanz/pytorch-CycleGAN-and-pix2pix with 9 residual blocks, 64 base filters, instance norm
without affine parameters, reflection padding and no dropout, as a flat ``model`` Sequential so the released
``style_*.pth`` keys (``model.N...``) load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from torch import Tensor, nn

from ml_models import families
from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.instance_norm import InstanceNorm2d
from ml_models.padding import ReflectionPad2d
from ml_models.tiling import pad_to_multiple

_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _norm(channels: int) -> InstanceNorm2d:
    return InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """RGB in [-1, 1] -> RGB in [-1, 1] (tanh); two stride-2 downsamplings, ``n_blocks`` residual blocks, two
    transposed-conv upsamplings."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        layers: list[nn.Module] = [ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), _norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), _norm(ngf * mult * 2),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def stylize(self, x: Tensor) -> Tensor:
        """RGB in [-1, 1] (N,3,H,W) -> painting in [-1, 1], same H x W (reflect-padded to a multiple of 4)."""
        padded, (h, w) = pad_to_multiple(x, 4)
        return self(padded)[..., :h, :w].float().clamp_(-1.0, 1.0)


def load_cyclegan(path: str | PathLike[str]) -> ResnetGenerator:
    """Load a released generator; InstanceNorm buffers saved under PyTorch 0.4 (running stats and
    ``num_batches_tracked``) are dropped, as the official loader does, but only for InstanceNorm layers."""
    net = ResnetGenerator()
    norms = {name for name, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)}
    state = {k: v for k, v in read_state_dict(path).items()
             if not (k.rpartition(".")[2] in _NORM_BUFFERS and k.rpartition(".")[0] in norms)}
    return load_strict(net, state, path).eval()


class CycleGANFamily(families.StyleFamily):
    """One generator per painter; strength blends with the photo in pixel space."""

    def load(self, paths: Sequence[Path]) -> ResnetGenerator:
        return load_cyclegan(paths[0])

    def prepare(self, job: families.Job) -> families.Stylise:
        net = job.net
        return families.feed_forward(job, lambda x: net.stylize(x * 2.0 - 1.0).float().add_(1.0).div_(2.0),
                                     pixel_strength=True)


FAMILY = CycleGANFamily()
