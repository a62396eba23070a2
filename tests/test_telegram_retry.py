"""Bot API calls outlast 429, 5xx, an HTML 502 and a dropped connection, within TELEGRAM_RETRY_S (emulator on
loopback, the bot's real session with its middleware)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import BufferedInputFile

import bot_init
from botapi.server import BotAPIServer
from config import load_settings
from tests.delivery_runners import png

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"


async def _bot_and_user(tmp_path: Path, retry_s: str):
    server = BotAPIServer(token=TOKEN)
    await server.start()
    settings = load_settings({"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.base_url, "DATA_DIR": str(tmp_path),
                              "TELEGRAM_RETRY_S": retry_s}, dotenv_path=None)
    bot = bot_init.build_bot(settings)
    user = server.user(7001, "Rita")
    await user.send_text("hi")  # the chat exists once the user has written
    return server, bot, user


async def test_a_photo_upload_survives_429_then_502_then_a_dropped_connection(tmp_path: Path, caplog) -> None:
    server, bot, user = await _bot_and_user(tmp_path, "20")
    try:
        server.inject_faults("sendPhoto", "429:1, 502, bad_gateway, disconnect")
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="services.telegram_retry"):
            sent = await bot.send_photo(user.chat_id, BufferedInputFile(png(64, 48), "result.png"), caption="art")
        elapsed = time.monotonic() - started
        assert sent.photo and sent.photo[-1].width == 64
        attempts = server.calls_to("sendPhoto")
        assert [c.ok for c in attempts] == [False, False, False, False, True]
        assert 1.0 + 0.5 + 1.0 + 2.0 <= elapsed < 10  # retry_after, then backoff 0.5, 1, 2 s
        assert server.last_bot_message(user.chat_id).kind == "photo"
        assert "retry 1 in 1.0 s" in caplog.text and "TelegramRetryAfter" in caplog.text
    finally:
        await bot.session.close()
        await server.stop()


async def test_a_call_that_still_fails_after_the_bound_raises_with_one_clear_line(tmp_path: Path, caplog) -> None:
    server, bot, user = await _bot_and_user(tmp_path, "2")
    try:
        server.inject_error("sendDocument", 429, retry_after=5)  # longer than the whole bound: no point waiting
        started = time.monotonic()
        with caplog.at_level(logging.WARNING), pytest.raises(TelegramRetryAfter):
            await bot.send_document(user.chat_id, BufferedInputFile(png(8, 8), "r.png"))
        assert time.monotonic() - started < 1.5
        line = [r.getMessage() for r in caplog.records if "NOT delivered" in r.getMessage()]
        assert line and f"sendDocument to chat {user.chat_id}" in line[0] and "TELEGRAM_RETRY_S=2" in line[0]
    finally:
        await bot.session.close()
        await server.stop()


async def test_errors_the_request_causes_are_not_retried(tmp_path: Path) -> None:
    server, bot, user = await _bot_and_user(tmp_path, "20")
    try:
        server.inject_error("sendMessage", 400, "Bad Request: chat not found")
        with pytest.raises(TelegramBadRequest):
            await bot.send_message(user.chat_id, "x")
        assert len(server.calls_to("sendMessage")) == 1
    finally:
        await bot.session.close()
        await server.stop()


async def test_no_retries_when_the_bound_is_zero(tmp_path: Path) -> None:
    server, bot, user = await _bot_and_user(tmp_path, "0")
    try:
        server.inject_outage("editMessageText", "bad_gateway")
        message = await bot.send_message(user.chat_id, "status")
        with pytest.raises(Exception, match="decode|Bad Gateway"):
            await bot.edit_message_text("new", chat_id=user.chat_id, message_id=message.message_id)
        assert len(server.calls_to("editMessageText")) == 1
    finally:
        await bot.session.close()
        await server.stop()


@pytest.mark.parametrize("spec", ["429:x", "200", "teapot", "5o2"])
def test_fault_specs_that_mean_nothing_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="a fault is"):
        BotAPIServer(token=TOKEN).inject_faults("sendPhoto", spec)
