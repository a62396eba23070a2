"""What a clip job carries in and out, and the limits it is held to; no heavy imports (the bot may build these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from environment import Env

KINDS = ("animation", "video", "video_note")
"""animation: H.264 MP4 without sound (Telegram's GIFs); video: the audio track is kept; video_note: a square."""

CLIP_SUFFIXES = (".mp4", ".m4v", ".webm", ".gif")
"""Outputs the CLI writes as clips."""

VIDEO_MODELS = ("johnson", "cyclegan", "microast", "adain")
"""Feed-forward models only: one pass per frame."""

TEMPORAL_WEIGHTS = {"johnson": 0.6, "cyclegan": 0.6, "microast": 0.8, "adain": 0.8}
"""Weight of the previous output in the temporal filter, per model: the largest that keeps each frame's correlation
with its own stylisation >= 0.9 on the synthetic clips (Johnson's strokes jump more from frame to frame, so a larger
weight would drift from the per-frame look)."""


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float = 15.0  # VIDEO_MAX_SECONDS
    max_bytes: int = 20 * 1000 * 1000  # what a bot may download from Telegram
    max_fps: float = 30.0  # faster clips are resampled to this rate
    note_side: int = 640  # Telegram's video notes are square, at most 640 px
    max_side: int | None = None  # None: the model's standard or HD side, as for photos

    @property
    def max_frames(self) -> int:
        return int(self.max_seconds * self.max_fps + 0.5)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VideoLimits:
        """Through the one environment reader, so a malformed value is named like every other variable's."""
        env = Env.of(env)
        side = env.integer("VIDEO_MAX_SIDE", 0, 0, 16384)
        return cls(max_seconds=env.number("VIDEO_MAX_SECONDS", 15.0, 1.0, 600.0),
                   max_bytes=env.integer("VIDEO_MAX_BYTES", 20 * 1000 * 1000, 1),
                   max_side=side or None)


@dataclass
class VideoRequest:
    model: str
    preset: str | None = None
    styles: list[bytes] = field(default_factory=list)
    style_weights: list[float] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    kind: str = "animation"  # one of KINDS
    temporal: float | None = None  # previous output's weight where the flow is reliable; 0: per frame; None: model's


@dataclass
class VideoResult:
    path: str
    mime: str
    width: int
    height: int
    fps: float
    frames: int
    seconds: float  # wall time of the job
    duration: float  # of the clip written
    has_audio: bool
    info: dict[str, Any] = field(default_factory=dict)
