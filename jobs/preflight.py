"""Cheap checks in the bot process, before a job takes a place in the queue.

Pillow reads only the image header here (no decoding), so a decompression bomb or an input above the model's pixel
budget is refused at once instead of after a wait in the queue. The engine checks the same things again: this is an
early answer, not the only guard. Bytes that Pillow cannot identify are left to the engine, whose errors are precise.
"""

from __future__ import annotations

import contextlib
import io
import warnings

from ml_models import registry
from ml_models.api import JobRequest
from ml_models.errors import ImageError, TooLarge
from ml_models.settings import EngineSettings
from ml_models.video.api import VIDEO_MODELS
from ml_models.video.errors import VideoError

CLIP_MAX_BYTES = 20 * 1000 * 1000  # what a bot may download from Telegram
DURATION_SLACK = 0.5  # seconds over VIDEO_MAX_SECONDS still accepted (containers round durations)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, or None when Pillow is missing or does not recognise the bytes.

    Pillow's own decompression-bomb guard fires inside ``Image.open`` for absurd sizes; that is reported as
    ``too_many_pixels`` like any input over ``max_input_pixels``.
    """
    if not data:
        return None
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional for the job layer
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", f"the image is far too large: {exc}") from None
    except Exception:  # any reader error: the engine will report it properly
        return None


def effective_pixels(spec: registry.ModelSpec, size: tuple[int, int], options: dict) -> int:
    """Pixels the engine will process: the input shrunk so its longer side fits the model's max side."""
    width, height = size
    max_side = spec.hd_max_side if options.get("size") == "hd" else spec.default_max_side
    with contextlib.suppress(TypeError, ValueError):  # the engine's exact-size option; it refuses bad values itself
        max_side = int(options["max_side"]) if options.get("max_side") is not None else max_side
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)) * max(1, round(height * scale))


def check(request: JobRequest, engine: EngineSettings, on_gpu: bool) -> int | None:
    """Raise ``ImageError``/``TooLarge`` for inputs sure to be refused; return the effective pixel count if known.

    Unknown models are left to the engine (it raises ``BadRequest``), so that a test runner may use any model id.
    A clip counts as the pixels of all its frames (``clip_pixels``).
    """
    if request.clip is not None:
        return clip_pixels(request)
    size = image_size(request.content)
    if size is None:
        return None
    width, height = size
    if width * height > engine.max_input_pixels:
        raise ImageError("too_many_pixels", f"the image has {width}x{height} pixels, more than the "
                         f"{engine.max_input_pixels} allowed", width=width, height=height,
                         limit=engine.max_input_pixels)
    spec = registry.MODELS.get(request.model)
    if spec is None:
        return width * height
    pixels = effective_pixels(spec, size, request.options)
    if not on_gpu and pixels > spec.cpu_pixel_budget:
        raise TooLarge(message=f"{request.model} handles at most {spec.cpu_pixel_budget} pixels on CPU, this input "
                       f"needs {pixels}", pixels=pixels, limit=spec.cpu_pixel_budget, model=request.model)
    return pixels


def clip_pixels(request: JobRequest) -> int:
    """Refuse a clip sure to fail (a model without a video path, too long, too large) and return the pixels its
    frames add up to: each frame counts as the fraction of a picture its pixels are, for the ETA and time limit."""
    clip = request.clip
    assert clip is not None
    spec = registry.MODELS.get(request.model)
    if spec is not None and spec.id not in VIDEO_MODELS:
        raise VideoError("video_model_unsupported", f"{spec.id} has no video path", model=spec.id)
    if len(request.content) > CLIP_MAX_BYTES:
        raise VideoError("video_too_large", f"the clip is {len(request.content) / 1e6:.1f} MB",
                         bytes=len(request.content), max_bytes=CLIP_MAX_BYTES)
    if clip.seconds > clip.max_seconds + DURATION_SLACK:
        raise VideoError("video_too_long", f"the clip lasts {clip.seconds:g} s, over {clip.max_seconds:g} s",
                         seconds=clip.seconds, max_seconds=clip.max_seconds)
    if spec is None:
        side = 512
        return clip.frames * side * side
    if clip.width > 0 and clip.height > 0:
        size = (min(clip.width, clip.height),) * 2 if clip.kind == "video_note" else (clip.width, clip.height)
        frame = effective_pixels(spec, size, request.options)
    else:  # unknown size (a GIF sent as a file): the model's largest frame
        side = spec.hd_max_side if request.options.get("size") == "hd" else spec.default_max_side
        frame = side * side
    return clip.frames * frame


def time_limit(request: JobRequest, scale: float = 1.0, clip_cap: float | None = None) -> float:
    """Seconds a job may run: the model's limit for a picture, and for a clip that limit grown by its frames, each
    frame weighing the share of a full-size picture its pixels are, at most ``clip_cap`` (Celery: a task must end
    within the broker's visibility timeout or it would be delivered twice)."""
    spec = registry.MODELS.get(request.model)
    base = (spec.timeout_s if spec else 600.0) * scale
    if request.clip is None:
        return base
    try:
        pixels = clip_pixels(request)
    except VideoError:
        pixels = request.clip.frames * 512 * 512
    reference = (spec.default_max_side ** 2) if spec else 512 * 512
    limit = base * (1.0 + pixels / reference)
    return min(limit, max(base, clip_cap)) if clip_cap is not None else limit
