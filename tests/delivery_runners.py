"""A stand-in job runner that paints a real PNG at once (no torch), for tests about delivering results.

Importable from spawned workers (``JOB_RUNNER=tests.delivery_runners:painted``).
"""

from __future__ import annotations

import io

from PIL import Image

from ml_models.api import CancelledFn, JobRequest, JobResult, ProgressFn
from ml_models.settings import EngineSettings


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 90, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def painted(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
            cancelled: CancelledFn | None = None) -> JobResult:
    """A 96x64 orange PNG, whatever was asked."""
    return JobResult(image=png(96, 64), mime="image/png", width=96, height=64, seconds=0.01, info={})
