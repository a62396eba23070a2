"""Bounded resources in the bot process: downloads in flight, queued pictures in RAM, updates per user, disk, and
statistics that never wait on the journal."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from dialogue import ImageRef
from jobs import Done, make_executor
from jobs.spool import InputSpool
from middlewares.throttling import Throttling
from services.cleanup import sweep
from services.file_store import FileStore
from tests.test_bot_e2e import TOKEN, BotAPIServer, Person
from tests.test_delivery import FAST, started
from tests.test_jobs_pool import PNG, make_job, pool_settings

# ------------------------------------------------------------------------------------------------ downloads


async def test_downloads_in_flight_never_exceed_the_cap(tmp_path: Path) -> None:
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
    try:
        user = emulator.user(9001)
        refs = []
        for i in range(12):
            sent = await user.send_document(bytes([i]) * 400_000, f"f{i}.bin")
            doc = sent.media["document"]
            refs.append(ImageRef(file_id=doc["file_id"], unique_id=doc["file_unique_id"]))
        capped = FileStore(tmp_path, downloads=2)
        data = await asyncio.gather(*(capped.read(bot, ref) for ref in refs))
        assert [d[:1] for d in data] == [bytes([i]) for i in range(12)] and all(len(d) == 400_000 for d in data)
        assert capped.downloading_peak == 2 and capped.downloading == 0
        free = FileStore(tmp_path, downloads=100, limit_bytes=0)  # the same reads without a cap overlap more
        await asyncio.gather(*(free.read(bot, ref) for ref in refs))
        assert free.downloading_peak > 2
    finally:
        await bot.session.close()
        await emulator.stop()


# ------------------------------------------------------------------------------------------------ queued inputs


def test_the_spool_keeps_bytes_past_the_budget_on_disk(tmp_path: Path) -> None:
    spool = InputSpool(tmp_path / "spool", budget_bytes=len(PNG) + 10)
    first, second = make_job(1), make_job(2)
    second.request.styles = [b"style-one", b""]
    spool.hold(first)
    spool.hold(second)
    assert spool.in_memory == len(PNG) and spool.on_disk == 1
    assert second.request.content == b"" and second.request.styles == [b"", b""]
    spool.take(second)
    assert second.request.content == PNG and second.request.styles == [b"style-one", b""]
    assert not list((tmp_path / "spool").iterdir())
    spool.drop(first.id)
    assert spool.in_memory == 0


async def test_queued_pictures_past_the_budget_wait_on_disk_and_reach_the_worker(tmp_path: Path) -> None:
    settings = pool_settings(tmp_path, input_memory_bytes=len(PNG), queue_limit=10)
    executor = make_executor(settings)
    await executor.start()
    try:
        jobs = [make_job(user, steps=4, step_s=0.1) for user in (1, 2, 3, 4)]
        handles = [await executor.submit(job) for job in jobs]
        stats = executor.stats()
        assert stats["inputs_on_disk"] >= 1 and stats["inputs_in_memory_bytes"] <= len(PNG)
        assert jobs[-1].request.content == b""  # the last one waits on disk, not in the bot's memory
        results = [await asyncio.wait_for(handle.wait(), 60) for handle in handles]
        assert all(result.image == b"sleepy:" + PNG[:8] for result in results)  # the worker got the real bytes
        assert executor.stats()["inputs_on_disk"] == 0 and executor.stats()["inputs_in_memory_bytes"] == 0
        assert all(isinstance(h.last_event, Done) for h in handles)
    finally:
        await executor.stop()


# ------------------------------------------------------------------------------------------------ statistics


async def test_stats_answer_while_the_journal_is_locked(tmp_path: Path) -> None:
    """/healthz and /stats read counters in memory: a journal busy in another process does not stall the loop."""
    executor = make_executor(pool_settings(tmp_path))
    await executor.start()
    locker = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None)
    try:
        handle = await executor.submit(make_job(5))
        await asyncio.wait_for(handle.wait(), 60)
        locker.execute("BEGIN EXCLUSIVE")
        t0 = time.perf_counter()
        stats = executor.stats()
        assert time.perf_counter() - t0 < 0.5
        assert stats["done"] == 1 and "johnson" in stats["median_seconds"]
        locker.execute("ROLLBACK")
    finally:
        locker.close()
        await executor.stop()


# ------------------------------------------------------------------------------------------------ throttling


def test_the_bucket_allows_a_burst_then_the_rate_and_warns_once() -> None:
    throttle = Throttling(rate=2.0, burst=3)
    verdicts = [throttle.allow(1, now=100.0) for _ in range(6)]
    assert verdicts == [(True, False)] * 3 + [(False, True), (False, False), (False, False)]
    assert throttle.allow(2, now=100.0) == (True, False)  # other users are not affected
    assert throttle.allow(1, now=100.5) == (True, False)  # half a second at 2/s: one more
    assert throttle.allow(1, now=100.5) == (False, True)  # warned again after an allowed update


async def test_a_flooding_user_is_told_once_then_ignored(tmp_path: Path) -> None:
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    bot = None
    try:
        bot = await started(emulator, tmp_path / "bot", **FAST, THROTTLE_RATE="0.5", THROTTLE_BURST="3",
                            DATA_DIR=str(tmp_path / "data"))
        kim = Person(emulator, 9101, language="ru", name="Kim")
        for _ in range(12):
            await kim.say("/help")
        await asyncio.sleep(2.0)
        replies = [m.plain_text for m in emulator.bot_messages(kim.chat)]
        told = [text for text in replies if "слишком быстро" in text]
        assert len(told) == 1, replies
        assert len(replies) <= 3 + 1 + 1, replies  # the burst, the notice, at most one refill in two seconds
        assert await bot.stop() == 0, bot.log()
    finally:
        if bot is not None:
            await bot.stop()
        await emulator.stop()


# ------------------------------------------------------------------------------------------------ disk


def test_cleanup_removes_old_results_and_frees_space(tmp_path: Path) -> None:
    results, thumbs = tmp_path / "results", tmp_path / "thumbs"
    results.mkdir()
    thumbs.mkdir()
    now = time.time()
    for folder, name, age_days in ((results, "1-3.png", 8), (results, "2-1.jpg", 1), (thumbs, "t.jpg", 30),
                                   (results, "3-9.jpg", 2)):
        path = folder / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    done = sweep([results, thumbs], ttl_s=7 * 86400, min_free_mb=0, now=now)
    assert (done.expired, done.for_space) == (2, 0)
    assert sorted(p.name for p in results.iterdir()) == ["2-1.jpg", "3-9.jpg"] and not list(thumbs.iterdir())
    starved = sweep([results, thumbs], ttl_s=7 * 86400, min_free_mb=10**12, now=now)  # never enough free space
    assert (starved.expired, starved.for_space) == (0, 2) and not list(results.iterdir())
