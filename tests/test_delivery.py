"""No lost results, no false promises: the real bot (``main.py``) against the emulator, with a stand-in runner.

A result Telegram did not take stays "done, not delivered" in the journal and reaches the user after a restart; a
restart only promises to finish a picture when the journal survives it (Redis, or a disk that is not a dyno's).
The workers run ``tests.job_runners:painter`` (a real PNG back, no torch), so these tests take seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import start_redis
from tests.test_bot_e2e import TOKEN, BotAPIServer, BotProcess, Person, has, picture, size_of

FAST = {"JOB_RUNNER": "tests.job_runners:painter", "PRELOAD": "", "PAINTER_STEPS": "2", "PAINTER_STEP_S": "0.1"}
SLOW = {**FAST, "PAINTER_STEPS": "60", "PAINTER_STEP_S": "0.5"}


async def started(emulator: Any, workdir: Path, **env: str) -> BotProcess:
    before = len(emulator.calls_to("setMyCommands"))
    process = await BotProcess.start(emulator, workdir, **env)
    try:
        await emulator.wait_until(lambda: len(emulator.calls_to("setMyCommands")) > before, 60)
    except TimeoutError:
        await process.stop()
        pytest.fail("the bot did not start:\n" + process.log())
    return process


async def order_mosaic(person: Person, side: int = 128) -> bytes:
    """Ready styles -> Mosaic -> a photo; returns the photo sent."""
    await person.say("/start")
    await person.press(await person.reply_with_button("Ready styles"), "Ready styles")
    await person.press(await person.reply_with_button("Mosaic"), "Mosaic")
    await person.reply(has("send me the photo"))
    content = picture("chicago.jpg", side)
    await person.user.send_photo(content)
    return content


def results(emulator: Any, person: Person) -> list[Any]:
    """Results sent to this person (pictures with buttons; the style picker's album has none)."""
    return [m for m in emulator.bot_messages(person.chat) if m.kind in ("photo", "document") and m.buttons]


@pytest.fixture
def emulator_env(tmp_path: Path) -> dict[str, str]:
    from tests.test_bot_e2e import IMAGES, WEIGHTS

    if not (WEIGHTS / "johnson").is_dir() or not (IMAGES / "content").is_dir():
        pytest.skip("the shared weights/images folder is not beside the repository (johnson is offered only when "
                    "its weights are installed)")
    return {**FAST, "DATA_DIR": str(tmp_path / "data")}


async def test_a_result_telegram_refused_is_delivered_after_a_restart(emulator_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    first = second = None
    try:
        first = await started(emulator, tmp_path / "one", **emulator_env)
        for method in ("sendPhoto", "sendDocument"):  # Telegram refuses the upload, again and again
            emulator.inject_error(method, 400, "Bad Request: injected failure", times=100)
        eve = Person(emulator, 6001, name="Eve")
        content = await order_mosaic(eve)
        await eve.reply(has("Telegram did not take it"), timeout=60)
        assert not results(emulator, eve)
        assert await first.stop() == 0, first.log()

        emulator.api.faults.clear()
        mark = emulator.seq
        second = await started(emulator, tmp_path / "two", **emulator_env)
        result = await eve.reply(lambda m: m.kind == "photo" and m.buttons, timeout=30, since=mark)
        assert size_of(emulator.file_bytes(result)) == size_of(content) and "Mosaic" in result.plain_text
        assert await second.stop() == 0, second.log()
        assert "delivered 1 result(s) left undelivered" in second.log(200), second.log(200)

        third = await started(emulator, tmp_path / "three", **emulator_env)  # delivered means delivered: once
        await third.stop()
        assert len(results(emulator, eve)) == 1
    finally:
        for process in (first, second):
            if process is not None:
                await process.stop()
        await emulator.stop()


async def test_a_dyno_without_redis_never_promises_a_resume(emulator_env: dict[str, str], tmp_path: Path) -> None:
    """DYNO set and no REDIS_URL: the SQLite journal is wiped with the dyno, so the user is asked to send again."""
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    bot = None
    try:
        bot = await started(emulator, tmp_path / "one", **{**emulator_env, **SLOW, "DYNO": "web.1",
                                                             "DRAIN_SECONDS": "0"})
        fay = Person(emulator, 6002, name="Fay")
        await order_mosaic(fay)
        status = await fay.reply(has("Working"), timeout=60)
        assert await bot.stop() == 0, bot.log()
        told = emulator.message(fay.chat, status.message_id).plain_text
        assert "send your request again" in told and "will be finished" not in told, told
    finally:
        if bot is not None:
            await bot.stop()
        await emulator.stop()


async def test_with_redis_a_dyno_restart_resumes_the_job(emulator_env: dict[str, str], tmp_path: Path) -> None:
    """DYNO set with REDIS_URL: the journal lives in Redis, the promise is made and kept with an empty disk."""
    proc, redis_url = start_redis(tmp_path)
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    first = second = None
    try:
        env = {**emulator_env, **SLOW, "DYNO": "web.1", "REDIS_URL": redis_url, "DRAIN_SECONDS": "0"}
        first = await started(emulator, tmp_path / "one", **{**env, "DATA_DIR": str(tmp_path / "disk1")})
        gus = Person(emulator, 6003, name="Gus")
        content = await order_mosaic(gus)
        status = await gus.reply(has("Working"), timeout=60)
        assert await first.stop() == 0, first.log()
        assert "will be finished" in emulator.message(gus.chat, status.message_id).plain_text

        mark = emulator.seq  # a fresh dyno: nothing left on its disk
        second = await started(emulator, tmp_path / "two", **{**env, "DATA_DIR": str(tmp_path / "disk2"),
                                                              "PAINTER_STEPS": "2", "PAINTER_STEP_S": "0.1"})
        await gus.reply(has("I was restarted"), timeout=60, since=mark)
        result = await gus.reply(lambda m: m.kind == "photo" and m.buttons, timeout=60, since=mark)
        assert size_of(emulator.file_bytes(result)) == size_of(content)
    finally:
        for process in (first, second):
            if process is not None:
                await process.stop()
        await emulator.stop()
        proc.terminate()
        proc.wait(10)
