"""Admission by estimated wait: "busy" means a long wait (``QUEUE_MAX_WAIT``), not a count (``QUEUE_LIMIT``).

A scheduler whose one worker never frees keeps every job queued, so the estimated wait of the next job is the sum of
the estimates before it (the ETA model's defaults: no job has finished here).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from jobs import Job, JobSettings, QueueBusy
from jobs.eta import Estimator
from jobs.queue import Entry
from jobs.scheduler import Scheduler
from ml_models.api import JobRequest


class ParkedScheduler(Scheduler):
    """One worker that is always busy: jobs stay queued and nothing runs."""

    def _has_capacity(self) -> bool:
        return False

    def _dispatch(self, entry: Entry) -> None:
        raise AssertionError("nothing is dispatched")

    async def _cancel_active(self, entry: Entry) -> None:
        return None


def photo(side: int = 320) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side * 3 // 4), (120, 60, 30)).save(buf, "JPEG")
    return buf.getvalue()


def job(user: int) -> Job:
    return Job(JobRequest(model="johnson", content=photo(), preset="mosaic"), chat_id=user, user_id=user)


async def admitted(settings: JobSettings, users: int) -> tuple[int, list[QueueBusy]]:
    scheduler = ParkedScheduler(settings)
    await scheduler.start()
    refused = []
    try:
        for user in range(users):
            try:
                await scheduler.submit(job(user))
            except QueueBusy as busy:
                refused.append(busy)
    finally:
        await scheduler.stop()
    return users - len(refused), refused


@pytest.fixture
def settings(tmp_path: Path) -> JobSettings:
    return JobSettings(data_dir=tmp_path)


def test_the_defaults_admit_fifty_quick_jobs(settings: JobSettings) -> None:
    import asyncio

    count, refused = asyncio.run(admitted(settings, 50))  # about 1 s each: 50 s of waiting at most
    assert count == 50 and not refused


async def test_jobs_are_refused_once_the_estimated_wait_passes_the_limit(settings: JobSettings) -> None:
    each = Estimator().estimate("johnson", 320 * 240)
    count, refused = await admitted(replace(settings, queue_max_wait=10 * each), 30)
    assert count == 11  # the 11th waits exactly 10 estimates; the 12th would wait longer
    assert {b.reason for b in refused} == {"long_wait"} and refused[0].wait_s == pytest.approx(11 * each, rel=0.01)


async def test_the_count_limit_stays_as_a_memory_bound(settings: JobSettings) -> None:
    count, refused = await admitted(replace(settings, queue_limit=5, queue_max_wait=0), 8)
    assert count == 5 and {b.reason for b in refused} == {"queue_full"}


def test_queue_max_wait_is_read_from_the_environment() -> None:
    assert JobSettings.from_env({"QUEUE_MAX_WAIT": "45"}).queue_max_wait == 45.0
    assert JobSettings.from_env({}).queue_max_wait == 120.0 and JobSettings.from_env({}).queue_limit == 100
