"""What a job is, what happens to it, and how the job layer says no.

These are the only types the bot handles. They are plain dataclasses with no torch, so the bot imports them freely,
and the job record keeps the Telegram ``file_id``s and ``meta`` so that a restarted bot can fetch the photos again and
finish what it had promised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from ml_models.api import JobRequest, JobResult
from ml_models.errors import EngineError


@dataclass
class Job:
    request: JobRequest
    chat_id: int
    user_id: int
    language: str = "en"
    content_file_id: str | None = None
    style_file_ids: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able things the bot needs to deliver the result
    id: str = field(default_factory=lambda: uuid4().hex)
    created_at: float = field(default_factory=time.time)


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class Queued:
    """Waiting. ``position`` 1 starts next; ``eta_s`` estimates the seconds until the result is ready."""

    position: int
    eta_s: float | None = None


@dataclass(frozen=True)
class Started:
    """A worker took the job."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class Done:
    result: JobResult


@dataclass(frozen=True)
class Failed:
    """The job ended with an error the user can be told about; ``code`` is a stable id for a localised message.

    Codes come from ``ml_models.errors`` (``too_large``, ``weights_missing``, ...) plus the job layer's own:
    ``worker_died``, ``timeout``, ``interrupted`` (the bot is stopping: the job stays journaled and is resumed after
    the restart), ``internal_error`` and ``worker_unavailable``.
    """

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancelled:
    """The user cancelled the job (the event; ``JobHandle.wait`` raises ``ml_models.errors.Cancelled``)."""


Event = Queued | Started | Progress | Done | Failed | Cancelled
TERMINAL = (Done, Failed, Cancelled)


# ------------------------------------------------------------------------------------------------ refusals and errors


class QueueBusy(Exception):
    """The job was not accepted. ``reason``: ``long_wait`` (it would wait longer than ``QUEUE_MAX_WAIT``; ``wait_s``
    says how long), ``queue_full`` (the memory bound ``QUEUE_LIMIT``), ``user_limit`` or ``stopping`` (the bot is
    shutting down).

    ``position`` is the place the job would have had in the queue, for the message to the user.
    """

    def __init__(self, position: int, reason: str, wait_s: float | None = None) -> None:
        super().__init__(position, reason)
        self.position = position
        self.reason = reason
        self.wait_s = wait_s

    def __str__(self) -> str:
        return f"queue busy ({self.reason}), position would be {self.position}"


class WorkerDied(EngineError):
    """The worker process running the job died (killed, segfault, out of memory)."""

    default_code = "worker_died"


class JobTimeout(EngineError):
    """The job ran past its model's time limit and its worker was replaced."""

    default_code = "timeout"


class Interrupted(EngineError):
    """The executor stopped before the job finished; the journal keeps it for ``resume`` after the restart."""

    default_code = "interrupted"


class WorkerUnavailable(EngineError):
    """No worker could be started (for example the runner cannot be imported); see the logs."""

    default_code = "worker_unavailable"


class InternalError(EngineError):
    """A bug: an exception the runner did not mean to raise."""

    default_code = "internal_error"
