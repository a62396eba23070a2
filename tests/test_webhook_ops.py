"""Webhook mode as an operator runs it: ``python main.py`` with WEBHOOK_URL against the emulator on loopback.

A URL without a path is served on "/", the start logs the registered URL (never the secret), Telegram's delivery
errors reach the log (the one from before the start, and a new one while serving), malformed requests get 401/400
instead of 500, and a WEBHOOK_PATH that contradicts the URL stops the start with one line.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from botapi.server import BotAPIServer
from tests.test_bot_e2e import TOKEN, BotProcess, Person, free_port

REPO = Path(__file__).resolve().parents[1]


async def raw_post(port: int, path: str, headers: bytes, body: bytes) -> int:
    """POST with header bytes as given (a client library would refuse non-ASCII ones); returns the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers
                     + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                     + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_webhook_without_a_path_serves_root_and_logs_delivery_errors(tmp_path: Path) -> None:
    emulator = BotAPIServer(token=TOKEN, webhook_retry_delays=(0.05,))
    await emulator.start()
    bot = None
    try:
        # before the bot starts, Telegram has been failing to reach an old address
        old = f"http://127.0.0.1:{free_port()}/old"
        async with aiohttp.ClientSession() as session, session.post(
                f"{emulator.base_url}/bot{TOKEN}/setWebhook", json={"url": old}) as response:
            assert response.status == 200
        lea = Person(emulator, 6001, name="Lea")
        await lea.say("hello?")
        await emulator.wait_until(lambda: emulator.webhook.failures, 10)

        port = free_port()
        bot = await BotProcess.start(emulator, tmp_path, WEBHOOK_URL=f"http://127.0.0.1:{port}", PORT=str(port),
                                     HOST="127.0.0.1", WEBHOOK_CHECK_INTERVAL="0.3")
        url = f"http://127.0.0.1:{port}"
        try:
            await emulator.wait_until(lambda: emulator.webhook_info()["url"] == url, 60)
        except TimeoutError:
            pytest.fail("the webhook bot did not start:\n" + bot.log())
        secret = emulator.webhook.secret_token
        assert secret

        await lea.say("/start")  # Telegram posts to the URL as registered: served on "/"
        await lea.reply_with_button("My own style")
        log = bot.log(200)
        assert f"webhook registered with Telegram: {url} (served on 127.0.0.1:{port}, path /)" in log
        assert "webhook delivery error (before this start" in log and "Connection failed" in log
        assert secret not in log and TOKEN.split(":")[1] not in log

        # a new error while serving: another deployment registered another secret, so deliveries get 401
        emulator.webhook.secret_token = "set_by_another_deployment"
        await lea.say("anyone?")
        await emulator.wait_until(lambda: len(emulator.webhook.failures) == 2, 10)
        await emulator.wait_until(lambda: "(while serving" in bot.log(400), 10)
        assert "Wrong response from the webhook: 401" in bot.log(400)
        emulator.webhook.secret_token = secret

        # malformed requests are answered as such, not with 500
        update = json.dumps({"update_id": 99, "message": {"message_id": 1, "date": 0, "text": "/help",
                                                          "chat": {"id": lea.chat, "type": "private"},
                                                          "from": lea.user.as_api()}})
        header = b"X-Telegram-Bot-Api-Secret-Token: "
        assert await raw_post(port, "/", header + "sécret".encode() + b"\r\n", update.encode()) == 401
        assert await raw_post(port, "/", header + b"\xff\xfe\r\n", update.encode()) == 401
        assert await raw_post(port, "/", header + secret.encode() + b"\r\n", b"not json {") == 400
        assert await raw_post(port, "/", header + secret.encode() + b"\r\n", b"\xff\xfe") == 400
        assert await raw_post(port, "/", header + secret.encode() + b"\r\n", b"[1, 2]") == 400
        assert await raw_post(port, "/", header + secret.encode() + b"\r\n", update.encode()) == 200

        assert await bot.stop() == 0, bot.log()
        assert "Traceback" not in bot.log(400), bot.log(400)
    finally:
        if bot is not None:
            await bot.stop()
        await emulator.webhook.delete()
        await asyncio.wait_for(emulator.stop(), 30)


def test_a_webhook_path_that_contradicts_the_url_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = {"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.com", "WEBHOOK_PATH": "/webhook",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(REPO / "main.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error: WEBHOOK_PATH is '/webhook' but WEBHOOK_URL's path "
                                                   "is '/'"), proc.stderr
