"""The body of one pool worker process (started with the ``spawn`` method by ``jobs.pool``).

A worker imports the runner once, optionally preloads models, then runs jobs one at a time for as long as it lives,
so the engine's per-process model cache pays off. It talks to the pool over two one-way pipes of its own (tasks in,
events out): a worker killed in the middle of a write can only break its own pipe, never a queue shared with the
other workers. Cancellation is a shared integer the pool sets to the serial number of the job to stop; reading it
takes no lock, so a worker dying at any instant cannot leave a lock held.

Each worker runs under a memory limit (``WORKER_MEMORY_MB``, ``RLIMIT_DATA``): a job that does not fit fails with
``too_large`` for its user and the worker exits to be replaced fresh, instead of the kernel's OOM killer taking the
whole machine (and the bot) down.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ml_models import allocator
from ml_models.errors import EngineError, TooLarge
from ml_models.settings import EngineSettings

from .job import InternalError
from .runner import limit_threads, load_runner, preload_models

log = logging.getLogger("jobs.worker")

# A worker idle this long gives the memory its last job freed back to the OS; jobs that follow each other keep it
# (faulting a job's working set in again costs about 0.1 s per 300 MB, a fifth of a 1024 px Johnson job).
IDLE_RELEASE_S = 1.0


@dataclass(frozen=True)
class WorkerConfig:
    slot: int
    runner: str
    engine: EngineSettings
    threads: int
    preload: tuple[str, ...] = ()
    memory_mb: int | None = None


def limit_memory(memory_mb: int | None) -> None:
    """Cap this process's data segment and private mappings (where numpy and torch allocate) at ``memory_mb``."""
    if memory_mb:
        limit = int(memory_mb) << 20
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit if hard == resource.RLIM_INFINITY else min(limit, hard)))


def out_of_memory(exc: BaseException) -> bool:
    """A failed allocation: Python's ``MemoryError`` or torch's CPU/CUDA allocator error."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))


def too_large(memory_mb: int | None) -> TooLarge:
    limit = f"the worker's memory limit ({memory_mb} MB, WORKER_MEMORY_MB)" if memory_mb else "the available memory"
    return TooLarge(message=f"the job needed more than {limit}; try a smaller picture or size",
                    reason="memory", memory_mb=memory_mb)


def _send_error(events: Connection, serial: int, exc: EngineError) -> None:
    try:
        events.send(("failed", serial, exc))
    except Exception:  # details that do not pickle: keep the code and the text
        events.send(("failed", serial, EngineError(exc.code, str(exc))))


def worker_main(config: WorkerConfig, tasks: Connection, events: Connection, cancel_token: Any) -> None:
    """Run jobs from ``tasks`` until it closes or sends None. ``cancel_token.value == serial`` cancels that job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the pool decides
    began = time.perf_counter()
    limit_memory(config.memory_mb)
    limit_threads(config.threads)
    try:
        runner, preload = load_runner(config.runner)
    except BaseException as exc:  # noqa: BLE001 - report anything, the pool cannot see this process's stderr
        events.send(("init_failed", f"cannot load runner {config.runner!r}: {type(exc).__name__}: {exc}"))
        return
    limit_threads(config.threads)  # the runner's module may have imported torch just now
    preload_models(preload, config.preload, config.engine)
    events.send(("ready", os.getpid(), time.perf_counter() - began))

    while True:
        try:
            if not tasks.poll(IDLE_RELEASE_S):
                allocator.release_freed_memory()
            task = tasks.recv()
        except (EOFError, OSError):  # the pool is gone
            return
        if task is None:
            return
        serial, request = task
        events.send(("started", serial))

        def progress(done: int, total: int, _serial: int = serial) -> None:
            events.send(("progress", _serial, int(done), int(total)))

        def cancelled(_serial: int = serial) -> bool:
            return cancel_token.value == _serial

        t0 = time.perf_counter()
        try:
            result = runner(request, config.engine, progress, cancelled)
        except EngineError as exc:
            _send_error(events, serial, exc)
        except Exception as exc:
            if out_of_memory(exc):
                del exc  # its traceback holds the frames that hold the memory
                log.warning("job %s did not fit in %s MB; this worker exits to be replaced", serial,
                            config.memory_mb)
                events.send(("retiring", serial))  # before the outcome: the pool must not hand it another job
                _send_error(events, serial, too_large(config.memory_mb))
                return  # a fresh process, not one whose heap the failed job fragmented
            # a bug in the runner: tell the user something, keep the traceback in the log
            log.error("job %s failed unexpectedly:\n%s", serial, traceback.format_exc())
            _send_error(events, serial, InternalError(message=f"{type(exc).__name__}: {exc}"))
        else:
            events.send(("done", serial, result, time.perf_counter() - t0))
