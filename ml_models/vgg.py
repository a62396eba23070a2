"""VGG-19 (Simonyan & Zisserman, configuration E) as a feature extractor for the Gatys loss.

The layout is torchvision's ``features`` Sequential (indices 0..36), so its ImageNet weights load unchanged. Only the
layers the weight file provides are built: a 2 MB conv1_1..conv3_1 subset gives a three-block network, the full file
all sixteen convs. The classifier (90 % of the 548 MB download) is never needed, hence ``convert_torchvision_vgg19``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml_models.checkpoints import load_strict, read_state_dict
from ml_models.errors import CheckpointError

# (name, kind) of torchvision vgg19().features[i] for i = 0..36; kind: conv / relu / pool.
_CFG_E = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_table() -> list[tuple[str, int, int]]:
    """One row per features index: (name, in_channels, out_channels); pools carry (name, 0, 0)."""
    rows: list[tuple[str, int, int]] = []
    block, conv, channels = 1, 1, 3
    for item in _CFG_E:
        if item == "M":
            rows.append((f"pool{block}", 0, 0))
            block, conv = block + 1, 1
        else:
            rows.append((f"conv{block}_{conv}", channels, item))
            rows.append((f"relu{block}_{conv}", item, item))
            channels, conv = item, conv + 1
    return rows


_LAYERS = _layer_table()
LAYER_INDEX = {name: i for i, (name, _, _) in enumerate(_LAYERS)}


class _SplitFirstConv(torch.autograd.Function):
    """conv1_1 in a reduced precision with about fp32's accuracy on its input: one convolution over [x_hi, x_lo, x_hi]
    with weights [w_hi, w_hi, w_lo], where x = x_hi + x_lo and w = w_hi + w_lo are split into two bf16/fp16 parts.

    Gatys optimises the picture itself, and the picture is conv1_1's input. bf16's 8-bit mantissa quantises normalised
    pixels in steps of half a grey level to one, coarser than the optimiser's late updates, and the style loss
    amplifies that error. Six more input channels in the one conv that has three cost nothing measurable. The
    backward needs only dL/dx = conv_transpose(dL/dy, w): the lo parts carry no gradient of their own. Gradient
    fidelity with and without the split: docs/performance.md.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Tensor:
        x = x.float()
        x_hi = x.to(dtype)
        x_lo = (x - x_hi.float()).to(dtype)
        w_hi = weight.to(dtype)
        inputs, weights = [x_hi, x_lo], [w_hi, w_hi]
        if weight.dtype == torch.float32:  # a net already cast to bf16/fp16 has no low part left
            inputs.append(x_hi)
            weights.append((weight - w_hi.float()).to(dtype))
        ctx.save_for_backward(w_hi)
        ctx.input_shape = x.shape
        return F.conv2d(torch.cat(inputs, 1), torch.cat(weights, 1), None if bias is None else bias.to(dtype),
                        padding=1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (w_hi,) = ctx.saved_tensors
        grad_x = torch.nn.grad.conv2d_input(ctx.input_shape, w_hi, grad.to(w_hi.dtype), padding=1)
        return grad_x.float(), None, None, None


def _reduced_precision(device: torch.device, weight_dtype: torch.dtype) -> torch.dtype | None:
    """bf16/fp16 when the convolutions will run in it (autocast, or a net cast to it), else None."""
    if weight_dtype in (torch.bfloat16, torch.float16):
        return weight_dtype
    if torch.is_autocast_enabled(device.type):
        dtype = torch.get_autocast_dtype(device.type)
        if dtype in (torch.bfloat16, torch.float16):
            return dtype
    return None


def _features_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Bare-index keys from either torchvision's ``features.N``/``classifier.N`` layout or a bare subset."""
    if any(k.startswith("features.") for k in state):
        return {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    return dict(state)


class VGG19(nn.Module):
    """``features[0..depth]`` of torchvision VGG-19; input RGB in [0, 1], ImageNet normalisation inside."""

    def __init__(self, depth: int = len(_LAYERS) - 1) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        for name, cin, cout in _LAYERS[: depth + 1]:
            if name.startswith("conv"):
                modules.append(nn.Conv2d(cin, cout, 3, padding=1))
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=True))
            else:
                modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], source: str = "state dict") -> VGG19:
        """Build as deep as the convs in ``state`` reach (they must be a prefix of conv1_1, conv1_2, ...)."""
        features = _features_state(state)
        indices = sorted({int(m.group(1)) for k in features if (m := re.fullmatch(r"(\d+)\.(weight|bias)", k))})
        if not indices:
            raise CheckpointError(message=f"{source}: no VGG-19 feature convs found", file=source)
        deepest = indices[-1]
        if deepest >= len(_LAYERS) or not _LAYERS[deepest][0].startswith("conv"):
            raise CheckpointError(message=f"{source}: index {deepest} is not a VGG-19 conv", file=source)
        net = cls(depth=deepest + 1)  # include the ReLU after the deepest conv
        load_strict(net.features, features, source)
        return net.eval()

    @classmethod
    def load(cls, path: str | PathLike[str]) -> VGG19:
        return cls.from_state_dict(read_state_dict(path), str(path))

    @property
    def available_layers(self) -> list[str]:
        """ReLU outputs this instance can return, shallow to deep."""
        return [name for name, *_ in _LAYERS[: len(self.features)] if name.startswith("relu")]

    def forward(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Activations of ``layers`` (e.g. ``relu1_1``); runs only as deep as the deepest one asked for."""
        available = self.available_layers
        unknown = [name for name in layers if name not in available]
        if unknown:
            raise CheckpointError(
                message=f"VGG-19 layer(s) {', '.join(unknown)} not available: the weight file provides "
                        f"{', '.join(available)}", missing=unknown, available=available)
        wanted = {LAYER_INDEX[name]: name for name in layers}
        out: dict[str, Tensor] = {}
        # Normalise in fp32; conv1_1 splits it when the convs run in bf16/fp16 (see _SplitFirstConv), otherwise each
        # conv gets its own dtype (fp32 under autocast, half if the net was cast).
        first = self.features[0]
        h = (x.float() - self.mean) / self.std
        reduced = _reduced_precision(h.device, first.weight.dtype)
        h = _SplitFirstConv.apply(h, first.weight, first.bias, reduced) if reduced else first(h.to(first.weight.dtype))
        for i in range(1, max(wanted) + 1):  # wanted layers are ReLUs: index 0, conv1_1, is never one of them
            h = self.features[i](h)
            if i in wanted:
                out[wanted[i]] = h
        return out


def convert_torchvision_vgg19(src: str | PathLike[str], dst: str | PathLike[str]) -> Path:
    """Write the ``features`` part of torchvision's VGG-19 file with bare indices (80 MB instead of 548 MB)."""
    features = _features_state(read_state_dict(src))
    VGG19.from_state_dict(features, str(src))  # refuse to write a file the loader would reject
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    torch.save({k: v.contiguous() for k, v in features.items()}, tmp)
    os.replace(tmp, dst)
    return dst
