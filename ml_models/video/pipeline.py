"""One clip, end to end and as a stream: probe, decode, size, stylise, steady, encode.

Frames flow through generators: the decoder yields one frame, the engine (``engine.stylise_frames``: the network
loaded and the style encoded once) takes one, the temporal filter keeps the previous one, the encoder what x264 holds
in its look-ahead; so memory does not grow with the clip's length. Limits are checked before decoding (file size,
declared duration) and while decoding (frames), and the output file appears only when complete.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ml_models import registry
from ml_models.api import CancelledFn, JobRequest, ProgressFn
from ml_models.engine import stylise_frames
from ml_models.errors import BadRequest, Cancelled
from ml_models.settings import EngineSettings
from ml_models.video import container, encode
from ml_models.video.api import KINDS, TEMPORAL_WEIGHTS, VIDEO_MODELS, VideoLimits, VideoRequest, VideoResult
from ml_models.video.errors import VideoError
from ml_models.video.temporal import TemporalFilter

DURATION_SLACK = 0.5  # seconds over the limit still accepted (containers round durations)


def check_model(model: str) -> registry.ModelSpec:
    spec = registry.get(model)
    if spec.id not in VIDEO_MODELS:
        raise VideoError("video_model_unsupported", f"{spec.id} has no video path: use one of "
                                                    f"{', '.join(VIDEO_MODELS)}", model=spec.id)
    return spec


def output_size(width: int, height: int, kind: str, max_side: int, note_side: int) -> tuple[int, int, bool]:
    """(width, height, square crop) of the output: aspect kept (or a centred square for video notes), long side at
    most ``max_side``, both sides even (H.264 in 4:2:0 needs them so)."""
    if kind == "video_note":
        side = min(width, height, note_side, max_side)
        side -= side % 2
        return max(2, side), max(2, side), True
    scale = min(1.0, max_side / max(width, height))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    return w - w % 2, h - h % 2, False


def _sized(rgb: np.ndarray, width: int, height: int, square: bool) -> np.ndarray:
    if square:
        h, w = rgb.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        rgb = rgb[top:top + side, left:left + side]
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return np.ascontiguousarray(rgb)
    shrinking = width < rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def run_clip(request: VideoRequest, src: Path, dst: Path, settings: EngineSettings | None = None,
             progress: ProgressFn | None = None, cancelled: CancelledFn | None = None,
             limits: VideoLimits | None = None) -> VideoResult:
    """Stylise the clip at ``src`` into ``dst`` (.mp4, .webm or .gif). Raises ``VideoError``, ``Cancelled`` and the
    engine's ``BadRequest``/``WeightsMissing``; on any failure ``dst`` is not written and no partial file remains."""
    started = time.perf_counter()
    settings = settings or EngineSettings.from_env()
    limits = limits or VideoLimits.from_env()
    src, dst = Path(src), Path(dst)
    if request.kind not in KINDS:
        raise VideoError("video_unsupported", f"kind {request.kind!r} is not one of {', '.join(KINDS)}")
    spec = check_model(request.model)
    encode.output_format(dst)
    try:
        size = src.stat().st_size
    except OSError as exc:
        raise VideoError("video_corrupt", f"cannot read {src}: {exc.strerror or exc}") from None
    if size > limits.max_bytes:
        raise VideoError("video_too_large", f"{src.name} is {size / 1e6:.1f} MB, over {limits.max_bytes / 1e6:g} MB",
                         bytes=size, max_bytes=limits.max_bytes)
    info = container.probe(src, limits)
    if info.duration > limits.max_seconds + DURATION_SLACK:
        raise VideoError("video_too_long", f"{src.name} lasts {info.duration:.1f} s, over {limits.max_seconds:g} s",
                         seconds=round(info.duration, 2), max_seconds=limits.max_seconds)

    options = dict(request.options)
    override = options.pop("max_side", None)
    side = int(override or limits.max_side or (spec.hd_max_side if options.get("size") == "hd"
                                               else spec.default_max_side))
    width, height, square = output_size(info.width, info.height, request.kind, side, limits.note_side)
    total = info.frames
    job = JobRequest(model=spec.id, content=b"", preset=request.preset, styles=list(request.styles),
                     style_weights=list(request.style_weights), options={**options, "max_side": side})
    keep_audio = request.kind == "video" and info.audio_codec is not None
    weight = TEMPORAL_WEIGHTS[spec.id] if request.temporal is None else float(request.temporal)
    if not 0.0 <= weight < 1.0:
        raise BadRequest(message=f"temporal weight {weight} is not in [0, 1)", option="temporal")
    steady = TemporalFilter(weight)
    pending: deque[np.ndarray] = deque()  # inputs whose stylised frames the engine has not yielded yet

    def inputs() -> Iterator[np.ndarray]:
        for rgb in container.frames(src, info, limits):
            if cancelled is not None and cancelled():
                raise Cancelled(message="cancelled between frames")
            frame = _sized(rgb, width, height, square)
            pending.append(frame)
            yield frame

    writer = encode.ClipWriter(dst, width, height, info.fps, audio_from=src if keep_audio else None)
    with writer:
        for stylised in stylise_frames(job, inputs(), settings, cancelled):
            writer.write(steady.step(pending.popleft(), stylised).output)
            if progress is not None:
                total = max(total, writer.frames)
                progress(writer.frames, total)
        writer.close()
    if progress is not None and total != writer.frames:
        progress(writer.frames, writer.frames)  # the estimate from the container was off: end at done == total
    notes = [] if writer.has_audio or not keep_audio else [f"audio ({info.audio_codec}) dropped: the "
                                                            f"{writer.format} container cannot hold it"]
    return VideoResult(path=str(dst), mime=encode.MIMES[writer.format], width=width, height=height, fps=info.fps,
                       frames=writer.frames, seconds=time.perf_counter() - started,
                       duration=writer.frames / info.fps, has_audio=writer.has_audio,
                       info={"source": f"{info.width}x{info.height} {info.codec} {info.source_fps:.3g} fps",
                             "temporal": weight, "notes": notes})
