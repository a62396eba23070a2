"""Per-user flood protection: a token bucket per user in front of every handler.

Each user may send ``burst`` updates at once and ``rate`` a second on average. The first update over the limit gets
one polite answer in the user's language; the rest are dropped silently until the bucket refills, so a script
hammering the bot costs it a dictionary lookup per update. Callback queries over the limit are still answered
(without text), or the user's button would spin. ``rate=0`` turns the protection off.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
_FORGET_AFTER_S = 600.0  # idle users' buckets are dropped, so the table does not grow forever


class Throttling(BaseMiddleware):
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, list[float]] = {}  # user id -> [tokens, last refill, warned]
        self._last_sweep = time.monotonic()
        self.dropped = 0

    def allow(self, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """(allowed, warn): ``warn`` is True for the first refused update since the user was last allowed."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = [float(self.burst), now, 0.0]
        tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0], bucket[2] = tokens - 1.0, 0.0
            return True, False
        bucket[0] = tokens
        warn = bucket[2] == 0.0
        bucket[2] = 1.0
        return False, warn

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _FORGET_AFTER_S:
            return
        self._last_sweep = now
        for user_id in [u for u, b in self._buckets.items() if now - b[1] > _FORGET_AFTER_S]:
            del self._buckets[user_id]

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if self.rate <= 0 or user is None:
            return await handler(event, data)
        now = time.monotonic()
        self._sweep(now)
        allowed, warn = self.allow(user.id, now)
        if allowed:
            return await handler(event, data)
        self.dropped += 1
        text = _("🐢 You are sending messages too fast. I will skip them for a few seconds.")
        if isinstance(event, CallbackQuery):
            await event.answer(text if warn else None)
        elif isinstance(event, Message) and warn:
            await event.answer(text)
        return None
