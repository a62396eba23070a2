"""What both executors share: admission, the FIFO, per-user limits, the journal, events, ETA and statistics.

Subclasses only say how a job reaches a worker (``_dispatch``), whether a worker is free (``_has_capacity``), how a
running job is cancelled (``_cancel_active``) and how the backend starts and stops. Everything here runs on the
event loop thread; backends hand their news over with ``loop.call_soon_threadsafe``.

Entry states: ``queued`` (in the FIFO), ``dispatched`` (handed to a worker or the broker, not started yet),
``running`` (a worker said it started) and ``finished``. ``queued`` and ``dispatched`` jobs that sit in the FIFO count
for the queue limits and positions; ``dispatched`` and ``running`` ones count for ``user_running_limit``.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from ml_models import errors
from ml_models.api import JobResult

from . import preflight
from .eta import Estimator, queue_finish_times
from .handle import JobHandle
from .job import Cancelled, Done, Event, Failed, Interrupted, Job, Progress, QueueBusy, Queued, Started
from .journal import Journal, make_journal
from .queue import Entry, JobQueue
from .settings import JobSettings
from .spool import InputSpool

log = logging.getLogger("jobs")

JOURNAL_KEEP_S = 90 * 24 * 3600
TICK_S = 0.2
MEDIAN_SAMPLES = 200  # latest successful jobs per model behind the median in stats()


class Scheduler:
    executor_name = "local"

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self._queue = JobQueue(settings.queue_limit, settings.user_queued_limit)
        self._entries: dict[str, Entry] = {}
        self._journal_: Journal | None = None
        self._writer: ThreadPoolExecutor | None = None  # the journal's one thread: writes in order, off the loop
        self._estimator = Estimator(gpu=self._on_gpu())
        self._accepting = False
        self._dispatching = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None
        self._session = {"done": 0, "failed": 0, "cancelled": 0}
        # stats() answers from these (read from the journal once at start), never with a query on the event loop
        self._counts = {"done": 0, "failed": 0, "cancelled": 0}
        self._recent: dict[str, deque[float]] = {}  # model -> latest successful seconds
        self._orphans: set[str] = set()  # unfinished jobs journaled by an earlier run, not resumed or discarded yet
        self._durable: bool | None = None  # known once the journal is open
        self._spool = InputSpool(settings.data_dir / "spool", settings.input_memory_bytes)

    # ------------------------------------------------------------------------------------------ hooks for backends

    def _on_gpu(self) -> bool:
        return False

    def _parallelism(self) -> int:
        return 1

    def _has_capacity(self) -> bool:
        raise NotImplementedError

    def _dispatch(self, entry: Entry) -> None:
        raise NotImplementedError

    async def _cancel_active(self, entry: Entry) -> None:
        raise NotImplementedError

    async def _start_backend(self) -> None:
        pass

    async def _stop_backend(self) -> None:
        pass

    def _tick(self) -> None:
        pass

    def _backend_stats(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def _journal(self) -> Journal:
        if self._journal_ is None:
            self._journal_ = make_journal(self.settings)
        return self._journal_

    @property
    def durable(self) -> bool:
        """Whether journaled jobs and undelivered results outlive this machine (a resume may be promised)."""
        return self._journal.durable

    def _record(self, method: str, *args: Any, **kwargs: Any) -> None:
        """A journal write in the journal's own thread, in submission order: the event loop never waits on the disk
        or on Redis. Reads go through the same thread (``_ask``), so they see every earlier write."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="journal")
        self._writer.submit(self._guarded, getattr(self._journal, method), args, kwargs)

    @staticmethod
    def _guarded(call: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
        try:
            call(*args, **kwargs)
        except Exception:
            log.exception("journal write %s failed", getattr(call, "__name__", call))

    async def _ask(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="journal")
        return await asyncio.get_running_loop().run_in_executor(self._writer, partial(call, *args))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        journal = self._journal
        removed = journal.prune(JOURNAL_KEEP_S, self.settings.result_ttl_s)
        if removed:
            log.info("journal: forgot %d old finished jobs", removed)
        self._estimator.seed(journal.history())
        counts = journal.counts()
        self._counts = {status: counts.get(status, 0) for status in self._counts}
        for model, _pixels, seconds in journal.history(MEDIAN_SAMPLES * 10):
            self._remember_seconds(model, seconds)
        self._orphans = {job.id for job in journal.unfinished()}
        self._durable = journal.durable
        self._spool.reset()
        await self._start_backend()
        self._accepting = self._dispatching = True
        self._ticker = asyncio.create_task(self._tick_forever(), name="jobs-ticker")
        self._pump()

    async def stop(self, drain_seconds: float = 0) -> None:
        """Refuse new jobs, let running ones finish for up to ``drain_seconds``, then stop the workers.

        Jobs that did not finish stay queued/running in the journal (``unfinished()`` after the restart); their
        handles end with ``Failed("interrupted")`` so nobody awaits them forever.
        """
        self._accepting = False
        self._dispatching = False
        deadline = time.monotonic() + max(drain_seconds, 0)
        while time.monotonic() < deadline and any(self._on_worker(e) for e in self._entries.values()):
            await asyncio.sleep(0.05)
        resumable = self._journal.durable
        for entry in list(self._entries.values()):
            error = Interrupted(message="the bot is restarting; the job will be resumed" if resumable else
                                "the bot is restarting and its journal does not survive it", resumable=resumable)
            self._finish(entry, Failed(error.code, error.message, error.details), error, journal=False)
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await self._stop_backend()
        if self._journal_ is not None:
            await self._ask(self._journal_.close)  # after every write still queued
            self._journal_ = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _on_worker(self, entry: Entry) -> bool:
        """Held by a worker now (dispatched jobs still in the FIFO wait at the broker, not on a worker)."""
        return entry.state in ("dispatched", "running") and entry.job.id not in self._queue

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._tick()
            except Exception:  # the ticker must survive any bug in one tick
                log.exception("job executor tick failed")

    # ------------------------------------------------------------------------------------------ admission

    async def submit(self, job: Job) -> JobHandle:
        """Queue a job; raises ``QueueBusy`` over a limit. Inputs sure to be refused end at once with ``Failed``."""
        return self._admit(job, enforce_limits=True)

    async def resume(self, job: Job) -> JobHandle:
        """Queue a journaled job again (its bytes filled in by the bot). Limits are not applied: it was accepted."""
        return self._admit(job, enforce_limits=False)

    def _admit(self, job: Job, enforce_limits: bool) -> JobHandle:
        if not self._accepting:
            raise QueueBusy(len(self._queue) + 1, "stopping")
        if job.id in self._entries:
            raise ValueError(f"job {job.id} is already queued or running")
        handle = JobHandle(job)
        try:
            pixels = preflight.check(job.request, self.settings.engine, self._on_gpu())
        except errors.EngineError as exc:
            self._record("add", job, self.executor_name)
            self._record("finish", job.id, "failed", None, exc.code, str(exc))
            self._session["failed"] += 1
            self._counts["failed"] += 1
            handle.emit(Failed(exc.code, str(exc), exc.details), exc)
            return handle
        self._orphans.discard(job.id)
        entry = Entry(job, handle, pixels)
        if enforce_limits:
            self._queue.check(job.user_id)
            self._check_wait(entry)
        position = self._queue.push(entry, enforce_limits=enforce_limits)
        self._entries[job.id] = entry
        self._record("add", job, self.executor_name, pixels)
        self._spool.hold(job)  # beyond INPUT_MEMORY_MB of waiting pictures, to disk until dispatch
        entry.extra["position"] = position
        handle.emit(Queued(position, self._eta_map().get(job.id)))
        log.info("job %s queued at %d: user %s %s", job.id, position, job.user_id, job.request.describe())
        self._pump()
        return handle

    def _check_wait(self, entry: Entry) -> None:
        """Refuse a job that would wait longer than ``queue_max_wait`` before a worker takes it (the ETA model's
        estimate): "busy" means a long wait, not a count. ``queue_limit`` stays as a bound on memory."""
        limit = self.settings.queue_max_wait
        if limit <= 0:
            return
        waiting = [self._estimate(e) for e in self._queue] + [self._estimate(entry)]
        finish = queue_finish_times(self._running_left(), waiting, self._parallelism())
        wait = finish[-1] - waiting[-1]
        if wait > limit:
            raise QueueBusy(len(self._queue) + 1, "long_wait", wait_s=round(wait, 1))

    def _user_can_run(self, user_id: int) -> bool:
        active = sum(1 for e in self._entries.values()
                     if e.user_id == user_id and e.state in ("dispatched", "running"))
        return active < self.settings.user_running_limit

    def _pump(self) -> None:
        """Hand waiting jobs to free workers in FIFO order, then tell waiting jobs their new places."""
        while self._dispatching and self._has_capacity():
            entry = self._queue.next_ready(self._user_can_run)
            if entry is None:
                break
            entry.state = "dispatched"
            self._spool.take(entry.job)
            self._dispatch(entry)
        self._announce_positions()

    def _announce_positions(self) -> None:
        if not self._accepting:  # stopping: the waiting jobs are about to end as interrupted
            return
        etas: dict[str, float] | None = None
        for position, entry in enumerate(self._queue, start=1):
            if entry.extra.get("position") != position:
                entry.extra["position"] = position
                etas = etas if etas is not None else self._eta_map()
                entry.handle.emit(Queued(position, etas.get(entry.job.id)))

    # ------------------------------------------------------------------------------------------ backend news

    def _timeout_s(self, entry: Entry) -> float:
        return preflight.time_limit(entry.job.request, self.settings.timeout_scale)

    def _started(self, entry: Entry) -> None:
        if entry.state not in ("queued", "dispatched"):
            return
        self._queue.remove(entry.job.id)
        entry.state = "running"
        entry.started_at = time.monotonic()
        self._record("started", entry.job.id)
        entry.handle.emit(Started())
        self._announce_positions()

    def _progress(self, entry: Entry, done: int, total: int) -> None:
        if entry.state == "running":
            entry.handle.emit(Progress(done, total))

    def _finish(self, entry: Entry, event: Event, error: errors.EngineError | None = None,
                seconds: float | None = None, journal: bool = True) -> None:
        """End a job once: journal it (unless it must stay unfinished), learn its time, emit the terminal event."""
        if entry.state == "finished":
            return
        was_running = entry.state == "running"
        entry.state = "finished"
        self._queue.remove(entry.job.id)
        self._entries.pop(entry.job.id, None)
        self._spool.drop(entry.job.id)
        if seconds is None and was_running and entry.started_at is not None:
            seconds = time.monotonic() - entry.started_at
        status = {Done: "done", Failed: "failed", Cancelled: "cancelled"}[type(event)]
        if journal:
            code = error.code if error is not None else None
            self._record("finish", entry.job.id, status, seconds, code, str(error) if error is not None else None,
                         result=event.result if isinstance(event, Done) else None)
            self._session[status] += 1
            self._counts[status] += 1
            if status == "done" and seconds is not None:
                self._remember_seconds(entry.job.request.model, seconds)
        if isinstance(event, Done):
            self._estimator.observe(entry.job.request.model, entry.pixels, event.result.seconds or seconds or 0.0)
        log.info("job %s %s%s", entry.job.id, status, f" ({event.code}: {event.message})"
                 if isinstance(event, Failed) else f" in {seconds:.2f} s" if seconds is not None else "")
        entry.handle.emit(event, error)
        self._pump()

    def _fail(self, entry: Entry, error: errors.EngineError, seconds: float | None = None) -> None:
        if isinstance(error, errors.Cancelled):
            self._finish(entry, Cancelled(), seconds=seconds)
        else:
            self._finish(entry, Failed(error.code, str(error), dict(error.details)), error, seconds)

    # ------------------------------------------------------------------------------------------ user actions

    async def cancel(self, user_id: int) -> bool:
        """Cancel the user's jobs: waiting ones at once, running ones at their next step or tile boundary."""
        found = False
        for entry in list(self._entries.values()):
            if entry.user_id != user_id or entry.state == "finished":
                continue
            found = True
            if entry.state == "queued":
                self._finish(entry, Cancelled())
            else:
                entry.extra["cancel_requested"] = time.monotonic()
                await self._cancel_active(entry)
        return found

    async def unfinished(self) -> list[Job]:
        """Journaled jobs that never finished (left by a previous run), oldest first, without image bytes."""
        return [job for job in await self._ask(self._journal.unfinished) if job.id not in self._entries]

    async def discard(self, job: Job, code: str = "abandoned", message: str = "") -> None:
        """Close a journaled job the bot will not resume (for example its Telegram files are gone)."""
        await self._ask(partial(self._journal.finish, job.id, "failed", None, code,
                                message or "not resumed after a restart"))
        if job.id in self._orphans:
            self._orphans.discard(job.id)
            self._counts["failed"] += 1

    # ------------------------------------------------------------------------------------------ delivery

    async def mark_delivered(self, job_id: str) -> None:
        """The result reached the user (or never will): the journal drops its copy."""
        await self._ask(self._journal.delivered, job_id)

    async def note_undelivered(self, job_id: str) -> int:
        """A delivery failed; the result stays for a later try. Returns the failed attempts so far."""
        return await self._ask(self._journal.delivery_failed, job_id)

    async def undelivered(self) -> list[tuple[Job, JobResult]]:
        """Done jobs whose results have not reached their users, with the results (also from before a restart)."""
        return await self._ask(self._journal.undelivered)

    # ------------------------------------------------------------------------------------------ status

    def estimate(self, model: str, pixels: int | None) -> float:
        """Seconds a job of ``model`` on ``pixels`` input pixels takes here, learnt from the finished jobs."""
        return self._estimator.estimate(model, pixels)

    def _estimate(self, entry: Entry) -> float:
        return self._estimator.estimate(entry.job.request.model, entry.pixels)

    def _running_left(self, etas: dict[str, float] | None = None) -> list[float]:
        """Estimated seconds left of each running job (``etas`` gets them by job id)."""
        now = time.monotonic()
        running_left = []
        for entry in self._entries.values():
            if entry.state == "running":
                estimate = self._estimate(entry)
                left = max(estimate - (now - (entry.started_at or now)), 0.1 * estimate)
                running_left.append(left)
                if etas is not None:
                    etas[entry.job.id] = round(left, 1)
        return running_left

    def _eta_map(self) -> dict[str, float]:
        etas: dict[str, float] = {}
        running_left = self._running_left(etas)
        waiting = list(self._queue)
        finish = queue_finish_times(running_left, [self._estimate(e) for e in waiting], self._parallelism())
        etas.update({e.job.id: round(f, 1) for e, f in zip(waiting, finish, strict=True)})
        return etas

    def position(self, job_id: str) -> int | None:
        """1-based place among waiting jobs, 0 while running, None when unknown or finished."""
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        return self._queue.position(job_id) or 0

    def eta(self, job_id: str) -> float | None:
        """Estimated seconds until the job's result is ready."""
        return self._eta_map().get(job_id)

    def _remember_seconds(self, model: str, seconds: float) -> None:
        self._recent.setdefault(model, deque(maxlen=MEDIAN_SAMPLES)).append(seconds)

    def stats(self) -> dict[str, Any]:
        """Counters kept in memory (cheap enough for /healthz on the event loop: no journal query)."""
        return {
            "executor": self.executor_name,
            "accepting": self._accepting,
            "queue_length": len(self._queue),
            "running": sum(1 for e in self._entries.values() if e.state == "running"),
            **self._counts,
            "unfinished_journaled": len(self._orphans),
            "journal_durable": self._durable,
            "since_start": dict(self._session),
            "inputs_in_memory_bytes": self._spool.in_memory,
            "inputs_on_disk": self._spool.on_disk,
            "median_seconds": {model: round(statistics.median(values), 3)
                               for model, values in self._recent.items() if values},
            **self._backend_stats(),
        }
