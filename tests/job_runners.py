"""Stand-in runners for the job layer's tests, with the engine's signature, importable from spawned workers.

``sleepy`` works in steps like a multi-step model: it reports progress and polls ``cancelled()`` at each step
boundary, and ``request.options`` tells it how to misbehave:

- ``steps`` (int, default 5) and ``step_s`` (seconds per step, default 0.05);
- ``mode``: ``ok`` | ``hang`` (sleeps forever without polling) | ``crash`` (the process kills itself with SIGKILL
  at ``crash_at`` step) | ``error`` (raises ``BadRequest``) | ``bug`` (raises ``ZeroDivisionError``) |
  ``deaf`` (never polls ``cancelled``).

The result echoes facts about the worker (pid, preloaded models, thread cap, device, allocator) for the tests to
check.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

from ml_models import allocator
from ml_models.api import CancelledFn, JobRequest, JobResult, ProgressFn
from ml_models.errors import BadRequest, Cancelled
from ml_models.settings import EngineSettings

PRELOADED: list[str] = []


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def preload(model_ids: Iterable[str], settings: EngineSettings | None = None) -> None:
    PRELOADED.extend(model_ids)


def sleepy(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
           cancelled: CancelledFn | None = None) -> JobResult:
    started = time.perf_counter()
    opts = request.options
    steps = int(opts.get("steps", 5))
    step_s = float(opts.get("step_s", 0.05))
    mode = opts.get("mode", "ok")
    rss_start = _rss_mb()
    if int(opts.get("hold_mb", 0)):  # touch and free a block, as a model's activations are
        block = bytearray(int(opts["hold_mb"]) * 2**20)
        block[:: 4096] = b"\1" * len(block[:: 4096])
        del block
    if mode == "error":
        raise BadRequest(message="sleepy was asked to refuse", option="mode")
    if mode == "bug":
        return 1 // 0  # type: ignore[return-value]
    for step in range(steps):
        if mode == "crash" and step == int(opts.get("crash_at", 1)):
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "hang":
            while True:
                time.sleep(1)
        if mode != "deaf" and cancelled is not None and cancelled():
            raise Cancelled(message="cancelled at a step boundary", step=step)
        time.sleep(step_s)
        if progress is not None:
            progress(step + 1, steps)
    info = {
        "pid": os.getpid(),
        "preloaded": list(PRELOADED),
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "device": settings.device if settings else None,
        "steps": steps,
        "allocator_tuned": allocator.started_tuned(),
        "rss_start_mb": rss_start,
        "rss_end_mb": _rss_mb(),
    }
    return JobResult(image=b"sleepy:" + request.content[:8], mime="image/png", width=1, height=1,
                     seconds=time.perf_counter() - started, info=info)


def painter(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
            cancelled: CancelledFn | None = None) -> JobResult:
    """A real picture back (the content, re-encoded as PNG) after ``PAINTER_STEPS`` x ``PAINTER_STEP_S`` seconds
    (environment, default 2 x 0.1), so the bot's delivery runs end to end without torch or weights."""
    import io

    from PIL import Image

    started = time.perf_counter()
    steps = int(os.environ.get("PAINTER_STEPS", "2"))
    for step in range(steps):
        if cancelled is not None and cancelled():
            raise Cancelled(message="cancelled at a step boundary", step=step)
        time.sleep(float(os.environ.get("PAINTER_STEP_S", "0.1")))
        if progress is not None:
            progress(step + 1, steps)
    with Image.open(io.BytesIO(request.content)) as im:
        out = io.BytesIO()
        im.convert("RGB").save(out, "PNG")
        width, height = im.size
    return JobResult(image=out.getvalue(), mime="image/png", width=width, height=height,
                     seconds=time.perf_counter() - started, info={"runner": "painter"})
