"""The bot side of the Celery/Redis scale-out: same limits, journal and events as the local pool.

Jobs are handed to the broker as soon as their user may run one (``user_running_limit``), so the Redis list is the one
FIFO shared by every worker host; they keep their place in this bot's queue (and count for ``queue_limit``) until a
worker reports STARTED. One thread polls the result backend for the tasks in flight and passes what changed to the
event loop with ``call_soon_threadsafe``; every other blocking Redis call goes through ``asyncio.to_thread``, so the
event loop never waits on the network. Requests and outcomes are JSON and images sit under their own Redis keys
(``jobs.wire``): the poller thread reads a finished job's image before it hands the outcome to the loop.

After a bot restart, ``resume`` first looks the job up in the result backend: a task that is still running or already
finished on a worker is followed, not sent again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from ml_models import errors

from . import wire
from .celery_app import KEY_PREFIX, MARK_TTL_S, TASK_NAME, key, make_app
from .handle import JobHandle
from .job import Cancelled, Done, InternalError, Job, JobTimeout, WorkerUnavailable
from .queue import Entry
from .scheduler import Scheduler
from .settings import JobSettings
from .wire import ssl_options

log = logging.getLogger("jobs.celery")

ACTIVE_STATES = ("STARTED", "PROGRESS", "SUCCESS", "FAILURE")


class _Poller(threading.Thread):
    """Reads the state of every task in flight each ``interval`` seconds and reports changes to the loop."""

    def __init__(self, executor: CeleryExecutor, interval: float) -> None:
        super().__init__(name="jobs-celery-poller", daemon=True)
        self._executor = executor
        self._interval = interval
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._watched: dict[str, tuple | None] = {}  # job id -> last (status, meta) reported

    def watch(self, job_id: str) -> None:
        with self._lock:
            self._watched.setdefault(job_id, None)

    def unwatch(self, job_id: str) -> None:
        with self._lock:
            self._watched.pop(job_id, None)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        backend = self._executor.app.backend
        loop = self._executor.loop
        while not self._stop_event.wait(self._interval):
            with self._lock:
                watched = list(self._watched.items())
            for job_id, last in watched:
                try:
                    meta = backend.get_task_meta(job_id)
                except Exception:  # Redis unreachable for a moment: try again next round
                    log.warning("cannot read the state of task %s", job_id, exc_info=True)
                    continue
                status, info = meta.get("status"), meta.get("result")
                seen = (status, repr(info)[:200] if status != "SUCCESS" else "done")
                if seen == last:
                    continue
                with self._lock:
                    if job_id not in self._watched:
                        continue
                    self._watched[job_id] = seen
                    if status in ("SUCCESS", "FAILURE"):
                        del self._watched[job_id]
                if status == "SUCCESS":
                    try:
                        info = wire.read_outcome(self._executor._redis, job_id, info)
                    except Exception as exc:  # Redis gone between the two reads
                        info = ("invalid", f"cannot read the result image: {exc}")
                try:
                    loop.call_soon_threadsafe(self._executor.on_task_state, job_id, status, info)
                except RuntimeError:  # the loop is closed
                    return
                if status in ("SUCCESS", "FAILURE"):
                    try:
                        backend.forget(job_id)
                        wire.forget(self._executor._redis, job_id)  # images: do not leave them in Redis
                    except Exception:
                        log.warning("cannot delete the result of task %s", job_id, exc_info=True)


class CeleryExecutor(Scheduler):
    executor_name = "celery"

    def __init__(self, settings: JobSettings) -> None:
        if not settings.redis_url:
            raise ValueError("EXECUTOR=celery needs REDIS_URL (the Redis used as broker and result backend)")
        super().__init__(settings)
        self.app = make_app(settings)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._redis: Any = None
        self._poller: _Poller | None = None

    # ------------------------------------------------------------------------------------------ scheduler hooks

    def _on_gpu(self) -> bool:
        return self.settings.engine.device != "cpu"  # the bot cannot see the workers: DEVICE=cpu says they are CPUs

    def _parallelism(self) -> int:
        return self.settings.workers or 1  # an assumption for the ETA: WORKERS = worker processes in the fleet

    def _has_capacity(self) -> bool:
        return True  # the broker queues; only the per-user limit holds jobs back here

    def _dispatch(self, entry: Entry) -> None:
        entry.extra["task"] = asyncio.ensure_future(self._send(entry, check_existing=entry.extra.get("resumed")))

    async def _send(self, entry: Entry, check_existing: bool = False) -> None:
        job = entry.job
        try:
            if check_existing:
                meta = await asyncio.to_thread(self.app.backend.get_task_meta, job.id)
                if meta.get("status") in ACTIVE_STATES:
                    log.info("job %s is still known to the workers (%s): following it", job.id, meta.get("status"))
                    self._watch(entry)
                    return
                await asyncio.to_thread(self._redis.delete, key("final", job.id), key("attempts", job.id))
            data = await asyncio.to_thread(wire.put_request, self._redis, job.id, job.request)
            signature = self.app.signature(TASK_NAME, args=(job.id, data))
            await asyncio.to_thread(signature.apply_async, task_id=job.id, queue=self.settings.celery_queue)
        except Exception as exc:
            log.exception("cannot hand job %s to the broker", job.id)
            if entry.state != "finished":
                self._fail(entry, WorkerUnavailable(message=f"the job queue (Redis) is unreachable: {exc}"))
            return
        self._watch(entry)

    def _watch(self, entry: Entry) -> None:
        entry.extra["sent_at"] = time.monotonic()
        if self._poller is not None and entry.state != "finished":
            self._poller.watch(entry.job.id)

    async def _cancel_active(self, entry: Entry) -> None:
        try:
            await asyncio.to_thread(self._redis.set, key("cancel", entry.job.id), "1", ex=MARK_TTL_S)
        except Exception:
            log.exception("cannot mark job %s as cancelled in Redis", entry.job.id)
        if entry.state == "dispatched":  # still waiting in the broker: the worker will skip it
            if self._poller is not None:
                self._poller.unwatch(entry.job.id)
            self._finish(entry, Cancelled())

    async def _start_backend(self) -> None:
        import redis

        self.loop = asyncio.get_running_loop()
        self._redis = redis.Redis.from_url(
            self.settings.redis_url, **(ssl_options(self.settings.redis_url, self.settings.redis_ssl_cert_reqs,
                                                  self.settings.redis_ca_cert) or {}))
        try:
            await asyncio.to_thread(self._redis.ping)
        except Exception as exc:
            log.error("Redis at REDIS_URL is unreachable (%s); jobs will fail until it is back", exc)
        self._poller = _Poller(self, self.settings.poll_interval)
        self._poller.start()
        log.info("celery executor: queue %r, key prefix %r", self.settings.celery_queue, KEY_PREFIX)

    async def _stop_backend(self) -> None:
        if self._poller is not None:
            await asyncio.to_thread(self._poller.stop)
            self._poller = None
        if self._redis is not None:
            self._redis.close()
        await asyncio.to_thread(self.app.close)

    def _tick(self) -> None:
        """Bot-side limits for what the workers cannot report: a lost task, a cancellation that is not obeyed."""
        now = time.monotonic()
        for entry in list(self._entries.values()):
            if entry.state != "running" or entry.started_at is None:
                continue
            overall = (self._timeout_s(entry) + self.settings.visibility_timeout) * self.settings.max_attempts + 60
            requested = entry.extra.get("cancel_requested")
            if requested is not None and now - requested > self.settings.cancel_grace_s:
                self._abandon(entry)
                self._finish(entry, Cancelled())
            elif now - entry.started_at > overall:
                self._abandon(entry)
                self._fail(entry, JobTimeout(message=f"no result from the workers after {overall:.0f} s"))

    def _abandon(self, entry: Entry) -> None:
        if self._poller is not None:
            self._poller.unwatch(entry.job.id)
        asyncio.ensure_future(asyncio.to_thread(self._redis.set, key("cancel", entry.job.id), "1", ex=MARK_TTL_S))

    def _backend_stats(self) -> dict[str, Any]:
        return {"workers": self._parallelism(), "in_broker": sum(1 for e in self._entries.values()
                                                                 if e.state == "dispatched"),
                "queue_name": self.settings.celery_queue}

    # ------------------------------------------------------------------------------------------ admission

    def _admit(self, job: Job, enforce_limits: bool) -> JobHandle:
        if enforce_limits:
            return super()._admit(job, enforce_limits)
        # resume: mark the entry before the first dispatch so that _send checks the backend first
        dispatching, self._dispatching = self._dispatching, False
        try:
            handle = super()._admit(job, enforce_limits)
        finally:
            self._dispatching = dispatching
        entry = self._entries.get(job.id)
        if entry is not None:
            entry.extra["resumed"] = True
        self._pump()
        return handle

    # ------------------------------------------------------------------------------------------ worker news

    def on_task_state(self, job_id: str, status: str, info: Any) -> None:
        entry = self._entries.get(job_id)
        if entry is None or entry.state == "finished":
            return
        if status in ("STARTED", "PROGRESS"):
            self._started(entry)
            if status == "PROGRESS" and isinstance(info, dict):
                self._progress(entry, int(info.get("done", 0)), int(info.get("total", 0)))
        elif status == "SUCCESS":
            self._started(entry)
            self._deliver(entry, info)
        elif status == "FAILURE":
            self._started(entry)
            self._fail(entry, InternalError(message=f"the worker failed: {info!r}"[:300]))

    def _deliver(self, entry: Entry, outcome: Any) -> None:
        if not isinstance(outcome, tuple) or not outcome:
            self._fail(entry, InternalError(message=f"unexpected task result {type(outcome).__name__}"))
        elif outcome[0] == "done":
            self._finish(entry, Done(outcome[1]), seconds=outcome[1].seconds)
        elif outcome[0] == "cancelled":
            self._finish(entry, Cancelled())
        elif outcome[0] == "failed" and isinstance(outcome[1], errors.EngineError):
            self._fail(entry, outcome[1])
        elif outcome[0] == "invalid":
            self._fail(entry, InternalError(message=str(outcome[1])))
        else:
            self._fail(entry, InternalError(message=f"unexpected task result {outcome!r}"[:300]))
