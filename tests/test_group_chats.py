"""In a group the bot answers only commands addressed to it and replies to its own messages (``python main.py``
polling the emulator, a supergroup with two people talking)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram.types import Message

from botapi.server import BotAPIServer
from botapi.users import command_entities
from group_chats import addressed_command
from tests.delivery_runners import png
from tests.test_bot_e2e import TOKEN, BotProcess


def _message(text: str, chat_type: str = "supergroup") -> Message:
    return Message.model_validate({"message_id": 1, "date": 0, "chat": {"id": -5, "type": chat_type}, "text": text,
                                   "entities": command_entities(text) or None})


@pytest.mark.parametrize(("text", "addressed"), [
    ("/start@artbot", True), ("/help@ArtBot please", True), ("/start", False), ("/start@otherbot", False),
    ("hello /start@artbot", False), ("hello", False),
])
def test_addressed_commands(text: str, addressed: bool) -> None:
    assert addressed_command(_message(text), "artbot") is addressed


async def test_the_bot_speaks_in_a_group_only_when_spoken_to(tmp_path: Path) -> None:
    emulator = BotAPIServer(token=TOKEN, bot_username="artbot")
    await emulator.start()
    bot = None
    try:
        bot = await BotProcess.start(emulator, tmp_path, PRELOAD="")
        try:
            await emulator.wait_until(lambda: emulator.calls_to("getMe"), 60)
        except TimeoutError:
            pytest.fail("the bot did not start:\n" + bot.log())
        group = emulator.group(-1001000, "Friends")
        ann = emulator.user(9001, "Ann").in_group(group)
        bob = emulator.user(9002, "Bob").in_group(group)

        def bot_said() -> list:
            return emulator.bot_messages(group.id)

        await ann.send_text("hello everyone")
        await bob.send_text("/start")  # a command for whichever bot: not this one's business
        await ann.send_text("/help@otherbot")
        await bob.send_photo(png(64, 64))
        await ann.send_text("/start@artbot")
        menu = await emulator.wait_for_message(group.id, lambda m: m.buttons, 15)
        await asyncio.sleep(1.0)  # anything the ignored messages could have caused has arrived by now
        assert bot_said() == [menu], bot_said()

        before = emulator.seq
        await bob.send_text("what can you do?", reply_to=menu)  # a reply to the bot is for the bot
        await emulator.wait_for_message(group.id, since=before, timeout=15)
        query = await ann.press(menu, text=menu.buttons[0]["text"])  # buttons are on its own messages
        await emulator.wait_answered(query, 5)

        assert await bot.stop() == 0, bot.log()
        assert "Traceback" not in bot.log(300), bot.log(300)
    finally:
        if bot is not None:
            await bot.stop()
        await emulator.stop()
