"""The Celery executor for several bot replicas: limits, queue places and /cancel agree through Redis.

Admission goes through ``SharedLimits`` before the job enters this replica's FIFO, so a user's second job is refused
whichever replica receives it (a user may have ``USER_RUNNING_LIMIT + USER_QUEUED_LIMIT`` jobs in flight in all).
Once a second, a background pass refreshes this replica's claims (a dead replica's expire after ``HOLD_S``), reads
the shared queue places of its waiting jobs, the users' jobs running on other replicas (a job waits here while its
user has ``USER_RUNNING_LIMIT`` running elsewhere; the view is at most a second old), and looks for cancellation
marks set by ``/cancel`` on another replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .celery_app import MARK_TTL_S, key
from .celery_executor import CeleryExecutor
from .handle import JobHandle
from .job import Cancelled, Event, Job, Queued
from .queue import Entry
from .shared_limits import SharedLimits

log = logging.getLogger("jobs.celery")

HOLD_S = 120.0  # a claim not refreshed for this long (its replica died) frees the user's slot and queue place
SYNC_EVERY_S = 1.0


class SharedCeleryExecutor(CeleryExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared: SharedLimits | None = None
        self._shared_positions: dict[str, int] = {}
        self._last_sync = 0.0
        self._syncing: asyncio.Task | None = None
        self._pending: set[asyncio.Future] = set()  # claim updates in flight, awaited before Redis is closed
        self._elsewhere: dict[int, int] = {}  # user id -> their jobs dispatched or running on other replicas

    async def _start_backend(self) -> None:
        await super()._start_backend()
        s = self.settings
        self._shared = SharedLimits(self._redis, s.user_running_limit + s.user_queued_limit, s.queue_limit, HOLD_S)

    async def _stop_backend(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=5)
        await super()._stop_backend()

    def _later(self, call: Any, *args: Any) -> None:
        """Run a blocking Redis call in a thread without waiting for it; a failure is logged, not raised."""

        def guarded() -> None:
            try:
                call(*args)
            except Exception as exc:
                log.warning("shared queue update %s failed: %s", getattr(call, "__name__", call), exc)

        future = asyncio.ensure_future(asyncio.to_thread(guarded))
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def submit(self, job: Job) -> JobHandle:
        return await self._admit_shared(job, enforce=True)

    async def resume(self, job: Job) -> JobHandle:
        return await self._admit_shared(job, enforce=False)

    async def _admit_shared(self, job: Job, enforce: bool) -> JobHandle:
        if self._shared is None or not self._accepting:
            return self._admit(job, enforce_limits=enforce)
        position = await asyncio.to_thread(self._shared.admit, job.id, job.user_id, enforce)
        self._shared_positions[job.id] = position  # the place among every replica's waiting jobs
        try:  # whether the user runs a job on another replica now decides if this one may go at once
            active = (await asyncio.to_thread(self._shared.active, [job.user_id]))[job.user_id]
            self._elsewhere[job.user_id] = len(active - self._entries.keys())
        except Exception as exc:
            log.warning("cannot read the user's jobs on other replicas: %s", exc)
        try:
            handle = self._admit(job, enforce_limits=False)  # the shared check replaced the local one
        except BaseException:
            self._release(job.id, job.user_id)
            raise
        if job.id not in self._entries:  # refused by the preflight check: it never waited
            self._release(job.id, job.user_id)
        return handle

    def _release(self, job_id: str, user_id: int) -> None:
        self._shared_positions.pop(job_id, None)
        if self._shared is not None:
            self._later(self._shared.finished, job_id, user_id)

    def _user_can_run(self, user_id: int) -> bool:
        if not super()._user_can_run(user_id):
            return False
        mine = sum(1 for e in self._entries.values() if e.user_id == user_id and e.state in ("dispatched", "running"))
        return mine + self._elsewhere.get(user_id, 0) < self.settings.user_running_limit

    def _dispatch(self, entry: Entry) -> None:
        if self._shared is not None:
            self._later(self._shared.dispatched, entry.job.id, entry.user_id)
        super()._dispatch(entry)

    def _started(self, entry: Entry) -> None:
        waiting = entry.state in ("queued", "dispatched")
        super()._started(entry)
        if waiting and self._shared is not None:
            self._shared_positions.pop(entry.job.id, None)
            self._later(self._shared.started, entry.job.id)

    def _finish(self, entry: Entry, event: Event, *args: Any, **kwargs: Any) -> None:
        ending = entry.state != "finished"
        super()._finish(entry, event, *args, **kwargs)
        if ending:
            self._release(entry.job.id, entry.user_id)

    async def cancel(self, user_id: int) -> bool:
        """Cancel the user's jobs here, and mark those another replica follows (it and the worker obey the mark)."""
        found = await super().cancel(user_id)
        if self._shared is None:
            return found
        elsewhere = [job_id for job_id in await asyncio.to_thread(self._shared.jobs_of, user_id)
                     if job_id not in self._entries]
        for job_id in elsewhere:
            await asyncio.to_thread(self._redis.set, key("cancel", job_id), "1", ex=MARK_TTL_S)
        if elsewhere:
            log.info("cancel for user %s: marked %d job(s) followed by another replica", user_id, len(elsewhere))
        return found or bool(elsewhere)

    def _announce_positions(self) -> None:
        if not self._accepting:
            return
        for local, entry in enumerate(self._queue, start=1):
            position = self._shared_positions.get(entry.job.id, local)
            if entry.extra.get("position") != position:
                entry.extra["position"] = position
                entry.handle.emit(Queued(position, self._eta_map().get(entry.job.id)))

    # ------------------------------------------------------------------------------------------ the shared pass

    def _tick(self) -> None:
        super()._tick()
        now = time.monotonic()
        if self._shared is None or now - self._last_sync < SYNC_EVERY_S or (
                self._syncing is not None and not self._syncing.done()):
            return
        self._last_sync = now
        self._syncing = asyncio.ensure_future(self._sync())

    async def _sync(self) -> None:
        entries = [e for e in self._entries.values() if e.state != "finished"]
        if not entries or self._shared is None:
            return
        try:
            positions, marked, active = await asyncio.to_thread(self._read_shared, entries)
        except Exception as exc:  # Redis away for a moment: the next pass tries again
            log.warning("cannot read the shared queue: %s", exc)
            return
        self._shared_positions.update(positions)
        self._elsewhere = {user_id: len(job_ids - self._entries.keys()) for user_id, job_ids in active.items()}
        for entry in entries:
            if entry.job.id not in marked or entry.state == "finished" or "cancel_requested" in entry.extra:
                continue
            if entry.state in ("queued", "dispatched") and entry.job.id in self._queue:
                if self._poller is not None:
                    self._poller.unwatch(entry.job.id)
                self._finish(entry, Cancelled())
            else:
                entry.extra["cancel_requested"] = time.monotonic()  # the worker stops at its next step
        self._pump()  # a user's job held back by a job on another replica may go now; places are announced

    def _read_shared(self, entries: list[Entry]) -> tuple[dict[str, int], set[str], dict[int, set[str]]]:
        assert self._shared is not None
        self._shared.refresh([(e.job.id, e.user_id, e.job.id in self._queue) for e in entries])  # still alive
        positions = self._shared.positions([e.job.id for e in entries if e.job.id in self._queue])
        pipe = self._redis.pipeline()
        for entry in entries:
            pipe.exists(key("cancel", entry.job.id))
        marked = {e.job.id for e, hit in zip(entries, pipe.execute(), strict=True) if hit}
        waiting_users = sorted({e.user_id for e in entries if e.state == "queued"})
        return positions, marked, self._shared.active(waiting_users)
