"""Albums: the photos of one ``media_group_id`` arrive as separate updates; the bot handles them as one request.

Telegram sends an album as one message per photo within a fraction of a second. :class:`AlbumCollector` holds the
group's messages for ``window`` seconds, then feeds the first update once more with ``album`` (all the messages, in
order, at most ten) in the handler data; the other updates are swallowed. It never waits inside a handler, so the
per-user lock is free while the group is being collected. Handlers that take pictures accept ``album`` and act once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import Message, TelegramObject, Update

log = logging.getLogger(__name__)

ALBUM_MAX = 10  # Telegram's own limit for one album


class AlbumCollector(BaseMiddleware):
    """An outer middleware on updates: collects an album's messages and lets the handlers see them once."""

    def __init__(self, dispatcher: Dispatcher, window: float = 0.6) -> None:
        self.dispatcher = dispatcher
        self.window = window
        self._groups: dict[tuple[int, str], list[Update]] = {}
        self.tasks: set[asyncio.Task] = set()

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        message = event.message if isinstance(event, Update) else None
        if message is None or not message.media_group_id or "album" in data:
            return await handler(event, data)
        key = (message.chat.id, message.media_group_id)
        group = self._groups.get(key)
        if group is not None:
            group.append(event)
            return None
        self._groups[key] = [event]
        task = asyncio.create_task(self._handle_later(key, data["bot"]), name=f"album-{message.media_group_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return None

    async def _handle_later(self, key: tuple[int, str], bot: Bot) -> None:
        await asyncio.sleep(self.window)
        updates = sorted(self._groups.pop(key, []), key=lambda u: u.message.message_id if u.message else 0)
        if not updates:
            return
        album = [u.message for u in updates if u.message is not None][:ALBUM_MAX]
        try:
            await self.dispatcher.feed_update(bot, updates[0], album=album)
        except Exception:
            log.exception("handling album %s failed", key[1])


def album_of(message: Message, album: list[Message] | None) -> list[Message]:
    """The messages a picture handler should take: the album's, or just this one."""
    return album or [message]
