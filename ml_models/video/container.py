"""Reading clips: a probe of the container (size, rate, duration, audio) and a streaming decoder of its frames.

PyAV (FFmpeg) reads MP4, MOV, WebM, GIF and the rest, turned upright by the display matrix; animated WebP, which
FFmpeg's WebP decoder refuses, is read frame by frame with Pillow. Frames come out at a constant rate of at most
``VideoLimits.max_fps``: faster or variable-rate sources (GIF delays) are resampled by time, each output slot showing
the latest source frame. Only one decoded frame is held at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ml_models.video.api import VideoLimits
from ml_models.video.errors import VideoError

DEFAULT_FPS = 10.0  # a GIF or WebP without usable delays


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    source_fps: float
    fps: float  # the rate frames come out at: the source's, capped
    duration: float  # seconds; 0 when the container does not say
    codec: str
    audio_codec: str | None
    reader: str  # "av" or "pillow"
    turns: int = 0  # quarter turns counter-clockwise that display needs (phones store portrait clips sideways)

    @property
    def frames(self) -> int:
        """Frames ``frames()`` will yield, estimated from the duration (at least 1)."""
        return max(1, round(self.duration * self.fps)) if self.duration > 0 else 1


def _is_animated_webp(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def probe(path: Path, limits: VideoLimits) -> ClipInfo:
    """Open ``path`` and describe its first video stream; raises ``VideoError`` (corrupt, no video, unsupported)."""
    if _is_animated_webp(path):
        return _probe_webp(path, limits)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no_video_stream", f"{path.name} has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None or not ctx.name:
                raise VideoError("video_unsupported", f"{path.name}: no decoder for its video codec")
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            source_fps = float(rate) if rate and 0 < float(rate) < 1000 else DEFAULT_FPS
            duration = 0.0  # of the picture: the container's may include a longer sound track
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif stream.frames:
                duration = stream.frames / source_fps
            elif container.duration:
                duration = container.duration / av.time_base
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            first = next(container.decode(stream), None)  # a clip that cannot give one frame fails here, early
            if first is None or not first.width or not first.height:
                raise VideoError("video_corrupt", f"{path.name}: no decodable picture")
            turns = round((first.rotation or 0) / 90) % 4
            if ctx.name == "gif":  # per-frame delays: the rate that shows every frame, not the average
                delays = [float(p.duration * p.time_base) for p in container.demux(stream) if p.duration]
                if first.duration:
                    delays.append(float(first.duration * first.time_base))
                if delays and min(delays) > 0:
                    source_fps = 1.0 / min(delays)
            width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
            return ClipInfo(width, height, source_fps, min(source_fps, limits.max_fps), duration, ctx.name, audio,
                            "av", turns)
    except VideoError:
        raise
    except (av.error.DecoderNotFoundError, av.error.PatchWelcomeError) as exc:
        raise VideoError("video_unsupported", f"{path.name}: {exc}") from None
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError("video_corrupt", f"{path.name} is not a video we can read: {exc}") from None


def _probe_webp(path: Path, limits: VideoLimits) -> ClipInfo:
    try:
        with Image.open(path) as im:
            delays = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()  # Pillow sets a WebP frame's duration when it decodes it
                delays.append(int(im.info.get("duration") or 0) / 1000 or 1 / DEFAULT_FPS)
            width, height = im.size
    except (OSError, ValueError, EOFError) as exc:
        raise VideoError("video_corrupt", f"{path.name} is not an animation we can read: {exc}") from None
    source_fps = 1.0 / min(delays)  # the rate that shows every frame
    return ClipInfo(width, height, source_fps, min(source_fps, limits.max_fps), sum(delays), "webp", None, "pillow")


def _timed_frames(path: Path, info: ClipInfo) -> Iterator[tuple[float, float, np.ndarray]]:
    """(start, duration in seconds, RGB frame) in decoding order, times starting at 0."""
    if info.reader == "pillow":
        with Image.open(path) as im:
            at = 0.0
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()
                lasts = (int(im.info.get("duration") or 0) / 1000) or 1 / info.source_fps
                yield at, lasts, np.asarray(im.convert("RGB"))
                at += lasts
        return
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start = None
            for index, frame in enumerate(container.decode(stream)):
                at = frame.time if frame.time is not None else index / info.source_fps
                start = at if start is None else start
                lasts = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
                rgb = frame.to_ndarray(format="rgb24")
                if info.turns:
                    rgb = np.ascontiguousarray(np.rot90(rgb, info.turns))
                yield at - start, lasts or 1 / info.source_fps, rgb
    except (av.error.DecoderNotFoundError, av.error.PatchWelcomeError) as exc:
        raise VideoError("video_unsupported", f"{path.name}: {exc}") from None
    except av.error.FFmpegError as exc:
        raise VideoError("video_corrupt", f"{path.name} is damaged: {exc}") from None


def frames(path: Path, info: ClipInfo, limits: VideoLimits) -> Iterator[np.ndarray]:
    """The clip's frames at ``info.fps``, (H, W, 3) uint8; ``video_too_long`` past ``limits.max_seconds``."""
    step = 1.0 / info.fps
    most = math.ceil(limits.max_seconds * info.fps + 1e-6) + 1  # one frame of slack for rounded durations
    slot, held, held_end = 0, None, 0.0

    def emit_check() -> None:
        if slot >= most:
            raise VideoError("video_too_long", f"{path.name} is longer than {limits.max_seconds:g} s",
                             max_seconds=limits.max_seconds)

    for at, lasts, rgb in _timed_frames(path, info):
        while held is not None and slot * step < at - 0.25 * step:  # held is the latest frame for this slot
            emit_check()
            yield held
            slot += 1
        held, held_end = rgb, at + lasts
    if held is None:
        raise VideoError("video_corrupt", f"{path.name} has no decodable frame")
    while slot == 0 or slot * step < held_end - 0.5 * step:  # the last frame, for its own duration
        emit_check()
        yield held
        slot += 1
