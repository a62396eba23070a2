"""The job layer: a queue in front of the style workers, with limits, a journal, progress events and cancellation.

The bot imports this package without torch. ``make_executor(settings)`` gives the embedded pool of spawned worker
processes (``executor="local"``) or the Celery/Redis scale-out (``executor="celery"``); both have the same API:
``start``, ``stop``, ``submit`` (raises ``QueueBusy``), ``cancel``, ``position``, ``eta``, ``stats``, ``unfinished``,
``resume`` and ``discard``. See jobs/README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .handle import JobHandle
from .job import (
    Cancelled,
    Done,
    Event,
    Failed,
    InternalError,
    Interrupted,
    Job,
    JobTimeout,
    Progress,
    QueueBusy,
    Queued,
    Started,
    WorkerDied,
    WorkerUnavailable,
)
from .settings import JobSettings

if TYPE_CHECKING:
    from ml_models.api import JobResult

    from .celery_executor import CeleryExecutor
    from .pool import LocalExecutor

__all__ = [
    "Cancelled", "Done", "Event", "Executor", "Failed", "Interrupted", "InternalError", "Job", "JobHandle",
    "JobSettings", "JobTimeout", "Progress", "Queued", "QueueBusy", "Started", "WorkerDied", "WorkerUnavailable",
    "make_executor",
]


@runtime_checkable
class Executor(Protocol):
    """What the bot needs from an executor; ``bot_init.build`` refuses an object that lacks any of it."""

    async def start(self) -> None: ...
    async def stop(self, drain_seconds: float = 0) -> None: ...
    async def submit(self, job: Job) -> JobHandle: ...
    async def cancel(self, user_id: int) -> bool: ...
    def position(self, job_id: str) -> int | None: ...
    def eta(self, job_id: str) -> float | None: ...
    def stats(self) -> dict[str, Any]: ...
    async def unfinished(self) -> list[Job]: ...
    async def resume(self, job: Job) -> JobHandle: ...
    async def discard(self, job: Job, code: str = "abandoned", message: str = "") -> None: ...
    async def mark_delivered(self, job_id: str) -> None: ...
    async def note_undelivered(self, job_id: str) -> int: ...
    async def undelivered(self) -> list[tuple[Job, JobResult]]: ...


def make_executor(settings: JobSettings) -> LocalExecutor | CeleryExecutor:
    """The executor ``settings.executor`` names; Celery is imported only when it is used."""
    if settings.executor == "local":
        from .pool import LocalExecutor

        return LocalExecutor(settings)
    if settings.executor == "celery":
        from .shared_celery import SharedCeleryExecutor

        return SharedCeleryExecutor(settings)  # a CeleryExecutor whose limits every bot replica shares
    raise ValueError(f"unknown executor {settings.executor!r}: use 'local' or 'celery'")
