"""Paths, input pictures and small helpers shared by the orchestrator and the case subprocesses (no torch here)."""

from __future__ import annotations

import io
import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_WEIGHTS = REPO.parent / "shared" / "weights"
IMAGES = REPO.parent / "shared" / "images"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latest.json"
PHOTO = "lion.jpg"  # square 1654 px: a size S gives S x S, the most pixels a long side of S allows
STYLE = "starry_night.jpg"
FAMILIES = ("microast", "adain", "gatys", "johnson", "cyclegan", "rrdb", "srvgg")
MB = 1024 * 1024


def load_photo(side: int) -> tuple[np.ndarray, str]:
    """(side, side, 3) uint8 RGB (Lanczos) and where it came from: the photo, or a synthetic picture without it."""
    path = IMAGES / "content" / PHOTO
    if not path.is_file():
        return synthetic_image(side, side), f"synthetic (no {path})"
    return np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)), f"photo {PHOTO}"


def load_style(side: int = 512) -> np.ndarray:
    """The style picture at long side ``side`` (a synthetic one without it)."""
    path = IMAGES / "style" / STYLE
    if not path.is_file():
        return synthetic_image(side, side, seed=1)
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus texture: not a photo, but with the spatial statistics convolutions care about."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width, 1), yy / max(height, 1), 0.5 + 0.5 * np.sin((xx + yy) / 37.0)], axis=2)
    noise = rng.normal(0.0, 0.08, size=(height, width, 3)).astype(np.float32)
    return np.clip((base + noise) * 255.0, 0, 255).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * float(np.log10(data_range * data_range / mse))


def cpu_description() -> dict:
    """CPU model and the flags that decide the precision path (read from /proc/cpuinfo, no torch)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key in ("flags", "Features"):
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
    return {"model": model, "logical_cpus": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def peak_rss_mb() -> float:
    """High-water resident set of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def rss_mb(pid: int | None = None) -> float:
    """Current resident set of ``pid`` (this process when None) in MiB."""
    import psutil

    return psutil.Process(pid).memory_info().rss / MB
