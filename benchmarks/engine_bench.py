"""Measurements through the engine's public entry (``ml_models.engine.run`` / ``preload``): whole jobs as a worker
runs them, from encoded bytes to encoded bytes, with the engine's own model cache.

Each function runs inside a fresh case subprocess (see ``benchmarks.case``), so "first job" really is the first one
in the process and peak RSS belongs to that job alone.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from benchmarks.common import DEFAULT_STYLE, encode_png, load_photo, load_style, peak_rss_mb, rss_mb
from ml_models import engine
from ml_models.api import JobRequest
from ml_models.settings import EngineSettings

# (registry model id, preset) per benchmark family, as a user would ask for it.
JOBS: dict[str, tuple[str, str | None]] = {
    "microast": ("microast", None),
    "adain": ("adain", None),
    "gatys": ("gatys", None),
    "johnson": ("johnson", "mosaic"),
    "cyclegan": ("cyclegan", "monet"),
    "rrdb": ("upscale", "general"),  # RealESRGAN_x4plus is the first "general" alternative
    "srvgg": ("upscale", "anime"),  # realesr-animevideov3 where the anime RRDB file is absent
}


def settings_for(weights_dir: Path) -> EngineSettings:
    return EngineSettings(weights_dir=Path(weights_dir), styles_dir=Path(weights_dir) / "styles")


def request_for(family: str, photo: str, size: int, options: dict | None = None) -> JobRequest:
    model, preset = JOBS[family]
    rgb, _ = load_photo(photo, size)
    styles = [encode_png(load_style(DEFAULT_STYLE)[0])] if family in ("microast", "adain", "gatys") else []
    return JobRequest(model=model, content=encode_png(rgb), preset=preset, styles=styles,
                      options=dict(options or {}), output_format="jpeg")


def _summary(result) -> dict:
    return {"width": result.width, "height": result.height, "mime": result.mime, "bytes": len(result.image),
            "engine_seconds": result.seconds, "info": {k: str(v) for k, v in result.info.items()}}


def timed_jobs(weights_dir: Path, family: str, photo: str, size: int, repeat: int, preload: bool,
               options: dict | None = None, budget_s: float = 1e9) -> dict:
    """First job after process start, then up to ``repeat`` warm jobs (median); peak RSS of the whole process."""
    settings = settings_for(weights_dir)
    request = request_for(family, photo, size, options)
    rss_start = rss_mb()
    preload_s = None
    if preload:
        started = time.perf_counter()
        engine.preload([request.model], settings)
        preload_s = time.perf_counter() - started
    steps = {"total": 0}

    def progress(done: int, total: int) -> None:
        steps["total"] = total

    started = time.perf_counter()
    result = engine.run(request, settings, progress)
    first_s = time.perf_counter() - started
    warm: list[float] = []
    n = repeat if first_s * repeat <= budget_s else max(0, int(budget_s // max(first_s, 1e-9)))
    for _ in range(n):
        result = None
        started = time.perf_counter()
        result = engine.run(request, settings, progress)
        warm.append(time.perf_counter() - started)
    return {"model": request.model, "preset": request.preset, "input": size, "preloaded": preload,
            "preload_s": preload_s, "first_s": first_s, "warm_times": warm,
            "warm_s": statistics.median(warm) if warm else None,
            "first_over_warm": (first_s / statistics.median(warm)) if warm else None,
            "progress_total": steps["total"], "rss_start_mb": rss_start, "rss_end_mb": rss_mb(),
            "peak_rss_mb": peak_rss_mb(), "result": _summary(result)}


def worker_with_all_models(weights_dir: Path, families: list[str]) -> dict:
    """RSS of a worker-like process before and after ``engine.preload`` of every requested model family."""
    import torch  # noqa: F401 - the worker imports it before anything is loaded

    before = rss_mb()
    model_ids = list(dict.fromkeys(JOBS[f][0] for f in families))
    started = time.perf_counter()
    engine.preload(model_ids, settings_for(weights_dir))
    load_s = time.perf_counter() - started
    return {"how": f"engine.preload({model_ids})", "models": model_ids, "rss_after_import_mb": before,
            "rss_loaded_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "load_s": load_s}
