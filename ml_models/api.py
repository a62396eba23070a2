"""What travels between the bot, the job layer and the workers.

Plain dataclasses and no torch, so the bot process can build requests and read results without loading the
engine. ``to_json``/``from_json`` give the broker-safe form (Celery carries JSON only): every field but the image
bytes, which travel beside the JSON (see ``jobs.wire``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressFn = Callable[[int, int], None]
"""Called with (done, total) at step or tile boundaries."""

CancelledFn = Callable[[], bool]
"""Polled at step or tile boundaries; True stops the job with ``errors.Cancelled``."""


@dataclass
class Clip:
    """Marks ``JobRequest.content`` as a moving picture, with what the bot knew of it from Telegram.

    ``kind`` (animation | video | video_note) says what to send back; ``seconds``, ``width`` and ``height`` (0 when
    unknown, as for a GIF sent as a file) size the job for the queue and its time limit; ``max_seconds`` is the
    bot's ``VIDEO_MAX_SECONDS``, so the worker holds the clip to the limit the user was told.
    """

    kind: str = "animation"
    suffix: str = ".mp4"  # of the file as sent: the decoder is also chosen by name
    seconds: float = 0.0
    width: int = 0
    height: int = 0
    max_seconds: float = 15.0
    max_fps: float = 30.0

    @property
    def frames(self) -> int:
        """Frames the worker will stylise at most: the duration (or the limit when unknown) at the capped rate."""
        seconds = self.seconds if 0 < self.seconds <= self.max_seconds else self.max_seconds
        return max(1, round(seconds * self.max_fps))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "suffix": self.suffix, "seconds": float(self.seconds), "width": int(self.width),
                "height": int(self.height), "max_seconds": float(self.max_seconds), "max_fps": float(self.max_fps)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Clip | None:
        if not data:
            return None
        return cls(kind=str(data["kind"]), suffix=str(data.get("suffix", ".mp4")),
                   seconds=float(data.get("seconds", 0)), width=int(data.get("width", 0)),
                   height=int(data.get("height", 0)), max_seconds=float(data.get("max_seconds", 15.0)),
                   max_fps=float(data.get("max_fps", 30.0)))


@dataclass
class JobRequest:
    model: str
    content: bytes
    preset: str | None = None
    styles: list[bytes] = field(default_factory=list)
    style_weights: list[float] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    output_format: str = "auto"
    clip: Clip | None = None  # set: ``content`` is a clip (the engine runs the video path)

    def describe(self) -> str:
        """A short log line that never includes the image bytes."""
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        preset = f"/{self.preset}" if self.preset else ""
        clip = f" {self.clip.kind} {self.clip.frames} frames" if self.clip else ""
        return f"{self.model}{preset} styles={len(self.styles)} [{opts}] content={len(self.content)}B{clip}"

    def to_json(self) -> dict[str, Any]:
        """Everything but ``content`` and ``styles`` (the bytes), as JSON-able data."""
        return {"model": self.model, "preset": self.preset, "style_weights": [float(w) for w in self.style_weights],
                "options": dict(self.options), "output_format": self.output_format, "styles": len(self.styles),
                "clip": self.clip.to_json() if self.clip else None}

    @classmethod
    def from_json(cls, data: dict[str, Any], content: bytes, styles: list[bytes]) -> JobRequest:
        """The request ``to_json`` described, with its image bytes; refuses data of the wrong shape."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), str) or len(styles) != data.get("styles"):
            raise ValueError("not a job request")
        return cls(model=data["model"], content=content, preset=data.get("preset"), styles=list(styles),
                   style_weights=[float(w) for w in data.get("style_weights", [])],
                   options=dict(data.get("options") or {}), output_format=str(data.get("output_format", "auto")),
                   clip=Clip.from_json(data.get("clip")))


@dataclass
class JobResult:
    image: bytes
    mime: str
    width: int
    height: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything but ``image``; ``info`` values that JSON cannot hold become strings."""
        return {"mime": self.mime, "width": int(self.width), "height": int(self.height),
                "seconds": float(self.seconds), "info": json_safe(self.info)}

    @classmethod
    def from_json(cls, data: dict[str, Any], image: bytes) -> JobResult:
        if not isinstance(data, dict) or not isinstance(data.get("mime"), str):
            raise ValueError("not a job result")
        return cls(image=image, mime=data["mime"], width=int(data["width"]), height=int(data["height"]),
                   seconds=float(data["seconds"]), info=dict(data.get("info") or {}))


def json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot represent turned into its ``str``."""
    return json.loads(json.dumps(value, default=str))
