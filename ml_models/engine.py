"""The one entry point that workers, the CLI and benchmarks call: bytes in, stylised or upscaled bytes out.

``run`` does the same steps for every model: validate the request against the registry, find the weight files,
decode and size the photo, check the pixel budget, let the model's family (``ml_models.families``) stylise it under
the device and precision it chose, put the alpha channel back, encode. ``stylise_frames`` does the same for a
sequence of frames with one network and one style code. Networks are loaded on first use and cached for the life of
the process (a worker runs many jobs), keyed by the weight files (with their size and mtime, so a replaced file is
reloaded), the device and the precision. The engine knows no family by name: what differs between families lives in
their ``Family`` objects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml_models import device as dev
from ml_models import families, images, registry
from ml_models.api import CancelledFn, JobRequest, JobResult, ProgressFn
from ml_models.errors import BadRequest, Cancelled, TooLarge
from ml_models.settings import EngineSettings
from ml_models.weights import check_load as check_weight_files

log = logging.getLogger(__name__)

MIN_SIDE = 16
CUDA_BUDGET_FACTOR = 4  # a GPU handles several times the CPU pixel budget within the same time limit
_CACHE_SIZE = 16
OUTPUT_FORMATS = ("auto", "jpeg", "jpg", "png")

# ------------------------------------------------------------------------------------------------ network cache

_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()
_configured: set[str] = set()


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _network(family_name: str, paths: Sequence[Path], device: torch.device, dtype: torch.dtype) -> Any:
    key = (family_name, tuple(_file_key(p) for p in paths), str(device), str(dtype))
    with _cache_lock:
        if key in _cache:
            _cache[key] = _cache.pop(key)  # most recently used goes last
            return _cache[key]
        started = time.perf_counter()
        loaded = dev.prepare(families.get(family_name).load(paths), device)
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        log.info("loaded %s from %s on %s in %.2f s", family_name, ", ".join(p.name for p in paths), device,
                 time.perf_counter() - started)
        return loaded


def clear_cache() -> None:
    """Forget every loaded network (tests; a worker that wants its memory back)."""
    with _cache_lock:
        _cache.clear()


# ------------------------------------------------------------------------------------------------ setup


def _device(settings: EngineSettings) -> torch.device:
    device = dev.select_device(settings.device)
    if str(device) not in _configured:
        dev.set_threads(settings.torch_threads)
        dev.configure(device)
        _configured.add(str(device))
    return device


def _check_cancel(cancelled: CancelledFn | None, stage: str) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled(message=f"cancelled {stage}")


def _max_side(spec: registry.ModelSpec, options: dict[str, Any], override: Any) -> int:
    if override is not None:
        try:
            side = int(override)
        except (TypeError, ValueError):
            raise BadRequest(message=f"option max_side={override!r} is not an integer", option="max_side") from None
        if side < MIN_SIDE:
            raise BadRequest(message=f"option max_side={side} is below {MIN_SIDE}", option="max_side")
        return side
    return spec.hd_max_side if options.get("size") == "hd" else spec.default_max_side


def _check_budget(spec: registry.ModelSpec, device: torch.device, height: int, width: int) -> None:
    budget = spec.cpu_pixel_budget * (CUDA_BUDGET_FACTOR if device.type == "cuda" else 1)
    if height * width > budget:
        raise TooLarge(message=f"{width}x{height} = {width * height:,} pixels is over the {spec.id} budget of "
                               f"{budget:,} pixels on {device.type}", pixels=width * height, budget=budget,
                       model=spec.id)


def _style_weights(request: JobRequest, spec: registry.ModelSpec) -> list[float]:
    if spec.kind != "arbitrary_style":
        if request.styles:
            raise BadRequest(message=f"model {spec.id} takes no style image", model=spec.id)
        return []
    if not request.styles:
        raise BadRequest(message=f"model {spec.id} needs a style image", model=spec.id)
    if len(request.styles) > spec.max_styles:
        raise BadRequest(message=f"model {spec.id} takes at most {spec.max_styles} style image(s), got "
                                 f"{len(request.styles)}", model=spec.id)
    weights = [float(w) for w in request.style_weights] or [1.0] * len(request.styles)
    if len(weights) != len(request.styles):
        raise BadRequest(message=f"{len(weights)} style weight(s) for {len(request.styles)} style image(s)")
    if min(weights) < 0 or sum(weights) <= 0 or not all(np.isfinite(weights)):
        raise BadRequest(message="style weights must be non-negative with a positive sum")
    total = sum(weights)
    return [w / total for w in weights]


@dataclass
class _Plan:
    """A request checked against the registry, with its weight files, family and precision chosen."""

    spec: registry.ModelSpec
    family: families.Family
    paths: list[Path]
    options: dict[str, Any]
    style_weights: list[float]
    max_side: int
    device: torch.device
    dtype: torch.dtype


def _plan(request: JobRequest, settings: EngineSettings) -> _Plan:
    spec = registry.get(request.model)
    if request.preset is not None and not spec.presets:
        raise BadRequest(message=f"model {spec.id} has no presets (got {request.preset!r})", preset=request.preset)
    if str(request.output_format).lower() not in OUTPUT_FORMATS:
        raise BadRequest(message=f"output format {request.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}",
                         format=request.output_format)
    raw_options = dict(request.options)
    override = raw_options.pop("max_side", None)  # engine-level: the CLI and tests pick an exact size
    options = spec.validate_options(raw_options)
    weights = _style_weights(request, spec)
    paths = registry.resolve_weights(spec.id, request.preset, settings.weights_dir)
    check_weight_files(paths, settings.weights_dir)  # pinned sha256 or the first use's, in the lock
    max_side = _max_side(spec, options, override)
    family = families.get(spec.family)
    device = _device(settings)
    return _Plan(spec, family, paths, options, weights, max_side, device,
                 family.precision(device, settings.precision))


def _prepare(plan: _Plan, style_rgbs: list[np.ndarray], settings: EngineSettings, progress: ProgressFn | None,
             cancelled: CancelledFn | None) -> tuple[families.Job, families.Stylise]:
    net = _network(plan.spec.family, plan.paths, plan.device, plan.dtype)
    job = families.Job(net, plan.device, plan.dtype, plan.options, style_rgbs, plan.style_weights,
                       tile=settings.tile, progress=progress, cancelled=cancelled)
    return job, plan.family.prepare(job)


def _fit(plan: _Plan, job: families.Job, rgb: np.ndarray, settings: EngineSettings,
         source_size: tuple[int, int] | None = None) -> np.ndarray:
    """The picture at the model's size, small enough that the result fits ``max_output_side``, within the budget.

    ``source_size`` is the picture's size before a reducing decode, for the "resized from" note."""
    fitted = images.fit(rgb, plan.max_side)
    source_w, source_h = source_size or (rgb.shape[1], rgb.shape[0])
    if max(fitted.shape[:2]) < max(source_w, source_h):
        job.notes.append(f"resized from {source_w}x{source_h} to {fitted.shape[1]}x{fitted.shape[0]}")
    scale = plan.family.output_scale(job.net)
    limit = max(1, settings.max_output_side // scale)
    if scale > 1 and max(fitted.shape[:2]) > limit:
        before = fitted.shape
        fitted = images.fit(fitted, limit)
        job.notes.append(f"input reduced from {before[1]}x{before[0]} to {fitted.shape[1]}x{fitted.shape[0]} so the "
                         f"x{scale} result stays within {settings.max_output_side} px")
    _check_budget(plan.spec, plan.device, *fitted.shape[:2])
    return fitted


def _style_pictures(request: JobRequest, plan: _Plan, settings: EngineSettings) -> list[np.ndarray]:
    """The style pictures, decoded toward the side the model reads them at (bounded memory for huge uploads)."""
    side = max(plan.max_side, families.STYLE_SIDE)
    return [images.decode(s, max_pixels=settings.max_input_pixels, max_side=side).rgb for s in request.styles]


# ------------------------------------------------------------------------------------------------ entry points


def run(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None) -> JobResult:
    """Run one job. Raises ``BadRequest``, ``WeightsMissing``, ``ImageError``, ``TooLarge`` or ``Cancelled``."""
    started = time.perf_counter()
    settings = settings or EngineSettings.from_env()
    plan = _plan(request, settings)
    decoded = images.decode(request.content, max_pixels=settings.max_input_pixels, max_side=plan.max_side)
    job, stylise = _prepare(plan, _style_pictures(request, plan, settings), settings, progress, cancelled)
    rgb = _fit(plan, job, decoded.rgb, settings, source_size=decoded.source_size)
    _check_cancel(cancelled, "before start")
    pixels = stylise(rgb)
    if not plan.spec.multi_step and progress is not None:
        progress(1, 1)
    _check_cancel(cancelled, "after the network")

    final = images.reattach_alpha(pixels, decoded.alpha)
    data, mime = images.encode(final, request.output_format, had_alpha=decoded.has_alpha)
    seconds = time.perf_counter() - started
    info = {
        "weights": "+".join(_relative(p, settings.weights_dir) for p in plan.paths),
        "device": str(plan.device),
        "precision": dev.precision_name(plan.dtype),
        "seconds": round(seconds, 3),
        "notes": job.notes,
    }
    if job.notes:
        info["note"] = "; ".join(job.notes)
    return JobResult(image=data, mime=mime, width=int(final.shape[1]), height=int(final.shape[0]),
                     seconds=seconds, info=info)


def stylise_frames(request: JobRequest, frames: Iterable[np.ndarray], settings: EngineSettings | None = None,
                   cancelled: CancelledFn | None = None) -> Iterator[np.ndarray]:
    """Stylise a sequence of (H, W, 3) uint8 frames with ``request``'s model, preset, styles and options, yielding
    one uint8 frame per frame in order. ``request.content`` is not read.

    The network is loaded and the style encoded once for the whole sequence, so every frame gets the same style code
    (no flicker from re-encoding) and pays only for its own pass. Each frame is sized as ``run`` sizes a photo and
    checked against the model's pixel budget. ``cancelled()`` is polled before every frame (and inside multi-step
    families). Validation errors are raised on the first ``next()``, before any frame is read.
    """
    settings = settings or EngineSettings.from_env()
    plan = _plan(request, settings)
    job, stylise = _prepare(plan, _style_pictures(request, plan, settings), settings, None, cancelled)
    for index, frame in enumerate(frames):
        array = np.asarray(frame)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise BadRequest(message=f"frame {index} is {array.dtype} {array.shape}, not (H, W, 3) uint8",
                             frame=index)
        _check_cancel(cancelled, f"before frame {index}")
        yield stylise(_fit(plan, job, array, settings))
        job.notes.clear()  # per-frame notes (resizing) would only grow over a long sequence


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.name


def preload(model_ids: Iterable[str], settings: EngineSettings | None = None) -> None:
    """Load networks before the first job. ``model`` loads every preset whose files are present; ``model:preset``
    just that one. Missing weights raise ``WeightsMissing`` (the caller decides whether that is fatal)."""
    settings = settings or EngineSettings.from_env()
    device = _device(settings)
    for item in model_ids:
        model_id, _, preset = str(item).strip().partition(":")
        spec = registry.get(model_id)
        if spec.presets and not preset:
            presets = [p.id for p in spec.presets
                       if registry.first_present(p.alternatives, settings.weights_dir) is not None]
            if not presets:  # none present: resolve the first to raise WeightsMissing with its command
                presets = [spec.presets[0].id]
        else:
            presets = [preset or None]
        dtype = families.get(spec.family).precision(device, settings.precision)
        for p in presets:
            paths = registry.resolve_weights(spec.id, p, settings.weights_dir)
            _network(spec.family, paths, device, dtype)
