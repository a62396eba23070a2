"""Paths, input images and small helpers shared by the orchestrator and the case subprocesses (no torch here)."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights"
CONTENT_DIR = SHARED / "images" / "content"
STYLE_DIR = SHARED / "images" / "style"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latest.json"

DEFAULT_PHOTO = "lion.jpg"  # square 1654 px: a size S gives S x S, the most pixels a long side of S allows
DEFAULT_STYLE = "starry_night.jpg"
STYLE_SIDE = 512  # style images are encoded at this long side for every content size


def load_photo(name: str, side: int, square: bool = True) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB resized (Lanczos) to long side ``side``; a synthetic picture when the photos are absent.

    Returns the pixels and where they came from, so results say whether a real photo was used.
    """
    path = CONTENT_DIR / name
    if path.is_file():
        image = Image.open(path).convert("RGB")
        w, h = image.size
        if square:
            size = (side, side)
        else:
            scale = side / max(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(image.resize(size, Image.Resampling.LANCZOS)), f"photo {name}"
    return synthetic_image(side, side), f"synthetic (no {path})"


def load_style(name: str = DEFAULT_STYLE, side: int = STYLE_SIDE) -> tuple[np.ndarray, str]:
    path = STYLE_DIR / name
    if path.is_file():
        image = Image.open(path).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        return np.asarray(image), f"style {name}"
    return synthetic_image(side, side, seed=1), f"synthetic (no {path})"


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus texture: not a photo, but with the spatial statistics convolutions care about."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width, 1), yy / max(height, 1), 0.5 + 0.5 * np.sin((xx + yy) / 37.0)], axis=2)
    noise = rng.normal(0.0, 0.08, size=(height, width, 3)).astype(np.float32)
    return np.clip((base + noise) * 255.0, 0, 255).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    ref = np.asarray(reference, dtype=np.float64)
    mse = float(np.mean((ref - np.asarray(test, dtype=np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * float(np.log10(data_range * data_range / mse))


def cpu_description() -> dict:
    """CPU model and the flags that decide the precision path (read from /proc/cpuinfo, no torch)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("unknown", "", platform.processor()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
    return {"model": model, "logical_cpus": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def loadavg() -> list[float]:
    """1/5/15-minute load averages: other work on the machine shows up here and explains noisy timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------------- memory

MB = 1024 * 1024


def peak_rss_mb() -> float:
    """High-water resident set of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def rss_mb(pid: int | None = None) -> float:
    """Current resident set of ``pid`` (this process when None) in MiB."""
    import psutil

    return psutil.Process(pid).memory_info().rss / MB
