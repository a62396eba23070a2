"""Running the bot until it is told to stop, and stopping it in the order that loses nothing.

Shutdown on SIGTERM (Heroku's restart signal) or Ctrl+C: stop taking updates, let the executor finish or journal the
jobs in flight (results finished while draining are still delivered), stop following jobs, then close the Bot API
session and the FSM storage. Journaled jobs are resumed at the next start.

:func:`run_bot` takes a settings object and nothing else from the environment, so the same bot runs against
Telegram, a local Bot API server or the emulator (``TELEGRAM_API_URL``). ``main.py`` and ``sandbox.py`` both run
the bot through here, so neither imports the other to do so.
"""

from __future__ import annotations

import lazy_telegram_types  # noqa: F401  (first, before aiogram: its validators are built on first use)

# isort: split
import asyncio
import contextlib
import logging
import signal
import sys
import time

from aiogram.exceptions import TelegramAPIError
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

import bot_init
import bot_webhook
from config import Settings

log = logging.getLogger("artbot")


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives, then shut down gracefully."""
    stop = stop or asyncio.Event()
    _install_signal_handlers(stop)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = bot_init.build(settings)
    for line in bot_init.describe_availability(settings, app.availability):
        log.info(line)
    await app.executor.start()
    try:
        try:
            await bot_init.set_commands(app.bot, app.i18n)
        except TelegramAPIError as exc:  # the command menu is a nicety; the bot works without it
            log.warning("set_my_commands failed: %s", exc)
        await app.tracker.resume_unfinished()
        app.tracker.start_redelivery()  # results done before a crash or a failed send
        if app.cleaner is not None:
            app.cleaner.start()  # kept results and thumbnails older than RESULT_TTL, low disk
        if settings.webhook_mode:
            await _serve_webhook(app, stop)
        else:
            await _poll(app, stop)
    finally:
        await _shutdown(app)


async def _poll(app: bot_init.BotApp, stop: asyncio.Event) -> None:
    await app.bot.delete_webhook(drop_pending_updates=False)  # getUpdates refuses to work while a webhook is set
    me = await app.bot.get_me()
    log.info("polling as @%s (%s)", me.username, app.settings.telegram_api_url or "api.telegram.org")
    polling = asyncio.create_task(app.dispatcher.start_polling(
        app.bot, handle_signals=False, close_bot_session=False,
        allowed_updates=app.dispatcher.resolve_used_update_types()))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not polling.done():
        log.info("stopping: no more updates")
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        await polling
    stopped.cancel()
    polling.result()  # re-raise a polling crash


async def _serve_webhook(app: bot_init.BotApp, stop: asyncio.Event) -> None:
    settings = app.settings
    web_app = web.Application()
    started = time.monotonic()

    async def healthz(request: web.Request) -> web.Response:
        stats = app.executor.stats()
        return web.json_response({"ok": True, "mode": "webhook", "uptime_s": round(time.monotonic() - started, 1),
                                  "queue_length": stats.get("queue_length"), "running": stats.get("running"),
                                  "models": sorted(app.availability.models)})

    web_app.router.add_get("/healthz", healthz)
    bot_webhook.WebhookHandler(app.dispatcher, app.bot, secret_token=settings.webhook_secret).register(
        web_app, path=settings.webhook_path)
    setup_application(web_app, app.dispatcher, bot=app.bot)
    runner = web.AppRunner(web_app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    watch = None
    try:
        url = settings.webhook_url or ""  # set: this is webhook mode
        seen = await bot_webhook.log_delivery_error(app.bot, "before this start")  # e.g. the 404s of a wrong path
        await app.bot.set_webhook(url, secret_token=settings.webhook_secret,
                                  allowed_updates=app.dispatcher.resolve_used_update_types())
        log.info("webhook registered with Telegram: %s (served on %s:%d, path %s)",
                 bot_webhook.shown_url(url, settings.bot_token), settings.host, settings.port,
                 settings.webhook_path)
        watch = asyncio.create_task(bot_webhook.watch_delivery_errors(app.bot, settings.webhook_check_interval,
                                                                      seen))
        await stop.wait()
        log.info("stopping: no more updates")
        await bot_webhook.stop_task(watch)
        await site.stop()  # stop listening; the session stays open for results finished while draining
        await _drain(app)
    finally:
        await bot_webhook.stop_task(watch)
        await runner.cleanup()


async def _drain(app: bot_init.BotApp) -> None:
    """Let running jobs finish for DRAIN_SECONDS (results are delivered), journal the rest."""
    if app.stopped:
        return
    app.stopped = True
    started = time.monotonic()
    await app.executor.stop(app.settings.drain_seconds)
    log.info("executor stopped after %.1fs", time.monotonic() - started)
    await app.tracker.close()
    if app.cleaner is not None:
        await app.cleaner.stop()


async def _shutdown(app: bot_init.BotApp) -> None:
    try:
        await _drain(app)  # already done in webhook mode
    except Exception:
        log.exception("stopping the executor failed")
    with contextlib.suppress(Exception):
        await app.dispatcher.storage.close()
    with contextlib.suppress(Exception):
        await app.bot.session.close()
    log.info("bye")


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            loop.add_signal_handler(sig, stop.set)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
