"""Model families as objects: what the engine needs from a family, and how it finds one by name.

A family knows how to build its network(s) from weight files, which precision suits it, how much larger its output is
than its input, and how to turn a prepared job into a function that stylises (or upscales) one picture. The engine
only calls these four members, so adding a family is a module with a ``FAMILY`` object and one line in
``registry.FAMILIES``; the engine does not change. ``registry`` stores dotted paths, not objects, so the bot can
read it without importing torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ml_models import device as dev
from ml_models import images, registry
from ml_models.api import CancelledFn, ProgressFn
from ml_models.errors import BadRequest

STYLE_SIDE = 512  # AdaIN and MicroAST were trained on style crops from 512 px images

Stylise = Callable[[np.ndarray], np.ndarray]
"""(H, W, 3) uint8 picture -> (H * scale, W * scale, 3) uint8 result."""


@dataclass
class Job:
    """What a family needs to stylise pictures: the loaded network, where and how it runs, and the user's choices.

    ``styles`` are decoded style pictures, (h, w, 3) uint8, with ``style_weights`` normalised to sum 1; ``options``
    are already validated against the model's ``ModelSpec``. Families append what the user should know to ``notes``.
    """

    net: Any
    device: torch.device
    dtype: torch.dtype
    options: dict[str, Any] = field(default_factory=dict)
    styles: list[np.ndarray] = field(default_factory=list)
    style_weights: list[float] = field(default_factory=list)
    tile: int = 256  # super-resolution tile side in input pixels
    progress: ProgressFn | None = None
    cancelled: CancelledFn | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def strength(self) -> float:
        return float(self.options.get("strength", 1.0))


@runtime_checkable
class Family(Protocol):
    """One model family. ``load`` builds on the CPU (the engine moves and caches the result); ``prepare`` does the
    per-job work that does not depend on the picture (encoding the style, say) once, so a sequence of frames pays
    for it once."""

    def load(self, paths: Sequence[Path]) -> nn.Module: ...

    def precision(self, device: torch.device, setting: str = "auto") -> torch.dtype: ...

    def output_scale(self, net: nn.Module) -> int: ...

    def prepare(self, job: Job) -> Stylise: ...


class StyleFamily:
    """Defaults for the families that return a picture of the input's size in the device's precision."""

    def precision(self, device: torch.device, setting: str = "auto") -> torch.dtype:
        return dev.precision_for(device, setting)

    def output_scale(self, net: nn.Module) -> int:
        return 1


def get(name: str) -> Family:
    """The family registered under ``name`` in ``registry.FAMILIES`` (imported on first use)."""
    try:
        target = registry.FAMILIES[name]
    except KeyError:
        raise BadRequest(message=f"no engine for model family {name!r}", family=name) from None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


# ------------------------------------------------------------------------------------------------ pixel helpers


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1] on the CPU."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_array(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) float32 on the 0..255 scale."""
    return t.detach().float().clamp(0.0, 1.0)[0].permute(1, 2, 0).mul(255.0).cpu().numpy()


def to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def finish(out: torch.Tensor, rgb: np.ndarray, job: Job, pixel_strength: bool) -> np.ndarray:
    """Colour preservation, then strength as a blend with the photo where the family has no better place for it."""
    result = to_array(out)
    content_255 = rgb.astype(np.float32)
    if job.options.get("preserve_colors"):
        result = images.keep_content_colors(result, content_255)
    if pixel_strength:
        result = images.blend(result, content_255, job.strength)
    return to_uint8(result)


def feed_forward(job: Job, network: Callable[[torch.Tensor], torch.Tensor], pixel_strength: bool) -> Stylise:
    """A one-pass family: ``network`` maps a device tensor in [0, 1] to the stylised picture in [0, 1]."""

    def stylise(rgb: np.ndarray) -> np.ndarray:
        x = dev.to_device(to_tensor(rgb), job.device)
        with dev.inference_context(job.device, job.dtype):
            out = network(x)
        return finish(out, rgb, job, pixel_strength)

    return stylise


def style_tensors(job: Job, side: int) -> list[torch.Tensor]:
    """The style pictures fitted to ``side`` and placed on the job's device."""
    return [dev.to_device(to_tensor(images.fit(s, side)), job.device) for s in job.styles]
