"""The Celery/Redis scale-out against a real redis-server and real ``celery worker`` processes.

Each test uses its own queue name and its own workers, so a worker of one test never takes another test's task.
The workers run ``tests.job_runners:sleepy`` with a 5 s visibility timeout, so a task whose worker is killed is
delivered again within seconds instead of an hour.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest
from PIL import Image

from jobs import Cancelled, Done, Failed, Job, JobSettings, Progress, Started, make_executor
from ml_models.api import JobRequest
from ml_models.settings import EngineSettings
from tests.conftest import REPO
from tests.redis_server import redis_server

pytestmark = pytest.mark.timeout(60)

REDIS_SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                                else None)
if REDIS_SERVER is None:
    pytest.skip("redis-server is not installed (Debian package redis-server; CI installs it)", allow_module_level=True)

VISIBILITY_S = 5
TIMEOUT_SCALE = 1 / 120  # microast's 120 s limit becomes 1 s; upscale's 900 s becomes 7.5 s


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


class Workers:
    """Real ``celery worker`` processes for one test, stopped at its end."""

    def __init__(self, redis_url: str, queue: str, logs: Path) -> None:
        self.redis_url, self.queue, self.logs = redis_url, queue, logs
        self.procs: list[subprocess.Popen] = []

    def start(self) -> tuple[subprocess.Popen, float]:
        n = len(self.procs)
        log = self.logs / f"worker{n}.log"
        env = {**os.environ, "REDIS_URL": self.redis_url, "JOB_RUNNER": "tests.job_runners:sleepy",
               "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S), "CELERY_QUEUE": self.queue, "DEVICE": "cpu",
               "WORKER_THREADS": "1", "JOB_TIMEOUT_SCALE": str(TIMEOUT_SCALE), "PRELOAD": "microast",
               "PYTHONPATH": str(REPO),
               "C_FORCE_ROOT": "1"}  # CI runs as root; Celery refuses pickle under root without it
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "jobs.celery_app", "worker", "--pool", "solo", "--concurrency",
             "1", "-Q", self.queue, "-n", f"w{n}-{self.queue}@%h", "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = t0 + 30
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        return proc, time.monotonic() - t0

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def queue_name() -> str:
    return f"styles-{uuid4().hex[:8]}"


@pytest.fixture
def workers(redis_url, queue_name, tmp_path):
    pool = Workers(redis_url, queue_name, tmp_path)
    yield pool
    pool.stop()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 90)).save(buf, "PNG")
    return buf.getvalue()


def make_job(user: int, model: str = "upscale", **options) -> Job:
    preset = "general" if model == "upscale" else None
    return Job(JobRequest(model, _png(), preset=preset, options=options), chat_id=user, user_id=user)


def executor_settings(redis_url: str, queue: str, data_dir: Path) -> JobSettings:
    return JobSettings(executor="celery", redis_url=redis_url, celery_queue=queue, data_dir=data_dir,
                       visibility_timeout=VISIBILITY_S, poll_interval=0.1, engine=EngineSettings(device="cpu"))


async def collect(handle, timeout: float) -> list:
    async def run():
        return [event async for event in handle.events()]

    return await asyncio.wait_for(run(), timeout)


async def first(handle, kind, timeout: float):
    async def run():
        async for event in handle.events():
            if isinstance(event, kind):
                return event
        raise AssertionError(f"ended without {kind.__name__}")

    return await asyncio.wait_for(run(), timeout)


async def test_job_runs_on_a_celery_worker(redis_url, workers, queue_name, tmp_path, capsys):
    worker, start_s = workers.start()
    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path))
    await executor.start()
    try:
        handle = await executor.submit(make_job(1, steps=6, step_s=0.15))
        events = await collect(handle, 20)
        assert isinstance(events[-1], Done), events[-1]
        assert any(isinstance(e, Started) for e in events)
        progress = [e for e in events if isinstance(e, Progress)]
        assert progress and all(p.total == 6 for p in progress)  # polled: some steps are seen, in order
        assert [p.done for p in progress] == sorted({p.done for p in progress})
        result = events[-1].result
        assert result.info["pid"] == worker.pid and result.info["preloaded"] == ["microast"]
        assert result.info["device"] == "cpu" and result.info["threads"] == "1"

        # cancellation of a running task goes through a Redis key the worker polls
        running = await executor.submit(make_job(2, steps=200, step_s=0.05))
        await first(running, Progress, 15)
        assert await executor.cancel(2)
        assert isinstance((await collect(running, 10))[-1], Cancelled)

        # errors keep their type and code through the result backend; timeouts are enforced by the worker
        refused = await executor.submit(make_job(3, mode="error"))
        assert (await collect(refused, 10))[-1].code == "bad_request"
        slow = await executor.submit(make_job(4, model="microast", steps=100, step_s=0.05))
        failed = (await collect(slow, 15))[-1]
        assert isinstance(failed, Failed) and failed.code == "timeout", failed
        stats = executor.stats()
        assert (stats["done"], stats["cancelled"], stats["failed"]) == (1, 1, 2)
    finally:
        await executor.stop()
    with capsys.disabled():
        print(f"\n[celery] worker start to ready: {start_s:.2f} s")


async def test_killed_worker_task_is_delivered_again(redis_url, workers, queue_name, tmp_path, capsys):
    first_worker, _ = workers.start()
    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path))
    await executor.start()
    try:
        handle = await executor.submit(make_job(1, steps=10, step_s=0.2))
        await first(handle, Progress, 15)
        killed_at = time.monotonic()
        os.kill(first_worker.pid, signal.SIGKILL)
        first_worker.wait(5)
        second_worker, _ = workers.start()
        events = await collect(handle, 40)
        recovered = time.monotonic() - killed_at
        assert isinstance(events[-1], Done), events[-1]
        assert events[-1].result.info["pid"] == second_worker.pid
    finally:
        await executor.stop()
    with capsys.disabled():
        print(f"\n[celery] kill -9 to result from a new worker: {recovered:.1f} s (visibility timeout "
              f"{VISIBILITY_S} s, job 2 s)")


async def test_restart_follows_tasks_already_on_workers(redis_url, workers, queue_name, tmp_path):
    workers.start()
    settings = executor_settings(redis_url, queue_name, tmp_path)
    before = make_executor(settings)
    await before.start()
    handle = await before.submit(make_job(1, steps=8, step_s=0.1))
    await first(handle, Started, 15)
    await before.stop()  # the task keeps running on the worker
    after = make_executor(settings)
    await after.start()
    try:
        (job,) = await after.unfinished()
        assert job.id == handle.job.id and job.request.content == b""
        job.request.content = _png()
        events = await collect(await after.resume(job), 20)
        assert isinstance(events[-1], Done)
        assert await after.unfinished() == []
    finally:
        await after.stop()


async def test_a_job_another_worker_holds_is_not_run_again(redis_url, workers, queue_name, tmp_path) -> None:
    """A delivery of a job whose per-job mark is held (a redelivery while the first worker still runs it) is dropped;
    the worker goes on with other jobs."""
    import redis

    from jobs.celery_app import key

    workers.start()
    client = redis.Redis.from_url(redis_url)
    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path))
    await executor.start()
    try:
        held = make_job(1, steps=2)
        client.set(key("running", held.id), "another worker", ex=60)
        handle = await executor.submit(held)
        other = await executor.submit(make_job(2, steps=2))
        assert isinstance((await collect(other, 20))[-1], Done)  # the worker took both messages, ran one
        await asyncio.sleep(1.0)
        assert not any(isinstance(event, Started | Done) for event in handle._events)
        log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker*.log"))
        assert f"{held.id}] ignored" in log, log[-2000:]
    finally:
        await executor.stop()
        client.close()



async def test_a_users_running_limit_holds_across_replicas(redis_url, workers, queue_name, tmp_path) -> None:
    """Two bot replicas (two executors on one Redis) and two free workers: the user's second job, accepted by the
    other replica, waits until the first one ends instead of running beside it."""
    from dataclasses import replace

    async def timed(handle) -> list[tuple[float, object]]:
        return [(time.monotonic(), event) async for event in handle.events()]

    workers.start()
    workers.start()
    settings = executor_settings(redis_url, queue_name, tmp_path)
    a = make_executor(replace(settings, replica_id="a", data_dir=tmp_path / "a"))
    b = make_executor(replace(settings, replica_id="b", data_dir=tmp_path / "b"))
    await a.start()
    await b.start()
    try:
        first_job = await a.submit(make_job(1, steps=20, step_s=0.1))
        await first(first_job, Started, 15)
        second_job = await b.submit(make_job(1, steps=2))  # two in flight are allowed, one running
        first_events, second_events = await asyncio.wait_for(
            asyncio.gather(timed(first_job), timed(second_job)), 30)
        assert isinstance(first_events[-1][1], Done) and isinstance(second_events[-1][1], Done)
        first_done = first_events[-1][0]
        second_started = next(t for t, e in second_events if isinstance(e, Started))
        assert second_started >= first_done - 0.05, (second_started - first_done)
    finally:
        await a.stop()
        await b.stop()
