"""SRVGGNetCompact, Real-ESRGAN's small super-resolution network (``realesr-animevideov3``, ``realesr-general-x4v3``).

A plain stack of 3x3 convs and activations at the input resolution, ending in ``upscale**2 * out`` channels that a
pixel shuffle rearranges into the larger image; the network only learns a residual over nearest-neighbour upsampling.
With no work at the output resolution it is far cheaper than RRDBNet on a CPU.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

_ACTIVATIONS = {"prelu": lambda n: nn.PReLU(num_parameters=n), "relu": lambda n: nn.ReLU(inplace=True),
                "leakyrelu": lambda n: nn.LeakyReLU(0.1, inplace=True)}


class SRVGGNetCompact(nn.Module):
    """RGB in [0, 1] -> RGB about [0, 1] at ``upscale`` times the size (clamp afterwards)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4, act: str = "prelu") -> None:
        super().__init__()
        if act not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; expected one of {', '.join(_ACTIVATIONS)}")
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _ACTIVATIONS[act](num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _ACTIVATIONS[act](num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    @property
    def scale(self) -> int:
        return self.upscale

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.upscale) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor]) -> SRVGGNetCompact:
        """An unloaded network sized from ``body.N`` keys (PReLU, as in every released SRVGG model)."""
        convs = sorted(int(m[1]) for k, v in state.items() if (m := re.fullmatch(r"body\.(\d+)\.weight", k))
                       and v.dim() == 4)
        if len(convs) < 2 or "body.1.weight" not in state:
            raise ValueError("not an SRVGGNetCompact state dict with PReLU activations")
        first, last = state[f"body.{convs[0]}.weight"], state[f"body.{convs[-1]}.weight"]
        num_in = first.shape[1]
        upscale = math.isqrt(last.shape[0] // num_in)
        return cls(num_in_ch=num_in, num_out_ch=num_in, num_feat=first.shape[0], num_conv=(convs[-1] - 2) // 2,
                   upscale=upscale, act="prelu")
