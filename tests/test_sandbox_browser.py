"""The sandbox chat page in a real headless Chromium, chatting with a tiny aiogram bot through the emulator.

Selenium blocks, so the emulator and the bot live in their own thread and event loop (``botapi.threaded``); the
test itself is synchronous and only drives the browser.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from botapi.threaded import ServerThread
from tests.browser import needs_chromium

pytestmark = needs_chromium


def jpeg(width: int, height: int) -> bytes:
    img = Image.new("RGB", (width, height), (30, 120, 200))
    img.paste((250, 200, 40), (0, 0, width // 2, height // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def build_echo_bot() -> Any:
    """A Dispatcher: /start -> keyboard, a button -> answer + edit, a photo -> the photo mirrored."""
    from aiogram import Bot, Dispatcher, F
    from aiogram.filters import CommandStart
    from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Red", callback_data="color:red"),
                                                    InlineKeyboardButton(text="Blue", callback_data="color:blue")]])
        await message.answer("<b>Welcome!</b> Pick a colour:", parse_mode="HTML", reply_markup=kb)

    @dp.callback_query(F.data.startswith("color:"))
    async def picked(callback: CallbackQuery) -> None:
        colour = callback.data.split(":", 1)[1]
        await callback.answer(f"Picked {colour}")
        await callback.message.edit_text(f"You picked {colour}. Now send me a photo.")

    @dp.message(F.photo)
    async def photo(message: Message, bot: Bot) -> None:
        await bot.send_chat_action(message.chat.id, "upload_photo")
        data = (await bot.download(message.photo[-1].file_id)).getvalue()
        mirrored = ImageOps.mirror(Image.open(io.BytesIO(data)).convert("RGB"))
        out = io.BytesIO()
        mirrored.save(out, "JPEG")
        await message.answer_photo(BufferedInputFile(out.getvalue(), "mirrored.jpg"), caption="Mirrored for you")

    return dp


class LiveSandbox(ServerThread):
    """The emulator (in its own thread and loop, see ``botapi.threaded``) plus the echo bot polling it."""

    def __init__(self) -> None:
        super().__init__("654321:SANDBOX", bot_username="echo_bot", bot_first_name="Echo Bot")
        self._dp: Any = None
        self._bot: Any = None
        self._polling: Any = None

    async def _start_bot(self) -> None:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        self._bot = Bot(self.server.token,
                        session=AiohttpSession(api=TelegramAPIServer.from_base(self.server.base_url)))
        self._dp = build_echo_bot()
        self._polling = asyncio.create_task(self._dp.start_polling(self._bot, handle_signals=False,
                                                                   polling_timeout=5))

    async def _stop_bot(self) -> None:
        if self._dp is not None:
            await self._dp.stop_polling()
            await self._polling

    def __enter__(self) -> LiveSandbox:
        super().__enter__()
        self.run(self._start_bot())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stop_bot())
        finally:
            super().__exit__(*exc)


def test_chat_through_the_sandbox_page(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15, poll_frequency=0.1)

    def css(selector: str) -> list[Any]:
        return browser.find_elements(By.CSS_SELECTOR, selector)

    with LiveSandbox() as live:
        server = live.server
        browser.get(server.sandbox_url)
        wait.until(lambda d: css("[data-testid=connection][data-state=ok]"))
        assert css("[data-testid=empty-state]")[0].is_displayed()
        assert browser.find_element(By.CSS_SELECTOR, "[data-testid=bot-name]").text == "Echo Bot"

        # /start typed into the composer
        composer = browser.find_element(By.CSS_SELECTOR, "[data-testid=composer-input]")
        composer.send_keys("/start", Keys.ENTER)
        wait.until(lambda d: css("[data-testid=message][data-outgoing=true] [data-testid=inline-button]"))
        welcome = css("[data-testid=message][data-outgoing=true]")[-1]
        text = welcome.find_element(By.CSS_SELECTOR, "[data-testid=message-text]")
        assert text.text == "Welcome! Pick a colour:"
        assert text.find_element(By.TAG_NAME, "b").text == "Welcome!"  # HTML rendered, safely
        user_messages = css("[data-testid=message][data-outgoing=false] [data-testid=message-text]")
        assert [m.text for m in user_messages] == ["/start"]
        assert server.sandbox_user.language_code == "en"

        # press a button: the toast shows the callback answer, the message is edited in place
        red = welcome.find_element(By.CSS_SELECTOR, "[data-testid=inline-button][data-callback-data='color:red']")
        red.click()
        wait.until(lambda d: "Picked red" in d.find_element(By.CSS_SELECTOR, "[data-testid=toast]").text)
        wait.until(lambda d: [m for m in css("[data-testid=message][data-outgoing=true] [data-testid=message-text]")
                              if m.text.startswith("You picked red")])
        edited = css("[data-testid=message][data-outgoing=true]")[-1]
        assert edited.find_elements(By.CSS_SELECTOR, "[data-testid=message-edited]")
        assert not edited.find_elements(By.CSS_SELECTOR, "[data-testid=inline-button]")  # edit dropped the keyboard
        assert all(server.was_answered(record.id) for record in server.world.callbacks.values())

        # upload a photo: it appears on the user's side and the bot's mirrored photo comes back
        photo_path = tmp_path / "me.jpg"
        photo_path.write_bytes(jpeg(240, 160))
        composer.send_keys("mirror me")
        browser.find_element(By.CSS_SELECTOR, "[data-testid=file-input]").send_keys(str(photo_path))
        wait.until(lambda d: css("[data-testid=message][data-outgoing=false] [data-testid=message-photo]"))

        def bot_photo_loaded(driver: Any) -> Any:
            images = css("[data-testid=message][data-outgoing=true] [data-testid=message-photo]")
            return images and driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                                    images[-1]) and images[-1]

        image = wait.until(bot_photo_loaded)
        assert (image.get_attribute("data-width"), image.get_attribute("data-height")) == ("240", "160")
        assert browser.execute_script("return arguments[0].naturalWidth", image) == 240
        reply = css("[data-testid=message][data-outgoing=true]")[-1]
        assert reply.find_element(By.CSS_SELECTOR, "[data-testid=message-text]").text == "Mirrored for you"
        sent_photo = [m for m in server.messages(1) if not m.outgoing and m.photo][-1]
        assert sent_photo.caption == "mirror me"
        mirrored = Image.open(io.BytesIO(server.file_bytes(server.last_bot_message(1))))
        assert mirrored.getpixel((230, 10))[0] > 200  # the yellow corner moved to the right: really mirrored
        assert server.unknown_methods == []
