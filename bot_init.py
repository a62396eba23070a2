"""Assembling the bot: Bot API session, dispatcher, FSM storage, translations, routers and services.

Nothing here is global: :func:`build` returns a fresh :class:`BotApp` for a settings object, and every service a
handler needs (settings, the executor, the job tracker, the gallery, the file store, what models are installed)
reaches it through the dispatcher's workflow data, by parameter name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeDefault, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.utils.i18n import I18n, I18nMiddleware

import handlers
import locales
from config import Settings
from group_chats import GroupChatGate
from handlers.albums import AlbumCollector
from jobs import Executor, make_executor
from keyboards import menu as menu_kb
from middlewares.throttling import Throttling
from ml_models import registry
from services.cleanup import Cleaner
from services.file_store import FileStore
from services.gallery import Gallery
from services.job_tracker import JobTracker
from services.telegram_retry import DeliveryRetry

log = logging.getLogger(__name__)
_EXECUTOR_METHODS = [name for name in dir(Executor) if not name.startswith("_")]


class UserLocale(I18nMiddleware):
    """The language chosen with /language (FSM data), else the Telegram app's language, else DEFAULT_LANGUAGE."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        available = self.i18n.available_locales
        state = data.get("state")
        if state is not None:
            chosen = (await state.get_data()).get("locale")
            if chosen in available:
                return chosen
        user = data.get("event_from_user")
        code = (getattr(user, "language_code", None) or "").lower().replace("_", "-").split("-")[0]
        return code if code in available else self.i18n.default_locale


@dataclass
class BotApp:
    """Everything ``main`` starts and stops."""

    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    executor: Executor
    tracker: JobTracker
    i18n: I18n
    availability: registry.Availability
    cleaner: Cleaner | None = None
    stopped: bool = False


def build_bot(settings: Settings) -> Bot:
    """The Bot API client; every call on its session outlasts 429s and short outages (``TELEGRAM_RETRY_S``)."""
    api_url = settings.telegram_api_url
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else AiohttpSession()
    session.middleware(DeliveryRetry(settings.telegram_retry_s))
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis keeps dialogues across restarts and between several bot processes; memory is for one process."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        from jobs.wire import ssl_options  # the same TLS policy as the job queue: verified unless the operator opts out

        tls = ssl_options(settings.redis_url, settings.jobs.redis_ssl_cert_reqs, settings.jobs.redis_ca_cert)
        storage = RedisStorage.from_url(settings.redis_url, connection_kwargs=tls)
        return storage, RedisEventIsolation(redis=storage.redis)
    return MemoryStorage(), SimpleEventIsolation()


def build_i18n(settings: Settings) -> I18n:
    path = locales.ensure_compiled(fallback=settings.data_dir / "locales")
    return I18n(path=path, default_locale=settings.default_language, domain=locales.DOMAIN)


def build_executor(settings: Settings) -> Executor:
    return make_executor(settings.jobs)


def build(settings: Settings, executor: Executor | None = None, bot: Bot | None = None) -> BotApp:
    """Wire a complete bot. Nothing starts here: no network, no worker processes (see ``bot_runner.run_bot``)."""
    executor = executor if executor is not None else build_executor(settings)
    if not isinstance(executor, Executor):  # fail here, not at the first photo or at shutdown
        missing = [name for name in _EXECUTOR_METHODS if not callable(getattr(executor, name, None))]
        raise TypeError(f"{type(executor).__name__} is not a jobs.Executor: it lacks {', '.join(missing)}")
    bot = bot or build_bot(settings)
    storage, isolation = build_storage(settings)
    i18n = build_i18n(settings)
    availability = registry.available(settings.engine.weights_dir)
    files = FileStore(settings.engine.styles_dir, downloads=settings.resources.download_concurrency,
                      converted_dir=settings.data_dir / "inputs")
    gallery = Gallery(settings.engine.styles_dir, settings.data_dir / "thumbs")
    tracker = JobTracker(bot=bot, executor=executor, storage=storage, isolation=isolation, i18n=i18n, files=files,
                         results_dir=settings.data_dir / "results", status_interval=settings.status_edit_interval,
                         can_upscale="upscale" in availability.models,
                         video_max_seconds=settings.video_max_seconds)
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation, settings=settings, executor=executor,
                            tracker=tracker, availability=availability, gallery=gallery, files=files)
    GroupChatGate().setup(dispatcher)  # in groups: only /cmd@bot and replies to the bot
    albums = AlbumCollector(dispatcher)  # an album's photos reach the handlers once, together
    dispatcher["albums"] = albums
    dispatcher.update.outer_middleware(albums)
    UserLocale(i18n).setup(dispatcher)
    throttle = Throttling(settings.resources.throttle_rate, settings.resources.throttle_burst)  # after the locale
    dispatcher.message.outer_middleware(throttle)
    dispatcher.callback_query.outer_middleware(throttle)
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware(pre=True))
    dispatcher.include_routers(*handlers.routers())
    cleaner = Cleaner([settings.data_dir / "results", settings.data_dir / "thumbs"], settings.jobs.result_ttl_s,
                      settings.resources.disk_min_free_mb, settings.resources.cleanup_interval_s)
    return BotApp(settings=settings, bot=bot, dispatcher=dispatcher, executor=executor, tracker=tracker, i18n=i18n,
                  availability=availability, cleaner=cleaner)


COMMANDS = menu_kb.COMMANDS


def command_list(i18n: I18n, language: str) -> list[BotCommand]:
    with i18n.context(), i18n.use_locale(language):
        return menu_kb.commands()


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """The command menu and the bot's description and short description in every language, plus a default for the
    other apps' languages (what a new user sees before the first message)."""
    for language in [*i18n.available_locales, None]:
        with i18n.context(), i18n.use_locale(language or i18n.default_locale):
            code = {"language_code": language} if language else {}
            await bot.set_my_commands(menu_kb.commands(), scope=BotCommandScopeDefault(), **code)
            await bot.set_my_description(menu_kb.description(), **code)
            await bot.set_my_short_description(menu_kb.short_description(), **code)


def describe_availability(settings: Settings, availability: registry.Availability) -> list[str]:
    """Log lines: what is offered and what is missing, with the command that downloads it."""
    lines = []
    for model_id, presets in availability.models.items():
        lines.append(f"available: {model_id}" + (f" ({', '.join(presets)})" if presets else ""))
    for target, command in availability.missing.items():
        lines.append(f"missing: {target}: run `{command}`")
    styles = registry.gallery_available(settings.engine.styles_dir)
    lines.append(f"gallery: {len(styles)} of {len(registry.GALLERY)} style pictures in {settings.engine.styles_dir}"
                 + ("" if len(styles) == len(registry.GALLERY) else "; run `python -m ml_models download gallery`"))
    return lines
