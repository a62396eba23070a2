"""Bot API calls that outlast Telegram's flood control and short outages, so a finished picture is not lost.

Telegram answers 429 with ``retry_after`` under load (about 30 messages a second per bot, one a second per chat),
and now and then 5xx, an HTML page from its front proxy, or a dropped connection. :class:`DeliveryRetry` is an
aiogram request middleware on the bot's session, so every call (results, albums, status edits, menus) waits
``retry_after`` after a 429 and backs off (0.5 s doubling to 8 s) after the others, for at most ``total_s``
seconds in all (``TELEGRAM_RETRY_S``). A call that still fails raises as before, after one warning line that names
the method, the chat, the attempts and the last error. Errors the request itself causes (400, 403, too large) are
never retried. ``getUpdates`` keeps aiogram's own polling backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod

log = logging.getLogger(__name__)

NOT_RETRIED = frozenset({"getUpdates", "close", "logOut"})


class DeliveryRetry(BaseRequestMiddleware):
    """Retry a Bot API call after 429 (waiting ``retry_after``), 5xx, a non-API answer or a network error."""

    def __init__(self, total_s: float = 60.0, first_backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 sleep: Any = asyncio.sleep) -> None:
        self.total_s = total_s
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.retries = 0  # calls retried since start, for /stats and the tests
        self.given_up = 0

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        name = method.__api_method__
        if self.total_s <= 0 or name in NOT_RETRIED:
            return await make_request(bot, method)
        started = time.monotonic()
        backoff = self.first_backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await make_request(bot, method)
            except TelegramEntityTooLarge:  # a network error class in aiogram, but retrying cannot help
                raise
            except TelegramRetryAfter as exc:
                wait, error = float(exc.retry_after), exc
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                wait, error = backoff, exc
                backoff = min(backoff * 2, self.max_backoff_s)
            spent = time.monotonic() - started
            chat = getattr(method, "chat_id", None)
            if spent + wait > self.total_s:
                self.given_up += 1
                log.warning("%s to chat %s NOT delivered: gave up after %d attempt(s) in %.1f s (TELEGRAM_RETRY_S=%g); "
                            "last error: %s", name, chat, attempt, spent, self.total_s, _describe(error))
                raise error
            self.retries += 1
            log.info("%s to chat %s: %s; retry %d in %.1f s", name, chat, _describe(error), attempt, wait)
            await self._sleep(wait)


def _describe(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"{type(error).__name__}: {text[:200]}"
