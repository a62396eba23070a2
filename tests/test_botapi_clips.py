"""The emulator's moving pictures: a user sends animations, videos and video notes; the bot sends them back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, Update

from botapi import BotAPIServer
from botapi.users import FAKE_MP4

TOKEN = "123456:TEST-token"
CLIP = FAKE_MP4 + b"\x00" * 64  # the emulator never decodes clips: any bytes stand for one


@pytest.fixture
async def server() -> AsyncIterator[BotAPIServer]:
    emulator = BotAPIServer(TOKEN, bot_username="artbot")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(server: BotAPIServer) -> AsyncIterator[Bot]:
    client = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    yield client
    await client.session.close()


async def test_a_user_sends_clips_the_way_telegram_delivers_them(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(2001)
    await user.send_animation(CLIP, width=128, height=96, duration=2)
    await user.send_video(CLIP, width=160, height=90, duration=3)
    await user.send_video_note(CLIP, length=120, duration=1)
    await user.send_sticker(animated=True)
    updates = [Update.model_validate(u) for u in server.pending_updates]
    animation, video, note, sticker = (u.message for u in updates)
    assert animation.content_type == "animation" and animation.document is not None  # Telegram sends both
    assert (animation.animation.width, animation.animation.height, animation.animation.duration) == (128, 96, 2)
    assert video.content_type == "video" and video.video.duration == 3
    assert note.content_type == "video_note" and note.video_note.length == 120
    assert sticker.sticker.is_animated
    file = await bot.get_file(animation.animation.file_id)
    assert file.file_path.startswith("animations/") and file.file_path.endswith(".mp4")
    assert (await bot.download_file(file.file_path)).read() == CLIP


async def test_the_bot_sends_animations_videos_and_video_notes(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(2002)
    sent = await bot.send_animation(user.chat_id, BufferedInputFile(CLIP, "out.mp4"), width=128, height=96,
                                    duration=2, caption="styled")
    assert sent.animation.width == 128 and sent.caption == "styled"
    video = await bot.send_video(user.chat_id, BufferedInputFile(CLIP, "out.mp4"), width=160, height=90,
                                 duration=3)
    assert video.video.duration == 3
    note = await bot.send_video_note(user.chat_id, BufferedInputFile(CLIP, "note.mp4"), length=120, duration=1)
    assert note.video_note.length == 120
    kinds = [m.kind for m in server.bot_messages(user.chat_id)]
    assert kinds == ["animation", "video", "video_note"]
    assert server.file_bytes(server.bot_messages(user.chat_id)[-1]) == CLIP
    again = await bot.send_animation(user.chat_id, sent.animation.file_id)  # by file_id, no upload
    assert again.animation.file_unique_id == sent.animation.file_unique_id
    with pytest.raises(TelegramBadRequest):
        await bot.send_animation(user.chat_id, BufferedInputFile(b"", "empty.mp4"))
