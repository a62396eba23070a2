"""In group chats the bot speaks only when spoken to: commands addressed to it (``/start@artbot``) and replies to
its own messages. Everything else people say to each other there is ignored without an answer.

:class:`GroupChatGate` is an outer middleware on the dispatcher's message, edited message and callback query
observers, so it runs before any router's filters (and before the FSM is read). Buttons pressed in a group are on the
bot's own messages, so they pass. Private chats are untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.enums import ChatType
from aiogram.types import Message, TelegramObject

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def addressed_command(message: Message, bot_username: str) -> bool:
    """The message starts with a command that names this bot: ``/cmd@bot_username`` (case-insensitive)."""
    text = message.text or message.caption or ""
    entities = message.entities if message.text else message.caption_entities
    for entity in entities or ():
        if entity.type == "bot_command" and entity.offset == 0:
            command = entity.extract_from(text)
            _, at, mention = command.partition("@")
            return bool(at) and mention.lower() == bot_username.lower()
    return False


def replies_to_bot(message: Message, bot_id: int) -> bool:
    original = message.reply_to_message
    return original is not None and original.from_user is not None and original.from_user.id == bot_id


class GroupChatGate(BaseMiddleware):
    """Lets a group message through only when it is addressed to the bot (see the module docstring)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.chat.type != ChatType.PRIVATE:
            bot: Bot = data["bot"]
            me = await bot.me()  # cached by aiogram after the first call
            if not (addressed_command(event, me.username or "") or replies_to_bot(event, me.id)):
                return None
        return await handler(event, data)

    def setup(self, dispatcher: Dispatcher) -> None:
        for observer in (dispatcher.message, dispatcher.edited_message):
            observer.outer_middleware(self)
