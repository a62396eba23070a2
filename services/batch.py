"""An album processed as one request: its photos run one after another under one status message.

Each photo is an ordinary job (the same recipe, its own result number and buttons), but they are submitted one at a
time, so the album holds one place in the queue and the per-user limits count it as one request; results come back
one by one as they finish. The status message says which photo is being painted; a photo that fails gets its own
line and the others go on; /cancel (or the status button) stops the current photo and the rest of the album.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from dialogue import Recipe
from jobs import Cancelled, Job, QueueBusy
from keyboards import menu as menu_kb
from ml_models.errors import EngineError
from services.file_store import InputRejected
from services.job_tracker import JobTracker, Order, StatusMessage, busy_text
from texts import error_text

log = logging.getLogger(__name__)


class BatchStatus(StatusMessage):
    """The album's one status message: each line is prefixed with the photo's number; a photo's end is not the end."""

    index = 1
    count = 1

    async def show(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        await super().show(_("Photo {index} of {count}").format(index=self.index, count=self.count) + "\n" + text,
                           markup)

    async def finish(self, text: str | None, markup: InlineKeyboardMarkup | None = None) -> None:
        if text is not None:  # this photo failed or was cancelled: say so apart, the status goes on
            with contextlib.suppress(TelegramAPIError):
                await self.bot.send_message(self.chat_id, _("Photo {index} of {count}: {reason}").format(
                    index=self.index, count=self.count, reason=text))

    async def close(self) -> None:
        await StatusMessage.finish(self, None)


def start_batch(tracker: JobTracker, orders: list[Order]) -> None:
    """Follow the album in the background (the tracker waits for it at shutdown like for any job)."""
    task = asyncio.create_task(_run(tracker, orders), name=f"album-{orders[0].chat_id}")
    tracker.keep(task)


async def _run(tracker: JobTracker, orders: list[Order]) -> None:
    first = orders[0]
    bot = tracker.bot
    with tracker.i18n.context(), tracker.i18n.use_locale(first.language or tracker.i18n.default_locale):
        sent = await bot.send_message(first.chat_id, _("⏳ {count} photos are in the queue…").format(count=len(orders)),
                                      reply_markup=menu_kb.job_status())
        status = BatchStatus(bot, first.chat_id, sent.message_id, sent.text or "", tracker.status_interval)
        status.count = len(orders)
        try:
            for index, order in enumerate(orders, start=1):
                status.index = index
                outcome = await _one(tracker, order, status)
                if outcome == "busy":  # the photos not yet done stay the draft: 🔁 Try again sends them
                    await _keep_rest(tracker, orders[index - 1:])
                if outcome != "next":
                    return
            await status.close()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("album of chat %s failed", first.chat_id)
            await status.close()
            with contextlib.suppress(Exception):
                await bot.send_message(first.chat_id, "❌ " + error_text("internal_error"), reply_markup=menu_kb.home())


async def _keep_rest(tracker: JobTracker, orders: list[Order]) -> None:
    rest = Recipe.load(orders[0].recipe.dump())
    assert rest is not None
    rest.batch = [o.recipe.content for o in orders[1:] if o.recipe.content is not None]
    key = StorageKey(bot_id=tracker.bot.id, chat_id=orders[0].chat_id, user_id=orders[0].user_id)
    async with tracker.isolation.lock(key):
        await FSMContext(tracker.storage, key).update_data(draft=rest.dump())


async def _one(tracker: JobTracker, order: Order, status: BatchStatus) -> str:
    """Run one photo of the album: "next", or "busy" / "cancelled" when the album stops here."""
    try:
        request = await tracker.build_request(order.recipe)
    except InputRejected as exc:
        await status.finish(error_text(exc.code))
        return "next"
    job = Job(request=request, chat_id=order.chat_id, user_id=order.user_id, language=order.language,
              content_file_id=order.recipe.content.file_id if order.recipe.content else None,
              style_file_ids=[s.file_id for s in order.recipe.styles if s.file_id],
              meta={"recipe": order.recipe.dump(), "rid": order.rid, "as_file": order.as_file, "batch": True})
    try:
        handle = await tracker.executor.submit(job)
    except QueueBusy as busy:
        await StatusMessage.finish(status, busy_text(busy), menu_kb.try_again())
        return "busy"
    except EngineError as exc:
        await status.finish("❌ " + error_text(exc.code))
        return "next"
    await tracker.consume(handle, job, status)
    if isinstance(handle.last_event, Cancelled):
        await StatusMessage.finish(status, _("✖️ The rest of the album was cancelled."), menu_kb.home())
        return "cancelled"
    return "next"
