"""Shared helpers for the engine tests: genuine photos as bytes, decoding results, and a style-statistics distance."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ml_models.api import JobRequest, JobResult
from ml_models.settings import EngineSettings
from tests.conftest import IMAGES, WEIGHTS, need

VGG_SUBSET = WEIGHTS / "vgg19" / "vgg19_first_five_conv_layers.pth"
STATS_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def settings(**kwargs) -> EngineSettings:
    need(WEIGHTS)
    return EngineSettings(weights_dir=WEIGHTS, styles_dir=WEIGHTS / "styles", **kwargs)


def image_bytes(relative: str) -> bytes:
    return need(IMAGES / relative).read_bytes()


def rgb_of(relative: str, side: int | None = None) -> np.ndarray:
    image = Image.open(need(IMAGES / relative)).convert("RGB")
    if side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image).copy()


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def decode_result(result: JobResult) -> np.ndarray:
    """The result's pixels as uint8 (H, W, C), C = 3 or 4."""
    with Image.open(io.BytesIO(result.image)) as im:
        im.load()
        return np.asarray(im).copy()


def request(model: str, content: bytes, side: int, **kwargs) -> JobRequest:
    """A request whose content is sized to ``side`` by the engine, returned as PNG (no JPEG noise in the checks)."""
    options = dict(kwargs.pop("options", {}))
    options["max_side"] = side
    return JobRequest(model=model, content=content, options=options, output_format=kwargs.pop("output_format", "png"),
                      **kwargs)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Cb, Cr (BT.601 full range) of an RGB array, float."""
    x = rgb[..., :3].astype(np.float64)
    cb = -0.168735892 * x[..., 0] - 0.331264108 * x[..., 1] + 0.5 * x[..., 2]
    cr = 0.5 * x[..., 0] - 0.418687589 * x[..., 1] - 0.081312411 * x[..., 2]
    return np.stack([cb, cr], axis=-1)


@functools.cache
def _vgg():
    from ml_models.vgg import VGG19
    return VGG19.load(need(VGG_SUBSET)).eval()


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb[..., :3], dtype=np.float32)).permute(2, 0, 1)[None] / 255.0


def _gram(feat: torch.Tensor) -> torch.Tensor:
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_distance(rgb: np.ndarray, style_rgb: np.ndarray, style_side: int | None = None) -> float:
    """Relative Gram-matrix distance on VGG-19 relu1_1, relu2_1, relu3_1 (the 2 MB subset file), fp32.

    Gram statistics depend on scale, so the style image is taken at the scale the model imitates: ``style_side``
    None scales its long side to the image's (Gatys, which resizes the style so), a number to that side (Johnson
    nets reproduce the style at the pixel scale they were trained with: the image's native size). Each layer's
    squared distance is divided by the style Gram's squared norm so no layer dominates.
    """
    side = style_side or max(rgb.shape[:2])
    style = Image.fromarray(style_rgb)
    scale = side / max(style.size)
    style = style.resize((max(1, round(style.width * scale)), max(1, round(style.height * scale))),
                         Image.Resampling.LANCZOS)
    vgg = _vgg()
    with torch.no_grad():
        fx = vgg(_tensor(rgb), STATS_LAYERS)
        fs = vgg(_tensor(np.asarray(style)), STATS_LAYERS)
    total = 0.0
    for k in STATS_LAYERS:
        gx, gs = _gram(fx[k].float()), _gram(fs[k].float())
        total += float(F.mse_loss(gx, gs, reduction="sum") / gs.pow(2).sum())
    return total


def shared_path(relative: str) -> Path:
    return need(IMAGES / relative)


def clipped_share(image: torch.Tensor, lo: float, hi: float) -> float:
    """The share of values pinned at a bound. Outputs are clamped, so ``min >= lo`` always holds; a network fed the
    wrong scale or weights saturates instead, and this share shows it (a genuine network stays under a few per cent).
    NaN counts as pinned."""
    return float(((image <= lo) | (image >= hi) | torch.isnan(image)).float().mean())
