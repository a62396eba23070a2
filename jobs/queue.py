"""The bounded FIFO of jobs waiting for a worker, with per-user limits.

Pure bookkeeping, no asyncio and no processes, so the rules are easy to test: a job waits in arrival order, but a job
whose user already has ``user_running_limit`` jobs active is skipped (not blocking other users behind it) until one
of them ends. ``queue_limit`` and ``user_queued_limit`` count waiting jobs only; running ones are not counted.

An entry may be *dispatched* but still waiting: the Celery executor hands jobs to the broker at once and they wait
there for a worker, so they still count as queued (and keep their position) until a worker starts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .job import Job, QueueBusy


@dataclass(eq=False)
class Entry:
    """One job's state inside an executor."""

    job: Job
    handle: Any  # JobHandle (kept loose: the queue itself never emits events)
    pixels: int | None = None  # effective input pixels after the engine's resize, for the ETA
    state: str = "queued"  # queued | dispatched | running | finished
    started_at: float | None = None  # monotonic, set when a worker starts it
    extra: dict[str, Any] = field(default_factory=dict)  # executor-specific (worker slot, cancel requested, ...)

    @property
    def user_id(self) -> int:
        return self.job.user_id


class JobQueue:
    def __init__(self, limit: int, user_queued_limit: int) -> None:
        self.limit = limit
        self.user_queued_limit = user_queued_limit
        self._entries: dict[str, Entry] = {}  # insertion ordered: the FIFO

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def check(self, user_id: int) -> None:
        """Raise ``QueueBusy`` when a new job of this user would not be accepted."""
        position = len(self._entries) + 1
        if len(self._entries) >= self.limit:
            raise QueueBusy(position, "queue_full")
        if sum(1 for e in self._entries.values() if e.user_id == user_id) >= self.user_queued_limit:
            raise QueueBusy(position, "user_limit")

    def push(self, entry: Entry, enforce_limits: bool = True) -> int:
        """Append and return the 1-based position. ``enforce_limits=False`` re-admits journaled jobs after a restart."""
        if enforce_limits:
            self.check(entry.user_id)
        self._entries[entry.job.id] = entry
        return len(self._entries)

    def position(self, job_id: str) -> int | None:
        for index, key in enumerate(self._entries, start=1):
            if key == job_id:
                return index
        return None

    def next_ready(self, can_run: Callable[[int], bool]) -> Entry | None:
        """The oldest job not yet dispatched whose user may run another job now (it stays in the queue)."""
        for entry in self._entries.values():
            if entry.state == "queued" and can_run(entry.user_id):
                return entry
        return None

    def remove(self, job_id: str) -> Entry | None:
        return self._entries.pop(job_id, None)

    def of_user(self, user_id: int) -> list[Entry]:
        return [e for e in self._entries.values() if e.user_id == user_id]
