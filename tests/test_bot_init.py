"""Wiring: the Bot API base, the FSM storage, the locale choice, the router order; and Redis-backed dialogues."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiogram.fsm.storage.memory import MemoryStorage

import bot_init
from config import load_settings
from tests.redis_server import redis_server

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"


def settings(tmp_path: Path, **env: str):
    return load_settings({"BOT_TOKEN": TOKEN, "DATA_DIR": str(tmp_path), **env}, dotenv_path=None)


async def test_an_executor_without_the_protocol_is_refused_at_build(tmp_path: Path) -> None:
    class StatsOnly:
        def stats(self) -> dict:
            return {}

    with pytest.raises(TypeError, match=r"StatsOnly is not a jobs.Executor: it lacks cancel, discard, eta, "):
        bot_init.build(settings(tmp_path), executor=StatsOnly())  # type: ignore[arg-type]


async def test_custom_api_base_and_memory_storage(tmp_path: Path) -> None:
    app = bot_init.build(settings(tmp_path, TELEGRAM_API_URL="http://127.0.0.1:9/"))  # the local pool, not started
    try:
        assert app.bot.session.api.api_url(TOKEN, "getMe") == f"http://127.0.0.1:9/bot{TOKEN}/getMe"
        assert app.bot.session.api.file_url(TOKEN, "photos/a.jpg") == f"http://127.0.0.1:9/file/bot{TOKEN}/photos/a.jpg"
        assert isinstance(app.dispatcher.storage, MemoryStorage)
        names = [r.name for r in app.dispatcher.sub_routers]
        assert names[0] == "cancel" and names[-1] == "fallback"  # /cancel wins everywhere, fallback takes the rest
        for key in ("settings", "executor", "tracker", "availability", "gallery", "files"):
            assert key in app.dispatcher.workflow_data
    finally:
        await app.bot.session.close()


async def test_redis_storage_when_redis_url_is_set(tmp_path: Path) -> None:
    from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

    storage, isolation = bot_init.build_storage(settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"))
    assert isinstance(storage, RedisStorage) and isinstance(isolation, RedisEventIsolation)
    await storage.close()


class FakeState:
    def __init__(self, data: dict) -> None:
        self.data = data

    async def get_data(self) -> dict:
        return self.data


@pytest.mark.parametrize(("chosen", "app_language", "expected"), [
    (None, "ru", "ru"), (None, "en-GB", "en"), (None, "pt-br", "en"), (None, None, "en"),
    ("en", "ru", "en"), ("ru", "en", "ru"), ("xx", "ru", "ru"),
])
async def test_locale_choice(tmp_path: Path, chosen: str | None, app_language: str | None, expected: str) -> None:
    i18n = bot_init.build_i18n(settings(tmp_path))
    middleware = bot_init.UserLocale(i18n)
    data = {"state": FakeState({"locale": chosen} if chosen else {}),
            "event_from_user": SimpleNamespace(language_code=app_language)}
    assert await middleware.get_locale(event=None, data=data) == expected


async def test_default_language_setting(tmp_path: Path) -> None:
    i18n = bot_init.build_i18n(settings(tmp_path, DEFAULT_LANGUAGE="ru"))
    data = {"event_from_user": SimpleNamespace(language_code="de")}
    assert await bot_init.UserLocale(i18n).get_locale(event=None, data=data) == "ru"


def test_command_menus_in_both_languages(tmp_path: Path) -> None:
    i18n = bot_init.build_i18n(settings(tmp_path))
    en = bot_init.command_list(i18n, "en")
    ru = bot_init.command_list(i18n, "ru")
    assert [c.command for c in en] == [c.command for c in ru] == ["start", "help", "cancel", "language", "settings"]
    assert en[0].description == "Main menu" and ru[0].description == "Главное меню"


# ------------------------------------------------------------------------------------------------ Redis


@pytest.fixture
def redis_url(tmp_path: Path):
    with redis_server(tmp_path) as url:
        yield url


async def test_dialogue_state_survives_a_restart_with_redis(redis_url: str, tmp_path: Path) -> None:
    """The language chosen with /language and the dialogue step are in Redis: a restarted bot remembers both."""
    from tests.test_bot_e2e import TOKEN as E2E_TOKEN
    from tests.test_bot_e2e import BotAPIServer, BotProcess, Person

    emulator = BotAPIServer(token=E2E_TOKEN)
    await emulator.start()
    processes = []
    try:
        for round_ in range(2):
            before = len(emulator.calls_to("getMe"))
            process = await BotProcess.start(emulator, tmp_path / f"run{round_}", REDIS_URL=redis_url,
                                             PRELOAD="", DATA_DIR=str(tmp_path / "data"))
            processes.append(process)
            await emulator.wait_until(lambda n=before: len(emulator.calls_to("getMe")) > n, 60)
            await asyncio.sleep(0.3)  # getMe comes right before the first getUpdates
            ola = Person(emulator, 5001, name="Ola")
            if round_ == 0:
                await ola.say("/language")
                await ola.press(await ola.reply_with_button("Русский"), "Русский")
                await ola.press(await ola.reply_with_button("Свой стиль"), "Свой стиль")
                await ola.reply_with_button("Быстро")
            else:
                await ola.say("hello")  # still in the algorithm step, and still in Russian
                assert "выберите одну из кнопок" in (await ola.reply()).plain_text
            assert await process.stop() == 0, process.log()
    finally:
        for process in processes:
            await process.stop()
        await emulator.stop()
