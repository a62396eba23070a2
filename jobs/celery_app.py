"""The Celery application for GPU worker hosts: ``celery -A jobs.celery_app worker --pool solo -Q styles``.

One worker process per GPU, ``--pool solo`` and ``--concurrency 1``: the task runs in the worker's main process, which
keeps its models loaded between tasks and never forks after CUDA is initialised.

Delivery guarantees: ``acks_late`` plus Redis's ``visibility_timeout`` mean a task whose worker is killed is not lost:
its message stays unacknowledged and Redis hands it to a worker again once the timeout has passed
(``task_reject_on_worker_lost`` does the same at once for pools with child processes). Because a task may therefore
run more than once, each delivery is counted in Redis (``max_attempts``, so an input that crashes every worker fails
as ``worker_died`` instead of looping) and a finished task is marked so a stale redelivery is dropped.

Serialization is JSON only, on both sides (``accept_content=["json"]``): a message or result in pickle is refused,
never unpickled, so whoever can write to the Redis cannot run code on the workers or on the bot. Images travel as raw
bytes under their own Redis keys (``jobs.wire``). TLS (``rediss://``) verifies the server's certificate by default;
``REDIS_CA_CERT`` names the provider's CA file, and ``REDIS_SSL_CERT_REQS=none`` is the operator's explicit choice.

Cancellation: ``revoke(terminate=True)`` cannot interrupt the solo pool, so the bot sets a Redis key that the task's
``cancelled`` callback polls at step and tile boundaries. Time limits are enforced here too (Celery's own need a pool
with child processes): past the model's limit the job is cancelled cooperatively, and if it does not stop within a
grace period the outcome is stored and the worker exits, to be restarted by its supervisor. A job that runs out of
memory (``WORKER_MEMORY_MB``) fails as ``too_large`` and the worker then shuts down warmly to be restarted fresh.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import Ignore

from ml_models import allocator, errors, registry
from ml_models.settings import EngineSettings

from . import wire
from .job import InternalError, JobTimeout, WorkerDied
from .runner import Runner, limit_threads, load_runner, preload_models
from .settings import JobSettings, plan_workers
from .wire import ssl_options
from .worker import limit_memory, out_of_memory, too_large

log = logging.getLogger("jobs.celery")

TASK_NAME = "jobs.run"
KEY_PREFIX = "jobs"
MARK_TTL_S = 24 * 3600
TIMEOUT_GRACE_S = 15.0
PROGRESS_EVERY_S = 0.25
CANCEL_POLL_S = 0.5


def key(kind: str, job_id: str) -> str:
    """Redis keys shared by the bot and the workers: ``cancel``, ``attempts`` and ``final``."""
    return f"{KEY_PREFIX}:{kind}:{job_id}"


def configure(app: Celery, settings: JobSettings) -> Celery:
    visibility = settings.visibility_timeout
    transport = {
        "visibility_timeout": visibility,
        # sweep for abandoned messages a few times per visibility timeout (kombu's default is every ~100 s)
        "unacked_restore_interval": max(1, min(10, visibility // 5)),
        "unacked_restore_throttle": 1,
    }
    tls = ssl_options(settings.redis_url, settings.redis_ssl_cert_reqs, settings.redis_ca_cert)
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        broker_use_ssl=tls,
        redis_backend_use_ssl=tls,
        broker_transport_options=transport,
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],  # pickle from the broker would run its writer's code here
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=False,  # the task reports STARTED itself, after its duplicate checks
        worker_prefetch_multiplier=1,
        task_default_queue=settings.celery_queue,
        task_routes={TASK_NAME: {"queue": settings.celery_queue}},
        result_expires=6 * 3600,  # the bot deletes a result as soon as it has read it
        worker_hijack_root_logger=False,
    )
    return app


def make_app(settings: JobSettings) -> Celery:
    return configure(Celery("jobs", set_as_current=False), settings)


# ---------------------------------------------------------------------------------------------- worker side

@dataclass
class _WorkerState:
    settings: JobSettings
    engine: EngineSettings
    runner: Runner
    redis: Any
    retire: bool = False  # a job ran out of memory: finish this task, then exit to be restarted fresh


_state: _WorkerState | None = None
_state_lock = threading.Lock()


def worker_state() -> _WorkerState:
    """This worker process's settings, runner and Redis client, made once (models stay cached in the engine)."""
    global _state
    with _state_lock:
        if _state is None:
            import redis

            settings = JobSettings.from_env()
            plan = plan_workers(replace(settings, workers=1))
            limit_memory(plan.memory_mb)  # WORKER_MEMORY_MB: a job that does not fit fails as too_large
            limit_threads(plan.threads)
            runner, preload = load_runner(settings.runner)
            limit_threads(plan.threads)
            engine = plan.engines[0]
            preload_models(preload, settings.preload, engine)
            tls = ssl_options(settings.redis_url, settings.redis_ssl_cert_reqs, settings.redis_ca_cert)
            client = redis.Redis.from_url(settings.redis_url, **(tls or {}))
            _state = _WorkerState(settings, engine, runner, client)
            log.info("celery worker ready: runner %s on %s with %d thread(s)", settings.runner, engine.device,
                     plan.threads)
        return _state


class JobTask(Task):
    acks_late = True
    reject_on_worker_lost = True

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # The result is stored by now: a redelivery of this message (worker killed before the ack) is dropped.
        if isinstance(retval, dict) and "status" in retval:
            worker_state().redis.set(key("final", task_id), retval["status"], ex=MARK_TTL_S)
        if worker_state().retire:  # warm shutdown: this task is acknowledged first, then the supervisor restarts us
            log.warning("worker exits after a job that ran out of memory; its supervisor starts a fresh one")
            os.kill(os.getpid(), signal.SIGTERM)


def execute(task: Task, job_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run one delivery of a job; returns a ``jobs.wire`` outcome (done with the image stored, failed, cancelled)."""
    state = worker_state()
    r, settings = state.redis, state.settings
    if r.exists(key("final", job_id)):
        raise Ignore()  # finished by an earlier delivery
    attempts = r.incr(key("attempts", job_id))
    r.expire(key("attempts", job_id), MARK_TTL_S)
    if attempts > settings.max_attempts:
        return wire.failed(WorkerDied(message=f"workers died {attempts - 1} times running this job; giving up",
                                      attempts=attempts - 1))
    if r.exists(key("cancel", job_id)):
        return wire.CANCELLED
    try:
        request = wire.get_request(r, job_id, data)
    except (ValueError, KeyError, TypeError) as exc:
        return wire.failed(InternalError(message=f"cannot read the job: {exc}"))
    spec = registry.MODELS.get(request.model)
    limit = (spec.timeout_s if spec else 600.0) * settings.timeout_scale
    hold = max(1, min(int(limit + TIMEOUT_GRACE_S) + 5, settings.visibility_timeout - 1))  # a dead worker's expires
    if not r.set(key("running", job_id), os.getpid(), nx=True, ex=hold):
        raise Ignore()  # a redelivery while another worker still runs it: never one job twice at once
    task.update_state(state="STARTED", meta={"attempt": attempts, "pid": os.getpid()})
    finished, timed_out = threading.Event(), threading.Event()
    outcome_holder: list[dict[str, Any]] = []

    def watchdog() -> None:
        if finished.wait(limit):
            return
        timed_out.set()  # the runner stops at its next step boundary
        if finished.wait(TIMEOUT_GRACE_S):
            return
        log.error("job %s ignores its time limit; storing the timeout and restarting the worker", job_id)
        outcome = wire.failed(JobTimeout(message=f"the job ran longer than {limit:.0f} s and was stopped"))
        task.backend.store_result(job_id, outcome, "SUCCESS")
        r.set(key("final", job_id), "failed", ex=MARK_TTL_S)
        os._exit(70)  # the supervisor (systemd, a container restart policy, ...) starts a fresh worker

    threading.Thread(target=watchdog, name=f"watchdog-{job_id}", daemon=True).start()
    last = {"progress": 0.0, "poll": 0.0, "cancelled": False}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last["progress"] >= PROGRESS_EVERY_S:
            last["progress"] = now
            task.update_state(state="PROGRESS", meta={"done": int(done), "total": int(total)})

    def cancelled() -> bool:
        if timed_out.is_set():
            return True
        now = time.monotonic()
        if not last["cancelled"] and now - last["poll"] >= CANCEL_POLL_S:
            last["poll"] = now
            last["cancelled"] = bool(r.exists(key("cancel", job_id)))
        return bool(last["cancelled"])

    try:
        result = state.runner(request, state.engine, progress, cancelled)
    except errors.Cancelled as exc:
        if timed_out.is_set():
            outcome_holder.append(wire.failed(JobTimeout(message=f"the job ran longer than {limit:.0f} s and was "
                                                             "stopped", limit_s=limit)))
        else:
            outcome_holder.append(wire.CANCELLED if last["cancelled"] else wire.failed(exc))
    except errors.EngineError as exc:
        outcome_holder.append(wire.failed(exc))
    except Exception as exc:
        if out_of_memory(exc):
            del exc  # its traceback holds the frames that hold the memory
            log.warning("job %s did not fit in the worker's memory", job_id)
            state.retire = True
            outcome_holder.append(wire.failed(too_large(plan_workers(replace(settings, workers=1)).memory_mb)))
        else:
            log.exception("job %s failed unexpectedly", job_id)
            outcome_holder.append(wire.failed(InternalError(message=f"{type(exc).__name__}: {exc}")))
    else:
        outcome_holder.append(wire.done(r, job_id, result))
    finally:
        finished.set()
        r.delete(key("running", job_id))
        allocator.release_freed_memory()  # the job's freed memory back to the OS (see ml_models.allocator)
    return outcome_holder[0]


app_settings = JobSettings.from_env()  # the environment of this worker host, read once at import
app = make_app(app_settings)


@app.task(name=TASK_NAME, bind=True, base=JobTask)
def run_job(self: Task, job_id: str, request: dict[str, Any]) -> dict[str, Any]:
    return execute(self, job_id, request)


@signals.worker_init.connect
def _load_at_start(**_: Any) -> None:
    """Import the runner (torch) and preload models before the worker takes its first task."""
    if app_settings.redis_url:
        worker_state()
