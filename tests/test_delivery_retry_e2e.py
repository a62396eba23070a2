"""A finished picture reaches its user through Telegram's flood control and an outage: ``python main.py`` against
the emulator, which answers the result's upload with 429 (retry after 1 s) and then an HTML 502 page.

The worker runs a stand-in that paints a PNG at once (``tests.delivery_runners:painted``), so only the delivery is
under test; the menus still need the Johnson weights from ../shared to offer the ready styles.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from botapi.server import BotAPIServer
from tests.conftest import WEIGHTS, need
from tests.delivery_runners import png
from tests.test_bot_e2e import TOKEN, BotProcess, Person, has


async def _until(check, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def _ready_style_job(emulator: BotAPIServer, person: Person) -> None:
    """Ready styles -> Mosaic: the bot now waits for the photo."""
    await person.say("/start")
    await person.press(await person.reply_with_button("Ready styles"), "Ready styles")
    picker = await person.reply_with_button("Mosaic")
    await person.press(picker, "Mosaic")
    await person.reply(has("send me the photo"))


async def test_the_result_survives_429_then_502_and_a_hopeless_one_is_logged(tmp_path: Path) -> None:
    need(WEIGHTS / "johnson")
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    bot = None
    try:
        bot = await BotProcess.start(emulator, tmp_path, JOB_RUNNER="tests.delivery_runners:painted", PRELOAD="",
                                     TELEGRAM_RETRY_S="8")
        try:
            await emulator.wait_until(lambda: emulator.calls_to("getMe"), 60)
        except TimeoutError:
            pytest.fail("the bot did not start:\n" + bot.log())
        uma = Person(emulator, 8001, name="Uma")
        await _ready_style_job(emulator, uma)
        emulator.inject_error("sendPhoto", 429, retry_after=1)
        emulator.inject_outage("sendPhoto", "bad_gateway")
        await uma.user.send_photo(png(120, 80))
        result = await uma.result(60)
        assert result.kind == "photo", bot.log()
        with Image.open(io.BytesIO(emulator.file_bytes(result))) as im:
            assert im.size == (96, 64)
        assert [call.ok for call in emulator.calls_to("sendPhoto")] == [False, False, True]
        log = bot.log(300)
        assert "sendPhoto to chat 8001: TelegramRetryAfter" in log and "ClientDecodeError" in log

        # Telegram still says "wait" when the bound is spent: one clear line (what the user is told, and whether the
        # result is sent again later, is the job tracker's business), and the chat stays usable
        await _ready_style_job(emulator, uma)
        emulator.inject_error("sendPhoto", 429, retry_after=30)
        await uma.user.send_photo(png(120, 80))
        await _until(lambda: "sendPhoto to chat 8001 NOT delivered: gave up after 1 attempt(s)" in bot.log(300), 60)
        await uma.say("/start")
        await uma.reply_with_button("Ready styles")

        assert await bot.stop() == 0, bot.log()
    finally:
        if bot is not None:
            await bot.stop()
        await emulator.stop()
