"""The local worker pool: FIFO order, limits, cancellation, worker deaths, timeouts and the journal across restarts.

Most tests use ``tests.job_runners:sleepy`` (a runner that sleeps in steps and misbehaves on request) so the pool's
mechanics are checked in seconds; one test goes through the real engine on a genuine photo and weights.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from jobs import (
    Cancelled,
    Done,
    Failed,
    Job,
    JobSettings,
    Progress,
    QueueBusy,
    Queued,
    Started,
    make_executor,
)
from jobs import worker as worker_module
from jobs.eta import Estimator, queue_finish_times
from jobs.queue import Entry, JobQueue
from jobs.settings import gpu_count, plan_workers
from ml_models import errors, registry
from ml_models.api import JobRequest
from ml_models.settings import EngineSettings
from tests.conftest import IMAGES, REPO, WEIGHTS

pytestmark = pytest.mark.timeout(30)

SLEEPY = "tests.job_runners:sleepy"


def png(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


PNG = png()


def make_job(user: int, **options) -> Job:
    request = JobRequest("johnson", PNG, preset="mosaic", options=options)
    return Job(request, chat_id=user, user_id=user, content_file_id=f"file-{user}", meta={"status_message": user * 10})


def pool_settings(tmp_path: Path, **kw) -> JobSettings:
    base = dict(runner=SLEEPY, data_dir=tmp_path, workers=1, worker_threads=1,
                engine=EngineSettings(device="cpu"))
    base.update(kw)
    return JobSettings(**base)


@asynccontextmanager
async def running(settings: JobSettings, ready: bool = True):
    executor = make_executor(settings)
    await executor.start()
    try:
        if ready:
            await until(lambda: executor.stats()["workers_ready"] == executor.stats()["workers"], 20)
        yield executor
    finally:
        await executor.stop()


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def collect(handle, timeout: float = 15) -> list:
    async def run():
        return [event async for event in handle.events()]

    return await asyncio.wait_for(run(), timeout)


async def first(handle, kind, timeout: float = 15):
    async def run():
        async for event in handle.events():
            if isinstance(event, kind):
                return event
        raise AssertionError(f"{handle.job.id} ended without {kind.__name__}")

    return await asyncio.wait_for(run(), timeout)


# ---------------------------------------------------------------------------------------------- pure parts


def test_queue_limits_and_fair_order():
    queue = JobQueue(limit=3, user_queued_limit=1)
    entries = [Entry(make_job(u), None) for u in (1, 2, 3)]
    for position, entry in enumerate(entries, start=1):
        assert queue.push(entry) == position
    with pytest.raises(QueueBusy) as full:
        queue.check(4)
    assert (full.value.reason, full.value.position) == ("queue_full", 4)
    queue.remove(entries[2].job.id)
    with pytest.raises(QueueBusy) as mine:
        queue.check(1)
    assert (mine.value.reason, mine.value.position) == ("user_limit", 3)
    # user 1 is busy elsewhere: user 2 is next, without waiting behind user 1
    assert queue.next_ready(lambda user: user != 1) is entries[1]
    assert queue.position(entries[1].job.id) == 2


def test_eta_learns_and_simulates_workers():
    est = Estimator()
    guess = est.estimate("johnson", 1_000_000)
    est.observe("johnson", 1_000_000, 2.5)
    assert est.estimate("johnson", 1_000_000) == pytest.approx(2.5)
    assert est.estimate("johnson", 2_000_000) == pytest.approx(4.5)
    assert guess != pytest.approx(2.5)
    # two workers, one busy for 3 s more: queued jobs of 2 s each finish at 2, 4, 5
    assert queue_finish_times([3.0], [2.0, 2.0, 2.0], workers=2) == [2.0, 4.0, 5.0]


def test_worker_plan_without_torch():
    cuda = plan_workers(JobSettings(engine=EngineSettings(device="auto")), gpus=2, cores=16)
    assert [e.device for e in cuda.engines] == ["cuda:0", "cuda:1"] and cuda.threads == 8
    cpu = plan_workers(JobSettings(engine=EngineSettings(device="auto")), gpus=0, cores=4)
    assert [e.device for e in cpu.engines] == ["auto"] and cpu.threads == 4
    three = plan_workers(JobSettings(workers=3, engine=EngineSettings(device="cuda")), gpus=2, cores=6)
    assert [e.device for e in three.engines] == ["cuda:0", "cuda:1", "cuda:0"]
    assert all(e.torch_threads == 2 for e in three.engines)
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "-1"}) == 0


def test_settings_from_env():
    s = JobSettings.from_env({"EXECUTOR": "celery", "WORKERS": "2", "PRELOAD": "microast, johnson",
                              "REDIS_URL": "redis://h:1/0", "QUEUE_LIMIT": "5", "DEVICE": "cpu"})
    assert (s.executor, s.workers, s.preload, s.redis_url, s.queue_limit) == (
        "celery", 2, ("microast", "johnson"), "redis://h:1/0", 5)
    assert s.engine.device == "cpu"


def test_both_executors_satisfy_the_executor_protocol(tmp_path):
    from jobs import Executor, make_executor

    local = make_executor(JobSettings(data_dir=tmp_path))
    celery = make_executor(JobSettings(executor="celery", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path))
    assert isinstance(local, Executor) and isinstance(celery, Executor)
    assert not isinstance(object(), Executor)


def test_bot_side_imports_without_torch():
    code = ("import sys, jobs, jobs.pool, jobs.celery_executor, jobs.journal; "
            "from jobs import make_executor, JobSettings; make_executor(JobSettings()); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


# ---------------------------------------------------------------------------------------------- the pool


async def test_many_users_run_in_fifo_order(tmp_path, capsys):
    settings = pool_settings(tmp_path, queue_limit=10)
    t0 = time.monotonic()
    async with running(settings) as pool:
        start_s = time.monotonic() - t0
        handles = [await pool.submit(make_job(user, steps=2, step_s=0.02)) for user in range(1, 7)]
        started_order: list[int] = []

        async def follow(handle):
            events = []
            async for event in handle.events():
                events.append(event)
                if isinstance(event, Started):
                    started_order.append(handle.job.user_id)
            return events

        histories = await asyncio.wait_for(asyncio.gather(*(follow(h) for h in handles)), 20)
        assert started_order == [1, 2, 3, 4, 5, 6]
        for history in histories:
            assert isinstance(history[0], Queued) and isinstance(history[-1], Done)
            positions = [e.position for e in history if isinstance(e, Queued)]
            assert positions == sorted(positions, reverse=True) and positions[-1] == 1
            assert [e for e in history if isinstance(e, Progress)] == [Progress(1, 2), Progress(2, 2)]
        assert len({h.job.id for h in handles}) == 6
        assert (await handles[0].wait()).image == b"sleepy:" + PNG[:8]

        # overhead of the pool per job: no-op jobs back to back through one worker
        n = 20
        t1 = time.monotonic()
        for user in range(n):
            await (await pool.submit(make_job(100 + user, steps=0))).wait()
        overhead = (time.monotonic() - t1) / n
        stats = pool.stats()
        assert stats["done"] == 6 + n and stats["queue_length"] == 0 and stats["running"] == 0
        assert "johnson" in stats["median_seconds"]
    with capsys.disabled():
        print(f"\n[pool] worker start {stats['worker_start_seconds']:.2f} s (executor start to ready "
              f"{start_s:.2f} s), overhead per job {overhead * 1000:.1f} ms")
    assert overhead < 0.5


async def test_queue_full_and_user_limits(tmp_path):
    async with running(pool_settings(tmp_path, queue_limit=2, workers=2)) as pool:
        a1 = await pool.submit(make_job(1, steps=200))
        await first(a1, Started)
        a2 = await pool.submit(make_job(1, steps=1))  # a worker is free, but user 1 may run one job at a time
        with pytest.raises(QueueBusy) as mine:
            await pool.submit(make_job(1, steps=1))
        assert mine.value.reason == "user_limit"
        b = await pool.submit(make_job(2, steps=200))  # overtakes user 1's waiting job on the free worker
        await first(b, Started)
        assert pool.position(a2.job.id) == 1 and pool.position(b.job.id) == 0
        c = await pool.submit(make_job(3, steps=1))
        assert pool.position(c.job.id) == 2 and pool.eta(c.job.id) > 0
        with pytest.raises(QueueBusy) as full:
            await pool.submit(make_job(4))
        assert (full.value.reason, full.value.position) == ("queue_full", 3)
        assert await pool.cancel(1)
        assert isinstance((await collect(a1))[-1], Cancelled)
        assert isinstance((await collect(a2))[-1], Cancelled)
        assert isinstance((await collect(c))[-1], Done)  # user 3 got user 1's worker
        await pool.cancel(2)
        assert isinstance((await collect(b))[-1], Cancelled)
        assert not await pool.cancel(1)


async def test_cancel_queued_and_running(tmp_path):
    async with running(pool_settings(tmp_path)) as pool:
        running_job = await pool.submit(make_job(1, steps=400, step_s=0.05))
        waiting = await pool.submit(make_job(2, steps=1))
        await first(running_job, Progress)
        assert await pool.cancel(2)
        events = await collect(waiting, 1)
        assert len(events) == 2 and events[0].position == 1 and events[0].eta_s > 0 and events[1] == Cancelled()
        t = time.monotonic()
        assert await pool.cancel(1)
        events = await collect(running_job, 5)
        assert isinstance(events[-1], Cancelled) and time.monotonic() - t < 1.0  # at the next step boundary
        with pytest.raises(errors.Cancelled):
            await running_job.wait()
        after = await pool.submit(make_job(3, steps=1))
        assert isinstance((await collect(after))[-1], Done)
        assert pool.stats()["cancelled"] == 2


async def test_kill_9_fails_only_that_job(tmp_path, capsys):
    async with running(pool_settings(tmp_path)) as pool:
        victim = await pool.submit(make_job(1, steps=200))
        survivor = await pool.submit(make_job(2, steps=2))
        await first(victim, Progress)
        pid = pool.worker_pid(victim.job.id)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        failed = (await collect(victim))[-1]
        assert isinstance(failed, Failed) and failed.code == "worker_died", failed
        assert "signal 9" in failed.message
        await first(survivor, Started)
        recovery = time.monotonic() - killed_at
        result = await survivor.wait()
        assert result.info["pid"] != pid
        with pytest.raises(errors.EngineError) as died:
            await victim.wait()
        assert died.value.code == "worker_died"
        assert pool.stats()["workers_replaced"] == 1
    with capsys.disabled():
        print(f"\n[pool] kill -9 to the next job started on a new worker: {recovery:.2f} s")


async def test_self_crash_and_runner_bug(tmp_path):
    async with running(pool_settings(tmp_path)) as pool:
        crash = await pool.submit(make_job(1, mode="crash", crash_at=1))
        assert (await collect(crash))[-1].code == "worker_died"
        bug = await pool.submit(make_job(2, mode="bug"))
        failed = (await collect(bug))[-1]
        assert failed.code == "internal_error" and "ZeroDivisionError" in failed.message
        refused = await pool.submit(make_job(3, mode="error"))
        with pytest.raises(errors.BadRequest):
            await refused.wait()
        ok = await pool.submit(make_job(4, steps=1))
        await ok.wait()
        assert pool.stats()["workers_replaced"] == 1  # a runner exception does not cost the worker


async def test_timeout_replaces_worker(tmp_path):
    settings = pool_settings(tmp_path, timeout_scale=1.0 / registry.get("johnson").timeout_s)  # 1 s
    async with running(settings) as pool:
        runaway = await pool.submit(make_job(1, mode="hang"))
        nxt = await pool.submit(make_job(2, steps=1))
        t = time.monotonic()
        failed = (await collect(runaway))[-1]
        assert isinstance(failed, Failed) and failed.code == "timeout"
        assert 0.9 < time.monotonic() - t < 5
        assert isinstance((await collect(nxt))[-1], Done)


async def test_cancel_ignored_is_enforced(tmp_path):
    async with running(pool_settings(tmp_path, cancel_grace_s=0.5)) as pool:
        deaf = await pool.submit(make_job(1, mode="deaf", steps=400))
        await first(deaf, Progress)
        await pool.cancel(1)
        assert isinstance((await collect(deaf, 5))[-1], Cancelled)
        await (await pool.submit(make_job(2, steps=1))).wait()


async def test_broken_runner_fails_jobs_instead_of_hanging(tmp_path):
    async with running(pool_settings(tmp_path, runner="tests.job_runners:no_such_runner"), ready=False) as pool:
        failed = (await collect(await pool.submit(make_job(1)), 10))[-1]
    assert failed.code == "worker_unavailable" and "no_such_runner" in failed.message


async def test_preload_threads_and_device_reach_the_worker(tmp_path):
    async with running(pool_settings(tmp_path, preload=("johnson",), worker_threads=1)) as pool:
        result = await (await pool.submit(make_job(1, steps=1))).wait()
    assert result.info["preloaded"] == ["johnson"]
    assert result.info["threads"] == "1" and result.info["device"] == "cpu"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables")
@pytest.mark.parametrize("mode", ["reuse", "system"])
async def test_workers_start_with_the_allocator_setting(tmp_path, mode):
    """glibc reads its tunables when a process starts, so the pool puts them in its workers' environment."""
    engine = EngineSettings(device="cpu", allocator=mode)
    async with running(pool_settings(tmp_path, engine=engine)) as pool:
        result = await (await pool.submit(make_job(1, steps=1))).wait()
    assert result.info["allocator_tuned"] is (mode == "reuse")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables")
async def test_an_idle_worker_gives_freed_memory_back_and_busy_ones_keep_it(tmp_path):
    """With the tunables a freed block stays in the worker (no page faults for the next job) until it idles."""
    async with running(pool_settings(tmp_path)) as pool:
        first = await (await pool.submit(make_job(1, steps=1, hold_mb=96))).wait()
        at_once = await (await pool.submit(make_job(2, steps=1))).wait()
        await asyncio.sleep(worker_module.IDLE_RELEASE_S + 1.0)
        after_idle = await (await pool.submit(make_job(3, steps=1))).wait()
    assert first.info["rss_end_mb"] - first.info["rss_start_mb"] > 80  # freed, but held
    assert at_once.info["rss_start_mb"] > first.info["rss_start_mb"] + 80  # the next job still has it
    assert after_idle.info["rss_start_mb"] < at_once.info["rss_start_mb"] - 80  # given back once idle


async def test_inputs_refused_before_the_queue(tmp_path, monkeypatch):
    tiny = replace(registry.get("johnson"), id="tiny", cpu_pixel_budget=1000, default_max_side=32)
    monkeypatch.setitem(registry.MODELS, "tiny", tiny)
    engine = EngineSettings(device="cpu", max_input_pixels=50_000)
    async with running(pool_settings(tmp_path, engine=engine), ready=False) as pool:
        big = Job(JobRequest("johnson", png(300, 200)), chat_id=1, user_id=1)
        assert (await collect(await pool.submit(big), 1))[-1].code == "too_many_pixels"
        over = Job(JobRequest("tiny", png(64, 48)), chat_id=1, user_id=1)  # 32x24 = 768 px: fits
        assert isinstance((await collect(await pool.submit(over), 1))[0], Queued)
        hd = Job(JobRequest("tiny", png(64, 48), options={"size": "hd"}), chat_id=2, user_id=2)
        failed = (await collect(await pool.submit(hd), 1))[-1]
        assert failed.code == "too_large" and failed.details["limit"] == 1000
        bomb = Job(JobRequest("johnson", png_header(30_000, 30_000)), chat_id=3, user_id=3)
        assert (await collect(await pool.submit(bomb), 1))[-1].code == "too_many_pixels"
        assert pool.stats()["failed"] == 3


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims a size: enough for a header check, nothing to decode."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


async def test_restart_resumes_unfinished_jobs(tmp_path):
    settings = pool_settings(tmp_path)
    async with running(settings) as first_run:
        a = await first_run.submit(make_job(1, steps=10, step_s=0.05))
        b = await first_run.submit(make_job(2, steps=2, step_s=0.01))
        await first(a, Progress)
    # stop() without draining ended both handles as interrupted; the journal still owes them
    assert (await collect(a))[-1].code == "interrupted" and (await collect(b))[-1].code == "interrupted"

    async with running(settings) as second_run:
        left = await second_run.unfinished()
        assert [j.id for j in left] == [a.job.id, b.job.id]
        assert left[0].request.content == b"" and left[0].content_file_id == "file-1"
        assert left[0].meta == {"status_message": 10} and left[0].request.options["steps"] == 10
        assert left[0].request.preset == "mosaic" and left[0].user_id == 1
        handles = []
        for job in left:
            job.request.content = PNG  # the bot downloads it again by content_file_id
            handles.append(await second_run.resume(job))
        assert await second_run.unfinished() == []  # live jobs are not "unfinished"
        for handle in handles:
            assert (await handle.wait()).image.startswith(b"sleepy:")
    async with running(settings, ready=False) as third_run:
        assert await third_run.unfinished() == []
        assert third_run.stats()["done"] == 2


async def test_drain_lets_running_jobs_finish(tmp_path):
    settings = pool_settings(tmp_path)
    pool = make_executor(settings)
    await pool.start()
    job = await pool.submit(make_job(1, steps=10, step_s=0.05))
    await first(job, Started)
    await pool.stop(drain_seconds=10)
    assert isinstance((await collect(job))[-1], Done)
    with pytest.raises(QueueBusy) as stopping:
        await pool.submit(make_job(2))
    assert stopping.value.reason == "stopping"


# ---------------------------------------------------------------------------------------------- the real engine


async def test_real_engine_johnson_and_microast(tmp_path):
    """Genuine weights through the pool: a preset model and an arbitrary-style model, in one long-lived worker."""
    photo, style = IMAGES / "content" / "chicago.jpg", IMAGES / "style" / "mosaic.jpg"
    needed = [WEIGHTS / "johnson" / "mosaic_nc16.pth", WEIGHTS / "microast", photo, style]
    if not all(p.exists() for p in needed):
        pytest.skip(f"shared test data not found: {[str(p) for p in needed if not p.exists()]}")

    def small_jpeg(path: Path, side: int) -> tuple[bytes, tuple[int, int]]:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=90)
            return buf.getvalue(), img.size

    content, size = small_jpeg(photo, 192)
    style_bytes, _ = small_jpeg(style, 128)
    engine = EngineSettings(weights_dir=WEIGHTS, styles_dir=WEIGHTS / "styles", device="cpu")
    settings = JobSettings(runner="ml_models.engine:run", data_dir=tmp_path, workers=1, engine=engine)
    async with running(settings) as pool:
        johnson = Job(JobRequest("johnson", content, preset="mosaic"), chat_id=1, user_id=1)
        microast = Job(JobRequest("microast", content, styles=[style_bytes], style_weights=[1.0]), chat_id=2,
                       user_id=2)
        histories = [await collect(await pool.submit(job), 25) for job in (johnson, microast)]
        stats = pool.stats()
    for history in histories:
        assert isinstance(history[-1], Done), history[-1]
        assert any(isinstance(e, Started) for e in history) and any(isinstance(e, Progress) for e in history)
        result = history[-1].result
        assert (result.width, result.height) == size and result.info["device"] == "cpu"
        with Image.open(io.BytesIO(result.image)) as out:
            assert out.size == size
    assert stats["workers_replaced"] == 0 and set(stats["median_seconds"]) == {"johnson", "microast"}
