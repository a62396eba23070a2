"""The one entry point that workers, the CLI and benchmarks call: bytes in, stylised or upscaled bytes out.

``run`` does the same steps for every model: validate the request against the registry, find the weight files,
decode and size the photo, check the pixel budget, run the model family under the device/precision context, apply
strength and colour preservation, put the alpha channel back, encode. Networks are loaded on first use and cached for
the life of the process (a worker runs many jobs), keyed by the weight files (with their size and mtime, so a
replaced file is reloaded), the device and the precision.

Strength is applied where it degrades gracefully for each family: AdaIN interpolates in feature space as in its
paper; MicroAST saturates with feature-space interpolation (see ``microast.py``), so it and the single-style
feed-forward nets blend in pixel space; Gatys scales the style weight of its loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml_models import device as dev
from ml_models import gatys, images, registry
from ml_models.api import CancelledFn, JobRequest, JobResult, ProgressFn
from ml_models.errors import BadRequest, Cancelled, TooLarge
from ml_models.settings import EngineSettings
from ml_models.tiling import tiled_rows
from ml_models.weights import check_load as check_weight_files

log = logging.getLogger(__name__)

STYLE_SIDE = 512  # AdaIN and MicroAST were trained on style crops from 512 px images
MIN_SIDE = 16
SR_OVERLAP = 32  # input pixels shared by neighbouring super-resolution tiles
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


def _load_family(family: str, paths: Sequence[Path]) -> Any:
    """Build a family's network(s) on the CPU from its weight files (the loaders come from the networks modules)."""
    if family == "johnson":
        from ml_models.johnson import load_transformer_net
        return load_transformer_net(paths[0])
    if family == "cyclegan":
        from ml_models.cyclegan import load_cyclegan
        return load_cyclegan(paths[0])
    if family == "microast":
        from ml_models.microast import MicroAST
        return MicroAST.load(*paths)
    if family == "adain":
        from ml_models.adain import AdaIN
        return AdaIN.load(*paths)
    if family == "gatys":
        from ml_models.vgg import VGG19
        return VGG19.load(paths[0])
    if family == "superres":
        from ml_models.superres import load_sr_network
        return load_sr_network(paths[0])
    raise BadRequest(message=f"no engine for model family {family!r}", family=family)


def _network(family: str, paths: Sequence[Path], device: torch.device, dtype: torch.dtype,
             channels_last: bool = False) -> Any:
    key = (family, tuple(_file_key(p) for p in paths), str(device), str(dtype), channels_last)
    with _cache_lock:
        if key in _cache:
            _cache[key] = _cache.pop(key)  # most recently used goes last
            return _cache[key]
        started = time.perf_counter()
        loaded = _load_family(family, paths)
        if isinstance(loaded, tuple):  # superres: (module, scale)
            loaded = (dev.prepare(loaded[0], device, channels_last), loaded[1])
        else:
            loaded = dev.prepare(loaded, device, channels_last)
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        log.info("loaded %s from %s on %s in %.2f s", family, ", ".join(p.name for p in paths), device,
                 time.perf_counter() - started)
        return loaded


def clear_cache() -> None:
    """Forget every loaded network (tests; a worker that wants its memory back)."""
    with _cache_lock:
        _cache.clear()


# ------------------------------------------------------------------------------------------------ setup


@dataclass
class _Context:
    settings: EngineSettings
    device: torch.device
    dtype: torch.dtype
    channels_last: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> str:
        return dev.precision_name(self.dtype)


def _context(settings: EngineSettings) -> _Context:
    device = dev.select_device(settings.device)
    if str(device) not in _configured:
        dev.set_threads(settings.torch_threads)
        dev.configure(device)
        _configured.add(str(device))
    return _Context(settings, device, dev.precision_for(device, settings.precision))


def model_precision(spec: registry.ModelSpec, device: torch.device, setting: str = "auto") -> torch.dtype:
    """The dtype ``spec`` runs in: the device's default, except models marked ``cpu_fp32`` on the CPU (unless a
    precision was asked for explicitly, as benchmarks do)."""
    dtype = dev.precision_for(device, setting)
    if spec.cpu_fp32 and device.type == "cpu" and (setting or "auto").strip().lower() == "auto":
        return torch.float32
    return dtype


def _for_model(ctx: _Context, spec: registry.ModelSpec) -> None:
    """The model's own precision and memory layout (a preloaded network must match what its jobs look up)."""
    ctx.dtype = model_precision(spec, ctx.device, ctx.settings.precision)
    ctx.channels_last = dev.channels_last_for(ctx.device, ctx.dtype, spec.cpu_channels_last)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1] on the CPU."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _to_array(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) float32 on the 0..255 scale."""
    return t.detach().float().clamp(0.0, 1.0)[0].permute(1, 2, 0).mul(255.0).cpu().numpy()


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


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


def _check_budget(spec: registry.ModelSpec, ctx: _Context, height: int, width: int) -> None:
    budget = spec.cpu_pixel_budget * (CUDA_BUDGET_FACTOR if ctx.device.type == "cuda" else 1)
    if height * width > budget:
        raise TooLarge(message=f"{width}x{height} = {width * height:,} pixels is over the {spec.id} budget of "
                               f"{budget:,} pixels on {ctx.device.type}", pixels=width * height, budget=budget,
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


# ------------------------------------------------------------------------------------------------ families


def _feed_forward(family: str, net: Any, content: torch.Tensor, styles: list[torch.Tensor],
                  weights: list[float], options: dict[str, Any], ctx: _Context) -> torch.Tensor:
    """One pass of a feed-forward family; input and output RGB in [0, 1], (1, 3, H, W), same size."""
    x = dev.to_device(content, ctx.device, ctx.channels_last)
    with dev.inference_context(ctx.device, ctx.dtype):
        if family == "johnson":
            return net.stylize(x * 255.0).float().div_(255.0)
        if family == "cyclegan":
            return net.stylize(x * 2.0 - 1.0).float().add_(1.0).div_(2.0)
        style_tensors = [dev.to_device(s, ctx.device, ctx.channels_last) for s in styles]
        if family == "adain":
            return net.stylize(x, style_tensors, weights, alpha=float(options.get("strength", 1.0)))
        if family == "microast":
            from ml_models.microast import blend_styles
            codes = [net.encode_style(s) for s in style_tensors]
            code = codes[0] if len(codes) == 1 else blend_styles(codes, weights)
            return net.stylize_with(x, *code)
    raise BadRequest(message=f"no feed-forward engine for {family!r}")


def gatys_style_weight(base: float, strength: float) -> float:
    """Strength to style weight. The result changes with the *order of magnitude* of the weight, so a linear map
    would make the lower half of the slider look the same; the square spreads it (0.5 -> a quarter of the weight)."""
    return float(base) * float(strength) ** 2


def _run_gatys(net: Any, content: torch.Tensor, styles: list[torch.Tensor], weights: list[float],
               options: dict[str, Any], ctx: _Context, progress: ProgressFn | None,
               cancelled: CancelledFn | None) -> torch.Tensor:
    strength = float(options.get("strength", 1.0))
    style_weight = gatys_style_weight(options.get("style_weight", 1e6), strength)
    if style_weight <= 0:
        ctx.notes.append("strength 0: the content photo is returned unchanged")
        if progress is not None:
            progress(1, 1)
        return content
    config = gatys.GatysConfig.from_quality(
        options.get("quality", "standard"), int(options.get("steps", 0) or 0),
        content_weight=float(options.get("content_weight", 1.0)), style_weight=style_weight,
        tv_weight=float(options.get("tv_weight", 1e-4)), optimizer=options.get("optimizer", "lbfgs"),
        preserve_colors=bool(options.get("preserve_colors", False)))
    dtype = ctx.dtype
    if dtype == torch.float16:  # fp16 gradients underflow in the Gram backward; bf16 has fp32's range
        dtype = torch.bfloat16 if ctx.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    ctx.dtype = dtype  # reported as the job's precision
    result = gatys.stylize(net, content, styles, weights, config, ctx.device, dtype, progress, cancelled)
    ctx.notes.extend(result.notes)
    ctx.notes.append(f"gatys: {result.steps} {config.optimizer} steps over scales "
                     f"{', '.join(f'{s:g}' for s in config.scales)}, final loss {result.final_loss:.4g}")
    return result.image


def _run_superres(net: Any, scale: int, content: torch.Tensor, ctx: _Context, progress: ProgressFn | None,
                  cancelled: CancelledFn | None) -> np.ndarray:
    """The upscaled image as (H, W, 3) uint8, written strip by strip so the float32 output never exists whole."""
    tile = max(32, int(ctx.settings.tile))
    overlap = min(SR_OVERLAP, tile // 4)

    def forward(part: torch.Tensor) -> torch.Tensor:
        with dev.inference_context(ctx.device, ctx.dtype):
            return net(dev.to_device(part, ctx.device, ctx.channels_last)).float().clamp_(0.0, 1.0)

    height, width = content.shape[-2:]
    canvas = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
    # Tiles bound the network's memory and give progress/cancel points; the overlap is cross-faded so seams do not
    # show. Each finished strip goes straight to uint8 (a quarter of float32's size).
    for top, rows in tiled_rows(forward, content.to(ctx.device), scale, tile=tile, overlap=overlap,
                                progress=progress, cancelled=cancelled):
        canvas[top:top + rows.shape[-2]] = _to_uint8_hwc(rows)
    return canvas


def _to_uint8_hwc(t: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) in [0, 1] -> (h, w, 3) uint8, rounded like ``_to_uint8``."""
    return t[0].clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


# ------------------------------------------------------------------------------------------------ entry points


def run(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None) -> JobResult:
    """Run one job. Raises ``BadRequest``, ``WeightsMissing``, ``ImageError``, ``TooLarge`` or ``Cancelled``."""
    started = time.perf_counter()
    settings = settings or EngineSettings.from_env()
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

    decoded = images.decode(request.content, max_pixels=settings.max_input_pixels, max_side=max_side)
    style_rgbs = [images.decode(s, max_pixels=settings.max_input_pixels, max_side=max(max_side, STYLE_SIDE)).rgb
                  for s in request.styles]
    ctx = _context(settings)
    _for_model(ctx, spec)
    family = spec.family

    rgb = images.fit(decoded.rgb, max_side)
    source_w, source_h = decoded.source_size or (decoded.width, decoded.height)
    if max(rgb.shape[:2]) < max(source_w, source_h):
        ctx.notes.append(f"resized from {source_w}x{source_h} to {rgb.shape[1]}x{rgb.shape[0]}")
    if family == "superres":
        net, scale = _network(family, paths, ctx.device, ctx.dtype, ctx.channels_last)
        limit = max(1, settings.max_output_side // scale)
        if max(rgb.shape[:2]) > limit:
            before = rgb.shape
            rgb = images.fit(rgb, limit)
            ctx.notes.append(f"input reduced from {before[1]}x{before[0]} to {rgb.shape[1]}x{rgb.shape[0]} so the "
                             f"x{scale} result stays within {settings.max_output_side} px")
    _check_budget(spec, ctx, *rgb.shape[:2])
    _check_cancel(cancelled, "before start")

    content = _to_tensor(rgb)
    if family == "superres":
        pixels = _run_superres(net, scale, content, ctx, progress, cancelled)
    else:
        net = _network(family, paths, ctx.device, ctx.dtype, ctx.channels_last)
        style_side = max(rgb.shape[:2]) if family == "gatys" else STYLE_SIDE
        styles = [_to_tensor(images.fit(s, style_side)) for s in style_rgbs]
        if family == "gatys":
            out = _run_gatys(net, content, styles, weights, options, ctx, progress, cancelled)
        else:
            out = _feed_forward(family, net, content, styles, weights, options, ctx)
            if progress is not None:
                progress(1, 1)
        pixels = _finish_style(family, out, rgb, options)
    _check_cancel(cancelled, "after the network")

    final = images.reattach_alpha(pixels, decoded.alpha)
    data, mime = images.encode(final, request.output_format, had_alpha=decoded.has_alpha)
    seconds = time.perf_counter() - started
    info = {
        "weights": "+".join(_relative(p, settings.weights_dir) for p in paths),
        "device": str(ctx.device),
        "precision": ctx.precision,
        "seconds": round(seconds, 3),
        "notes": ctx.notes,
    }
    if ctx.notes:
        info["note"] = "; ".join(ctx.notes)
    return JobResult(image=data, mime=mime, width=int(final.shape[1]), height=int(final.shape[0]),
                     seconds=seconds, info=info)


def _finish_style(family: str, out: torch.Tensor, rgb: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    """Colour preservation and pixel-space strength (see MICROAST.md for why not in feature space), to uint8."""
    result = _to_array(out)
    content_255 = rgb.astype(np.float32)
    if options.get("preserve_colors") and family != "gatys":
        result = images.keep_content_colors(result, content_255)
    if family in ("microast", "johnson", "cyclegan"):
        result = images.blend(result, content_255, float(options.get("strength", 1.0)))
    return _to_uint8(result)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.name


def preload(model_ids: Iterable[str], settings: EngineSettings | None = None) -> None:
    """Load networks before the first job. ``model`` loads every preset whose files are present; ``model:preset``
    just that one. Missing weights raise ``WeightsMissing`` (the caller decides whether that is fatal)."""
    settings = settings or EngineSettings.from_env()
    ctx = _context(settings)
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
        for p in presets:
            paths = registry.resolve_weights(spec.id, p, settings.weights_dir)
            _for_model(ctx, spec)
            _network(spec.family, paths, ctx.device, ctx.dtype, ctx.channels_last)
