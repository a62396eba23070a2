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
class JobRequest:
    model: str
    content: bytes
    preset: str | None = None
    styles: list[bytes] = field(default_factory=list)
    style_weights: list[float] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    output_format: str = "auto"

    def describe(self) -> str:
        """A short log line that never includes the image bytes."""
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        preset = f"/{self.preset}" if self.preset else ""
        return f"{self.model}{preset} styles={len(self.styles)} [{opts}] content={len(self.content)}B"

    def to_json(self) -> dict[str, Any]:
        """Everything but ``content`` and ``styles`` (the bytes), as JSON-able data."""
        return {"model": self.model, "preset": self.preset, "style_weights": [float(w) for w in self.style_weights],
                "options": dict(self.options), "output_format": self.output_format, "styles": len(self.styles)}

    @classmethod
    def from_json(cls, data: dict[str, Any], content: bytes, styles: list[bytes]) -> JobRequest:
        """The request ``to_json`` described, with its image bytes; refuses data of the wrong shape."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), str) or len(styles) != data.get("styles"):
            raise ValueError("not a job request")
        return cls(model=data["model"], content=content, preset=data.get("preset"), styles=list(styles),
                   style_weights=[float(w) for w in data.get("style_weights", [])],
                   options=dict(data.get("options") or {}), output_format=str(data.get("output_format", "auto")))


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
