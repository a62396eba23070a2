"""The Bot API emulator driven by aiogram's real client: shapes, semantics and errors the bot depends on."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from PIL import Image

from botapi import BotAPIServer

TOKEN = "123456:TEST-token"


def jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=85)
    return out.getvalue()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs])


@pytest.fixture
async def server() -> AsyncIterator[BotAPIServer]:
    emulator = BotAPIServer(TOKEN, bot_username="artbot", webhook_retry_delays=(0.05, 0.05))
    await emulator.start()
    yield emulator
    await emulator.stop()


def make_bot(server: BotAPIServer, token: str | None = None) -> Bot:
    return Bot(token or server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))


@pytest.fixture
async def bot(server: BotAPIServer) -> AsyncIterator[Bot]:
    client = make_bot(server)
    yield client
    await client.session.close()


async def start_receiver(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}"


# --- identity, tokens, unknown methods -----------------------------------------------------------------------
async def test_get_me_and_tokens(server: BotAPIServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "artbot", True)
    with pytest.raises(TelegramNotFound, match="not implemented by the emulator"):
        await bot.send_dice(server.user(1001).chat_id)  # gaps are loud, and listed
    assert server.unknown_methods == ["sendDice"]

    wrong = make_bot(server, "123456:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await wrong.get_me()
    finally:
        await wrong.session.close()


async def test_raw_json_form_and_unknown_method(server: BotAPIServer) -> None:
    user = server.user(1001)
    async with aiohttp.ClientSession() as http:
        url = f"{server.base_url}/bot{server.token}"
        async with http.post(f"{url}/sendMessage", json={"chat_id": user.chat_id, "text": "123"}) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["text"] == "123"  # a numeric-looking text stays a string

        form = aiohttp.FormData()
        form.add_field("chat_id", str(user.chat_id))
        form.add_field("photo", jpeg(64, 48), filename="p.jpg", content_type="image/jpeg")
        async with http.post(f"{url}/sendPhoto", data=form) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["photo"][-1]["width"] == 64

        async with http.get(f"{url}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == "artbot"

        async with http.post(f"{url}/sendDice", json={"chat_id": user.chat_id}) as resp:
            assert resp.status == 404
            body = await resp.json()
        assert body["ok"] is False and body["error_code"] == 404 and "sendDice" in body["description"]
    assert server.unknown_methods == ["sendDice"]
    assert [c.method for c in server.calls] == ["sendMessage", "sendPhoto", "getMe", "sendDice"]
    assert server.calls_to("sendDice")[0].ok is False


# --- messages and edits ------------------------------------------------------------------------------------------
async def test_send_and_edit_message(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001, "Anna", language_code="ru")
    sent = await bot.send_message(user.chat_id, "<b>Choose</b> a style", parse_mode="HTML",
                                  reply_markup=keyboard(("Mosaic", "style:mosaic"), ("Candy", "style:candy")))
    assert sent.text == "Choose a style"  # the server returns the rendered text
    assert sent.reply_markup.inline_keyboard[1][0].callback_data == "style:candy"

    logged = server.last_bot_message(user.chat_id)
    assert logged.text == "<b>Choose</b> a style" and logged.parse_mode == "HTML"
    assert logged.plain_text == "Choose a style"
    assert logged.callback_data == ["style:mosaic", "style:candy"]
    assert logged.button("Candy")["callback_data"] == "style:candy"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("<b>Choose</b> a style", chat_id=user.chat_id, message_id=sent.message_id,
                                    parse_mode="HTML", reply_markup=keyboard(("Mosaic", "style:mosaic"),
                                                                             ("Candy", "style:candy")))
    # Same rendering through another markup language is still "not modified", like on Telegram.
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("*Choose* a style", chat_id=user.chat_id, message_id=sent.message_id,
                                    parse_mode="MarkdownV2", reply_markup=keyboard(("Mosaic", "style:mosaic"),
                                                                                   ("Candy", "style:candy")))

    edited = await bot.edit_message_text("Working… 50%", chat_id=user.chat_id, message_id=sent.message_id,
                                         parse_mode=None)
    assert edited.edit_date is not None and edited.reply_markup is None  # no markup given: the keyboard goes
    assert logged.edited and logged.history[0]["text"] == "<b>Choose</b> a style"

    await bot.edit_message_reply_markup(chat_id=user.chat_id, message_id=sent.message_id,
                                        reply_markup=keyboard(("Cancel", "cancel")))
    assert logged.callback_data == ["cancel"] and len(logged.history) == 2
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=user.chat_id, message_id=sent.message_id,
                                            reply_markup=keyboard(("Cancel", "cancel")))

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.chat_id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello")
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=user.chat_id, message_id=sent.message_id, caption="c")

    assert await bot.delete_message(user.chat_id, sent.message_id)
    assert server.bot_messages(user.chat_id) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.chat_id, sent.message_id)


async def test_markup_and_text_validation(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001).chat_id
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(chat, "x", reply_markup=keyboard(("long", "x" * 65)))
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag \"br\""):
        await bot.send_message(chat, "line<br>line", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag corresponding to start tag \"b\""):
        await bot.send_message(chat, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Character '!' is reserved"):
        await bot.send_message(chat, "Done!", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(chat, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(chat, "")
    ok = await bot.send_message(chat, "a &lt; b &amp; <i>c</i>", parse_mode="HTML")
    assert ok.text == "a < b & c"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(chat, "reply", reply_to_message_id=777)
    reply = await bot.send_message(chat, "reply", reply_to_message_id=ok.message_id)
    assert reply.reply_to_message.message_id == ok.message_id


async def test_chat_action_flood_control_and_blocked_user(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    assert await bot.send_chat_action(user.chat_id, "upload_photo")
    assert user.chat.action[0] == "upload_photo"
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(user.chat_id, "dancing")

    server.inject_error("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(user.chat_id, "hi")
    assert caught.value.retry_after == 3
    await bot.send_message(user.chat_id, "hi")  # only the next call fails

    user.block()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(user.chat_id, "are you there?")
    await user.send_text("/start")  # writing to the bot again unblocks it
    await bot.send_message(user.chat_id, "welcome back")
    kinds = [next(k for k in u if k != "update_id") for u in server.pending_updates]
    assert kinds == ["my_chat_member", "my_chat_member", "message"]


# --- files --------------------------------------------------------------------------------------------------------
async def test_send_photo_document_and_reuse_file_ids(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001).chat_id
    original = jpeg(1000, 600)
    sent = await bot.send_photo(chat, BufferedInputFile(original, "result.jpg"), caption="Done",
                                reply_markup=keyboard(("Again", "again")))
    sizes = [(p.width, p.height) for p in sent.photo]
    assert sizes[-1] == (1000, 600) and sizes[0][0] < sizes[-1][0]  # thumbnails first, original last
    assert sent.caption == "Done" and sent.reply_markup is not None
    assert server.file_bytes(server.last_bot_message(chat)) == original

    again = await bot.send_photo(chat, sent.photo[-1].file_id)  # reuse by file_id: nothing uploaded
    assert [p.file_id for p in again.photo] == [p.file_id for p in sent.photo]

    png = io.BytesIO()
    Image.new("RGBA", (40, 30)).save(png, "PNG")
    doc = await bot.send_document(chat, BufferedInputFile(png.getvalue(), "result.png"), caption="lossless")
    assert (doc.document.file_name, doc.document.mime_type) == ("result.png", "image/png")
    assert doc.document.file_size == len(png.getvalue())
    with pytest.raises(TelegramBadRequest, match="type of file mismatch"):
        await bot.send_photo(chat, doc.document.file_id)
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):  # an x4 upscale can hit this
        await bot.send_photo(chat, BufferedInputFile(jpeg(6400, 3800), "too_big.jpg"))
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(chat, BufferedInputFile(jpeg(2100, 100), "strip.jpg"))
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(chat, BufferedInputFile(b"not an image", "x.jpg"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(chat, "AgACnonexistent")

    edited = await bot.edit_message_caption(chat_id=chat, message_id=sent.message_id, caption="Done!",
                                            reply_markup=keyboard(("Again", "again")))
    assert edited.caption == "Done!"

    # editMessageMedia: a preview replaced by the final image, in place
    final = jpeg(300, 200, (10, 200, 10))
    replaced = await bot.edit_message_media(InputMediaPhoto(media=BufferedInputFile(final, "final.jpg"),
                                                            caption="Final"), chat_id=chat,
                                            message_id=sent.message_id)
    assert (replaced.photo[-1].width, replaced.caption, replaced.reply_markup) == (300, "Final", None)
    logged = server.message(chat, sent.message_id)
    assert server.file_bytes(logged) == final and len(logged.history) == 2
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_media(InputMediaPhoto(media=replaced.photo[-1].file_id, caption="Final"),
                                     chat_id=chat, message_id=sent.message_id)


async def test_send_media_group(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001).chat_id
    album = await bot.send_media_group(chat, [
        InputMediaPhoto(media=BufferedInputFile(jpeg(120, 80), "a.jpg"), caption="before"),
        InputMediaPhoto(media=BufferedInputFile(jpeg(80, 120), "b.jpg"), caption="after"),
    ])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id is not None
    assert [(m.photo[-1].width, m.photo[-1].height) for m in album] == [(120, 80), (80, 120)]
    assert [m.caption for m in album] == ["before", "after"]
    with pytest.raises(TelegramBadRequest, match="2-10"):
        await bot.send_media_group(chat, [InputMediaPhoto(media=album[0].photo[-1].file_id)])


async def test_get_file_and_download_of_user_files(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    photo = jpeg(640, 480)
    message = await user.send_photo(photo, caption="style me")
    assert message.photo[-1]["width"] == 640 and len(message.photo) >= 2

    file = await bot.get_file(message.file_id)
    assert file.file_path and file.file_size == len(photo)
    downloaded = await bot.download(message.file_id)
    assert downloaded.getvalue() == photo

    big = await user.send_document(b"", "huge.png", "image/png", file_size=25_000_000)
    assert big.document["file_size"] == 25_000_000
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big.file_id)
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")

    # Every update the user side produced parses as an aiogram Update (the shapes are right).
    await user.send_sticker()
    await user.send_video()
    await user.send_album([jpeg(50, 50), jpeg(60, 60)], caption="two styles")
    updates = [Update.model_validate(u) for u in server.pending_updates]
    kinds = [u.message.content_type for u in updates]
    assert kinds == ["photo", "document", "sticker", "video", "photo", "photo"]
    assert updates[-1].message.media_group_id == updates[-2].message.media_group_id


# --- callbacks, commands, polling ----------------------------------------------------------------------------------
async def test_answer_callback_query_and_commands(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    sent = await bot.send_message(user.chat_id, "Pick", reply_markup=keyboard(("A", "a")))
    query_id = await user.press(server.message(user.chat_id, sent.message_id), "a")
    assert not server.was_answered(query_id)
    with pytest.raises(LookupError):
        await user.press(sent.message_id, "not-on-the-keyboard")

    updates = await bot.get_updates(timeout=0)
    assert updates[-1].callback_query.id == query_id and updates[-1].callback_query.data == "a"
    assert await bot.answer_callback_query(query_id, text="Queued", show_alert=False)
    assert server.was_answered(query_id)
    assert server.callback_answer(query_id)["text"] == "Queued"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    assert server.unanswered_callbacks() == []

    await bot.set_my_commands([BotCommand(command="start", description="Start"),
                               BotCommand(command="styles", description="Styles")])
    await bot.set_my_commands([BotCommand(command="start", description="Начать")],
                              scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "styles"]
    ru = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert ru[0].description == "Начать"
    assert server.commands({"type": "all_private_chats"}, "ru")[0]["command"] == "start"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_long_polling_with_a_dispatcher(server: BotAPIServer, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(f"Hello, {message.from_user.first_name}!", reply_markup=keyboard(("Go", "go")))

    @dp.callback_query(F.data == "go")
    async def go(callback: CallbackQuery) -> None:
        await callback.answer("Going")
        await callback.message.edit_text("Gone", reply_markup=None)

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1,
                                                   close_bot_session=False))
    try:
        user = server.user(1001, "Anna", language_code="ru")
        await user.send_text("/start")
        hello = await server.wait_for_message(user.chat_id, lambda m: "Hello, Anna" in m.text, timeout=5)
        query_id = await user.press(hello, "go")
        assert (await server.wait_answered(query_id, timeout=5))["text"] == "Going"
        gone = await server.wait_for_message(user.chat_id, lambda m: m.text == "Gone", timeout=5)
        assert gone.message_id == hello.message_id and gone.buttons == []

        with pytest.raises(TimeoutError, match="no bot message in chat 1001 matched"):
            await server.wait_for_message(user.chat_id, lambda m: "never" in m.text, timeout=0.2)
    finally:
        await dp.stop_polling()
        await polling
    assert server.unanswered_callbacks() == [] and server.unknown_methods == []


async def test_get_updates_conflicts(server: BotAPIServer, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = make_bot(server)
    try:
        newer = asyncio.create_task(second.get_updates(timeout=1))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await first
        assert await newer == []
    finally:
        await second.session.close()

    server.user(1001)
    await server.user(1001).send_text("hi")
    updates = await bot.get_updates(timeout=1)
    assert updates[0].message.text == "hi"
    # Confirming with offset removes them; a negative offset keeps only the last ones.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []
    for text in ("one", "two", "three"):
        await server.user(1001).send_text(text)
    assert [u.message.text for u in await bot.get_updates(offset=-2, timeout=0)] == ["two", "three"]

    # allowed_updates persists between calls and filters what gets queued
    await bot.get_updates(offset=-1, timeout=0, allowed_updates=["callback_query"])
    await bot.get_updates(offset=updates[-1].update_id + 100, timeout=0)
    user = server.user(1001)
    await user.send_text("ignored")
    sent = await bot.send_message(user.chat_id, "pick", reply_markup=keyboard(("A", "a")))
    await user.press(sent.message_id, "a")
    assert [u.callback_query is not None for u in await bot.get_updates(timeout=0)] == [True]


async def test_opt_in_flood_control() -> None:
    async with BotAPIServer(TOKEN, flood_rate=2.0, flood_burst=3) as emulator:
        client = make_bot(emulator)
        try:
            chat = emulator.user(1001).chat_id
            sent = await client.send_message(chat, "0%")
            await client.edit_message_text("10%", chat_id=chat, message_id=sent.message_id)
            await client.edit_message_text("20%", chat_id=chat, message_id=sent.message_id)
            with pytest.raises(TelegramRetryAfter) as caught:
                await client.edit_message_text("30%", chat_id=chat, message_id=sent.message_id)
            assert caught.value.retry_after >= 1
            await asyncio.sleep(0.6)  # one token back at 2/s
            await client.edit_message_text("30%", chat_id=chat, message_id=sent.message_id)
        finally:
            await client.session.close()


# --- webhooks -------------------------------------------------------------------------------------------------------
async def test_webhook_with_aiogram_handler_and_secret(server: BotAPIServer, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")  # replied inside the webhook response (multipart)

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="s3cret-Token_1", handle_in_background=False).register(app, "/hook")
    runner, base = await start_receiver(app)
    try:
        with pytest.raises(TelegramConflictError):
            await bot.set_webhook(f"{base}/hook", secret_token="s3cret-Token_1")
            await bot.get_updates(timeout=0)
        user = server.user(1001)
        await user.send_text("ping")
        reply = await server.wait_for_message(user.chat_id, lambda m: m.text == "echo: ping", timeout=5)
        assert reply.outgoing
        info = await bot.get_webhook_info()
        assert info.url == f"{base}/hook" and info.pending_update_count == 0 and info.last_error_message is None

        # A wrong secret: aiogram answers 401; the emulator retries, then gives up and reports it.
        await bot.set_webhook(f"{base}/hook", secret_token="wrong")
        await user.send_text("lost")
        await server.wait_until(lambda: server.webhook.failures, timeout=5)
        info = await bot.get_webhook_info()
        assert "401" in info.last_error_message
        assert server.webhook.failures[0]["error"].startswith("Wrong response from the webhook: 401")

        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_webhook_retries_a_failing_receiver(server: BotAPIServer, bot: Bot) -> None:
    seen: list[tuple[str, dict]] = []

    async def flaky(request: web.Request) -> web.Response:
        seen.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), await request.json()))
        if len(seen) == 1:
            return web.Response(status=401, text="Unauthorized")
        return web.json_response({"method": "sendMessage", "chat_id": 1001, "text": "got it"})

    app = web.Application()
    app.router.add_post("/tg", flaky)
    runner, base = await start_receiver(app)
    try:
        user = server.user(1001)
        await user.send_text("queued before the webhook")
        await bot.set_webhook(f"{base}/tg", secret_token="abc")
        await server.wait_for_message(user.chat_id, lambda m: m.text == "got it", timeout=5)
        assert [secret for secret, _ in seen] == ["abc", "abc"]
        assert seen[0][1] == seen[1][1] and seen[0][1]["message"]["text"] == "queued before the webhook"
        assert "401" in server.webhook_info()["last_error_message"]
        assert server.pending_updates == []
        await bot.delete_webhook(drop_pending_updates=True)
    finally:
        await runner.cleanup()


# --- the sandbox page's JSON side (the browser test drives the same endpoints) ------------------------------------
async def test_sandbox_api_roundtrip(server: BotAPIServer, bot: Bot) -> None:
    async with aiohttp.ClientSession(base_url=server.base_url, headers={"X-Sandbox": "1"}) as http:
        async with http.get("/") as resp:
            assert resp.status == 200 and "composer-input" in await resp.text()
        async with http.post("/sandbox/api/send_text", json={"text": "/start", "language": "ru-RU"}) as resp:
            assert (await resp.json())["ok"]
        assert server.sandbox_user.language_code == "ru"
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message.text == "/start" and updates[0].message.from_user.id == 1
        assert updates[0].message.entities[0].type == "bot_command"

        await bot.send_message(1, "<b>Pick</b>", parse_mode="HTML", reply_markup=keyboard(("Mosaic", "m")))
        async with http.get("/sandbox/api/state", params={"since": "0"}) as resp:
            state = await resp.json()
        bot_message = state["messages"][-1]
        assert bot_message["html"] == "<b>Pick</b>" and bot_message["buttons"] == [[{"text": "Mosaic",
                                                                                      "callback_data": "m"}]]
        async with http.post("/sandbox/api/press", json={"message_id": bot_message["id"],
                                                        "callback_data": "m"}) as resp:
            callback_id = (await resp.json())["callback_id"]
        await bot.answer_callback_query(callback_id, text="ok")
        async with http.get("/sandbox/api/state", params={"since": str(state["seq"]), "wait": "1"}) as resp:
            later = await resp.json()
        assert later["answers"][0]["text"] == "ok"

        form = aiohttp.FormData()
        form.add_field("file", jpeg(90, 60), filename="me.jpg", content_type="image/jpeg")
        form.add_field("caption", "style me")
        async with http.post("/sandbox/api/send_files", data=form) as resp:
            assert (await resp.json())["ok"]
        photo_message = server.messages(1)[-1]
        assert photo_message.photo[-1]["width"] == 90 and photo_message.caption == "style me"
        async with http.get(f"/sandbox/api/file/{photo_message.file_id}") as resp:
            assert await resp.read() == server.file_bytes(photo_message)

        xss = await bot.send_message(1, "<i>&lt;script&gt;alert(1)&lt;/script&gt;</i>", parse_mode="HTML")
        async with http.get("/sandbox/api/state", params={"since": str(later["seq"])}) as resp:
            rendered = [m for m in (await resp.json())["messages"] if m["id"] == xss.message_id][0]["html"]
        assert rendered == "<i>&lt;script&gt;alert(1)&lt;/script&gt;</i>"
        assert json.dumps(rendered).count("<script") == 0
