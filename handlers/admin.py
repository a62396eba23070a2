"""/stats for the ids in ADMIN_IDS: the queue, what finished and failed, how long models take, what is missing.

For everyone else the command does not exist: the filter lets the update fall through to the fallback router,
which answers it like any unknown command.
"""

from __future__ import annotations

import html
from typing import Any

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from config import Settings
from jobs import Executor
from ml_models.registry import Availability
from services.job_tracker import JobTracker
from texts import duration


class IsAdmin(Filter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        return message.from_user is not None and message.from_user.id in settings.admin_ids


def stats_text(stats: dict[str, Any], availability: Availability, following: int) -> str:
    lines = [_("<b>Statistics</b>"),
             _("Queue: {queued} waiting, {running} running").format(queued=stats.get("queue_length", 0),
                                                                   running=stats.get("running", 0)),
             _("Jobs done: {done}, failed: {failed}, cancelled: {cancelled}").format(
                 done=stats.get("done", 0), failed=stats.get("failed", 0), cancelled=stats.get("cancelled", 0)),
             _("Deliveries in progress: {count}").format(count=following)]
    medians = stats.get("median_seconds") or {}
    if medians:
        lines.append(_("Median time per model:"))
        lines.extend(f"  • {html.escape(str(model))}: {duration(seconds)}" for model, seconds in sorted(medians.items())
                     if seconds is not None)
    lines.append(_("Installed: {models}").format(models=html.escape(", ".join(
        f"{m}({', '.join(p)})" if p else m for m, p in availability.models.items()) or "—")))
    if availability.missing:
        lines.append(_("Missing (download with):"))
        lines.extend(f"  • {html.escape(target)}: <code>{html.escape(command)}</code>"
                     for target, command in availability.missing.items())
    return "\n".join(lines)


async def stats(message: Message, executor: Executor, availability: Availability, tracker: JobTracker) -> None:
    await message.answer(stats_text(executor.stats(), availability, tracker.active))


def router() -> Router:
    r = Router(name="admin")
    r.message.register(stats, Command("stats"), IsAdmin())
    return r
