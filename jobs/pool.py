"""The embedded executor: a pool of ``spawn``ed worker processes on this machine.

``spawn`` because CUDA cannot be initialised again in a forked child, and because a fresh interpreter per worker keeps
the bot's state (sockets, aiogram) out of it. Each worker keeps its models loaded between jobs.

Faults stay local: a worker that dies (``kill -9``, segfault, OOM) fails only the job it held, with ``worker_died``,
and is replaced; a job past its model's time limit is ended by killing its worker (``timeout``); a running job that
ignores a cancellation for ``cancel_grace_s`` is ended the same way. One reader thread waits on every worker's pipe
and hands each message to the event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ml_models import allocator, errors
from ml_models.settings import EngineSettings

from .job import Cancelled, Done, JobTimeout, WorkerDied, WorkerUnavailable
from .queue import Entry
from .scheduler import Scheduler
from .settings import JobSettings, plan_workers
from .worker import WorkerConfig, worker_main

log = logging.getLogger("jobs.pool")

STOP_JOIN_S = 5.0
MAX_RESTART_DELAY_S = 60.0


@dataclass(eq=False)
class Worker:
    """One worker process; a replacement is a new ``Worker`` in the same slot."""

    slot: int
    engine: EngineSettings
    process: BaseProcess
    tasks: Connection  # our end: we send (serial, request) or None
    cancel: Any  # shared 64-bit integer: the serial of the job to cancel
    spawned_at: float = field(default_factory=time.monotonic)
    state: str = "starting"  # starting | idle | busy | dead
    ready_s: float | None = None
    entry: Entry | None = None
    serial: int = 0
    deadline: float | None = None
    kill_reason: errors.EngineError | None = None
    killed: bool = False
    init_error: str | None = None


class _Reader(threading.Thread):
    """Waits on every worker's event pipe and posts each message to the event loop, in order per worker."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[Worker, tuple], None]) -> None:
        super().__init__(name="jobs-pool-reader", daemon=True)
        self._loop = loop
        self._deliver = deliver
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._lock = threading.Lock()
        self._pending: list[tuple[Connection, Worker]] = []
        self._conns: dict[Connection, Worker] = {}
        self._stopping = False

    def add(self, conn: Connection, worker: Worker) -> None:
        with self._lock:
            self._pending.append((conn, worker))
        self._wake_w.send_bytes(b"w")

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):  # the thread may have ended already (its loop was closed)
            self._wake_w.send_bytes(b"s")
        self.join(timeout=5)
        self._wake_w.close()

    def _post(self, worker: Worker, message: tuple) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._deliver, worker, message)
            return True
        except RuntimeError:  # the loop is closed: nobody listens any more
            return False

    def run(self) -> None:
        while True:
            with self._lock:
                self._conns.update(self._pending)
                self._pending.clear()
            if self._stopping:
                break
            for conn in wait([self._wake_r, *self._conns]):
                if conn is self._wake_r:
                    self._wake_r.recv_bytes()
                    continue
                worker = self._conns[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    message = ("eof",)
                except Exception as exc:  # a message that does not unpickle: the worker is still alive
                    log.exception("worker %d sent an unreadable message", worker.slot)
                    message = ("garbled", f"{type(exc).__name__}: {exc}")
                if message[0] == "eof":
                    del self._conns[conn]
                    conn.close()
                if not self._post(worker, message):
                    self._stopping = True
        for conn in self._conns:
            conn.close()
        self._wake_r.close()


class LocalExecutor(Scheduler):
    executor_name = "local"

    def __init__(self, settings: JobSettings) -> None:
        self.plan = plan_workers(settings)
        super().__init__(settings)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[Worker | None] = [None] * len(self.plan.engines)
        self._serials = itertools.count(1)
        self._reader: _Reader | None = None
        self._running = False
        self._failures = 0  # consecutive workers that died before they were ready
        self._restart_at: dict[int, float] = {}
        self._replaced = 0
        self._start_times: list[float] = []

    # ------------------------------------------------------------------------------------------ scheduler hooks

    def _on_gpu(self) -> bool:
        return any(e.device.startswith("cuda") for e in self.plan.engines)

    def _parallelism(self) -> int:
        return len(self._workers)

    def _has_capacity(self) -> bool:
        return any(w is not None and w.state == "idle" for w in self._workers)

    def _dispatch(self, entry: Entry) -> None:
        worker = next(w for w in self._workers if w is not None and w.state == "idle")
        self._queue.remove(entry.job.id)
        worker.state = "busy"
        worker.entry = entry
        worker.serial = next(self._serials)
        worker.deadline = time.monotonic() + self._timeout_s(entry)
        entry.extra["worker"] = worker
        try:
            worker.tasks.send((worker.serial, entry.job.request))
        except (OSError, ValueError):  # the worker died just now; its EOF will fail the job and replace it
            log.warning("worker %d is gone before it got job %s", worker.slot, entry.job.id)

    async def _cancel_active(self, entry: Entry) -> None:
        worker: Worker | None = entry.extra.get("worker")
        if worker is not None and worker.entry is entry:
            worker.cancel.value = worker.serial

    async def _start_backend(self) -> None:
        assert self._loop is not None
        self._running = True
        self._reader = _Reader(self._loop, self._on_message)
        self._reader.start()
        for slot in range(len(self._workers)):
            self._spawn(slot)
        log.info("pool: %d worker(s) on %s, %d torch thread(s) each, runner %s", len(self._workers),
                 ", ".join(e.device for e in self.plan.engines), self.plan.threads, self.settings.runner)

    async def _stop_backend(self) -> None:
        self._running = False
        workers = [w for w in self._workers if w is not None]
        for w in workers:
            if w.state == "idle":  # exits at once
                with contextlib.suppress(OSError, ValueError):
                    w.tasks.send(None)
            elif w.state in ("busy", "starting"):  # its job is journaled; a starting one has nothing to lose
                w.killed = True
                w.process.kill()

        def join_all() -> None:
            deadline = time.monotonic() + STOP_JOIN_S
            for w in workers:
                w.process.join(max(deadline - time.monotonic(), 0.1))
                if w.process.is_alive():
                    w.process.kill()
                    w.process.join(1)

        await asyncio.to_thread(join_all)
        for w in workers:
            w.tasks.close()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.stop)
            self._reader = None

    def _tick(self) -> None:
        now = time.monotonic()
        for w in self._workers:
            if w is None or w.state == "dead" or w.killed:
                continue
            if w.state == "busy" and w.entry is not None:
                requested = w.entry.extra.get("cancel_requested")
                if w.deadline is not None and now > w.deadline:
                    limit = self._timeout_s(w.entry)
                    self._kill(w, JobTimeout(message=f"the job ran longer than {limit:.0f} s and was stopped",
                                             limit_s=limit))
                elif requested is not None and now - requested > self.settings.cancel_grace_s:
                    self._kill(w, errors.Cancelled(message="the job was cancelled"))
        for slot, when in list(self._restart_at.items()):
            if now >= when:
                del self._restart_at[slot]
                self._spawn(slot)

    def _backend_stats(self) -> dict[str, Any]:
        alive = [w for w in self._workers if w is not None and w.state != "dead"]
        return {
            "workers": len(self._workers),
            "workers_ready": sum(1 for w in alive if w.state in ("idle", "busy")),
            "workers_replaced": self._replaced,
            "worker_start_seconds": round(self._start_times[-1], 3) if self._start_times else None,
            "devices": [e.device for e in self.plan.engines],
            "worker_pids": [w.process.pid for w in alive],
        }

    # ------------------------------------------------------------------------------------------ workers

    def worker_pid(self, job_id: str) -> int | None:
        """The pid of the worker running this job (tests use it to kill a worker mid-job)."""
        entry = self._entries.get(job_id)
        worker: Worker | None = entry.extra.get("worker") if entry else None
        return worker.process.pid if worker is not None and worker.entry is entry else None

    def _spawn(self, slot: int) -> None:
        if not self._running:
            return
        engine = self.plan.engines[slot]
        config = WorkerConfig(slot, self.settings.runner, engine, self.plan.threads, tuple(self.settings.preload),
                              self.plan.memory_mb)
        allocator.export_for_children(engine.allocator)  # read by glibc when the worker's interpreter starts
        task_r, task_w = self._ctx.Pipe(duplex=False)
        event_r, event_w = self._ctx.Pipe(duplex=False)
        cancel = self._ctx.RawValue("q", 0)
        process = self._ctx.Process(target=worker_main, args=(config, task_r, event_w, cancel),
                                    name=f"style-worker-{slot}", daemon=True)
        process.start()
        task_r.close()  # the child holds its own copies; ours would hide its death from us (no EOF)
        event_w.close()
        worker = Worker(slot, engine, process, task_w, cancel)
        self._workers[slot] = worker
        assert self._reader is not None
        self._reader.add(event_r, worker)
        log.debug("worker %d spawned (pid %s, %s)", slot, process.pid, engine.device)

    def _kill(self, worker: Worker, reason: errors.EngineError) -> None:
        log.warning("killing worker %d (pid %s): %s", worker.slot, worker.process.pid, reason)
        worker.kill_reason = reason
        worker.killed = True
        worker.process.kill()

    def _on_message(self, worker: Worker, message: tuple) -> None:
        kind = message[0]
        current = worker.entry if worker.entry is not None and worker.entry.state != "finished" else None
        serial_ok = len(message) > 1 and message[1] == worker.serial and current is not None
        if kind == "ready":
            worker.ready_s = time.monotonic() - worker.spawned_at
            self._start_times.append(worker.ready_s)
            self._failures = 0
            log.info("worker %d ready in %.2f s (pid %s)", worker.slot, worker.ready_s, message[1])
            if worker.state == "starting":
                worker.state = "idle"
                self._pump()
        elif kind == "init_failed":
            worker.init_error = message[1]
            log.error("worker %d could not start: %s", worker.slot, message[1])
        elif kind == "retiring":  # it exits after this job (out of memory): replaced, never given another job
            worker.killed = True
        elif kind == "started" and serial_ok:
            self._started(current)
        elif kind == "progress" and serial_ok:
            self._progress(current, message[2], message[3])
        elif kind in ("done", "failed") and serial_ok:
            worker.entry = None
            worker.deadline = None
            worker.state = "idle" if not worker.killed else worker.state
            if kind == "done":
                self._finish(current, Done(message[2]), seconds=message[3])
            else:
                self._fail(current, message[2])
        elif kind == "eof":
            asyncio.ensure_future(self._on_exit(worker))
        elif kind == "garbled" and current is not None:
            log.error("worker %d: %s", worker.slot, message[1])

    async def _on_exit(self, worker: Worker) -> None:
        """A worker's pipe closed: it died or exited. Fail its job, then start its replacement."""
        if worker.state == "dead":
            return
        if not self._running:  # stopping: the pool killed or released it on purpose
            worker.state = "dead"
            return
        was_ready = worker.ready_s is not None
        worker.state = "dead"
        await asyncio.to_thread(worker.process.join, 2)
        code = worker.process.exitcode
        worker.tasks.close()
        entry, worker.entry = worker.entry, None
        if entry is not None and entry.state != "finished":
            if worker.kill_reason is not None:
                self._fail(entry, worker.kill_reason)
            elif entry.extra.get("cancel_requested") is not None:
                self._finish(entry, Cancelled())
            else:
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                log.error("worker %d (pid %s) died with %s while running job %s", worker.slot, worker.process.pid,
                          how, entry.job.id)
                self._fail(entry, WorkerDied(message=f"the worker process died ({how}) while running this job",
                                             exitcode=code))
        if not self._running or self._workers[worker.slot] is not worker:
            return
        self._replaced += 1
        if was_ready or worker.killed:
            self._spawn(worker.slot)
            return
        # Died before it was ready: a broken runner or environment. Back off, and do not let jobs wait forever.
        self._failures += 1
        delay = min(2.0 ** self._failures, MAX_RESTART_DELAY_S)
        reason = worker.init_error or f"the worker process exited with code {code} during start-up"
        log.error("worker %d failed to start (%d in a row): %s; retrying in %.0f s", worker.slot, self._failures,
                  reason, delay)
        self._restart_at[worker.slot] = time.monotonic() + delay
        if not any(w is not None and w.state in ("idle", "busy") for w in self._workers):
            for entry in [e for e in self._queue if e.state == "queued"]:
                self._fail(entry, WorkerUnavailable(message=reason))
