"""The webhook endpoint, hardened, and a watch on what Telegram says about delivering to it.

:class:`WebhookHandler` is aiogram's ``SimpleRequestHandler`` that answers malformed requests as such instead of
failing inside: a secret header that is wrong or not even ASCII gets 401, a body that is not a JSON update gets 400
(aiogram answers 500 to both). Updates are still handled in the background, so Telegram gets its 200 at once.

:func:`watch_delivery_errors` asks ``getWebhookInfo`` at start and every ``WEBHOOK_CHECK_INTERVAL`` seconds and
logs the error Telegram reports (at start, and then each newer one): a webhook that Telegram cannot reach is
otherwise silent on the bot's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

log = logging.getLogger("artbot")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookHandler(SimpleRequestHandler):
    """401 for a wrong secret (any bytes), 400 for a body that is not a JSON object with an ``update_id``."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return True
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret_token.encode())  # bytes: no TypeError on non-ASCII

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
            return web.Response(text="Unauthorized", status=401)
        try:
            update = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(text="Bad Request: the body is not JSON", status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(text="Bad Request: not an update", status=400)
        task = asyncio.create_task(self._background_feed_update(bot=bot, update=update))
        self._background_feed_update_tasks.add(task)
        task.add_done_callback(self._background_feed_update_tasks.discard)
        return web.json_response({})

    __call__ = handle


def shown_url(url: str, token: str) -> str:
    """The webhook URL for the log: the bot token hidden if someone put it in the path."""
    return url.replace(token, token.split(":", 1)[0] + ":***") if token else url


async def log_delivery_error(bot: Bot, when: str, seen: int | None = None) -> int | None:
    """Log the delivery error ``getWebhookInfo`` reports unless it is the one from ``seen`` (its Unix time); returns
    the time of the reported error. A failing ``getWebhookInfo`` is logged at debug level only."""
    try:
        info = await bot.get_webhook_info()
    except TelegramAPIError as exc:
        log.debug("getWebhookInfo failed: %s", exc)
        return seen
    date = _timestamp(info.last_error_date)
    if info.last_error_message and (date is None or date != seen):
        log.warning("Telegram reports a webhook delivery error (%s%s): %s; %d updates pending", when,
                    f", at {_iso(date)}" if date else "", info.last_error_message, info.pending_update_count)
    return date


async def watch_delivery_errors(bot: Bot, interval: float, seen: int | None = None) -> None:
    """Check right away and then every ``interval`` seconds, logging each error newer than ``seen`` and than the last
    one logged (runs until cancelled)."""
    while True:
        seen = await log_delivery_error(bot, "while serving", seen)
        await asyncio.sleep(interval)


def _timestamp(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
