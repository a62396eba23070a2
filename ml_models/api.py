"""What travels between the bot, the job layer and the workers.

Plain picklable dataclasses and no torch, so the bot process can build requests and read results without loading the
engine.
"""

from __future__ import annotations

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


@dataclass
class JobResult:
    image: bytes
    mime: str
    width: int
    height: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
