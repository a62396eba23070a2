"""From a finished dialogue to a delivered picture: submit the job, keep one status message honest, send the result.

The tracker lives for the whole process and follows each job in its own task, so handlers return at once and a user
can press /cancel while their picture is being painted. It is also what picks up jobs journaled before a restart:
those are followed exactly like fresh ones, with a new status message saying the bot is back.

One status message per job is edited at most once per ``STATUS_EDIT_INTERVAL`` seconds (Telegram rate-limits edits;
the newest text is kept and shown when the interval has passed). It turns into the error line when a job fails and
is deleted when the result arrives.

A result is marked delivered in the journal only after Telegram took it. A send that fails (an outage, flood
control past the session's retries, a crash or a restart in between) leaves it "done, not delivered"; the tracker
tries such results again at start and every ``REDELIVER_INTERVAL_S`` seconds, until Telegram takes them, the chat
is gone for good, or ``MAX_DELIVERY_ATTEMPTS`` is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

import dialogue
from dialogue import RESEND_CODES, RESULTS_KEPT, LastResult, Recipe
from jobs import Cancelled, Done, Executor, Failed, Job, JobHandle, Progress, QueueBusy, Queued, Started
from keyboards import menu as menu_kb
from keyboards import results as results_kb
from ml_models import registry
from ml_models.api import Clip, JobRequest, JobResult
from ml_models.errors import EngineError
from ml_models.limits import telegram_photo_ok
from services import oversize
from services.countdown import Countdown
from services.file_store import FileStore, InputRejected
from texts import duration, error_text, options_summary, preset_title, rough, seconds_text, size

log = logging.getLogger(__name__)

REDELIVER_INTERVAL_S = 60.0
MAX_DELIVERY_ATTEMPTS = 60  # about an hour of tries at REDELIVER_INTERVAL_S
_GONE_FOR_GOOD = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid")


@dataclass
class Order:
    """What the user asked for and how to deliver it."""

    recipe: Recipe
    chat_id: int
    user_id: int
    language: str
    rid: int  # result number, carried by the buttons under the result
    as_file: bool = False


class StatusMessage:
    """One message that tells the truth about a job, edited no more often than ``interval`` seconds."""

    def __init__(self, bot: Bot, chat_id: int, message_id: int, text: str, interval: float) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.message_id = message_id
        self.interval = interval
        self._shown = text
        self._wanted = text
        self._markup: InlineKeyboardMarkup | None = None
        self._last_edit = time.monotonic()
        self._flush_task: asyncio.Task | None = None
        self.edits = 0

    async def show(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Show ``text`` now if the interval allows, else as soon as it does (newer text replaces older)."""
        self._wanted, self._markup = text, markup
        if self._flush_task is not None:
            return
        wait = self.interval - (time.monotonic() - self._last_edit)
        if wait <= 0:
            await self._flush()
        else:
            self._flush_task = asyncio.create_task(self._flush_later(wait))

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._flush_task = None
        await self._flush()

    async def _flush(self) -> None:
        if self._wanted == self._shown:
            return
        text = self._wanted
        try:
            await self.bot.edit_message_text(text=text, chat_id=self.chat_id, message_id=self.message_id,
                                             reply_markup=self._markup)
            self.edits += 1
        except TelegramRetryAfter as exc:  # flood control: try again later with whatever is newest then
            self._last_edit = time.monotonic() + exc.retry_after
            return
        except TelegramBadRequest as exc:
            if "not modified" not in str(exc):
                log.debug("status edit failed: %s", exc)
        self._shown = text
        self._last_edit = time.monotonic()

    async def finish(self, text: str | None, markup: InlineKeyboardMarkup | None = None) -> None:
        """Final state: replaced by ``text`` right away (interval ignored), or deleted when ``text`` is None."""
        if self._flush_task is not None:
            self._flush_task.cancel()
            self._flush_task = None
        try:
            if text is None:
                await self.bot.delete_message(chat_id=self.chat_id, message_id=self.message_id)
            else:
                await self.bot.edit_message_text(text=text, chat_id=self.chat_id, message_id=self.message_id,
                                                 reply_markup=markup)
                self.edits += 1
        except TelegramAPIError as exc:
            log.debug("status finish failed: %s", exc)
            if text is not None:
                await self.bot.send_message(self.chat_id, text, reply_markup=markup)


class JobTracker:
    """Submits jobs, follows them in background tasks and delivers what they produce."""

    def __init__(self, *, bot: Bot, executor: Executor, storage: BaseStorage, isolation: BaseEventIsolation, i18n: I18n,
                 files: FileStore, results_dir: Path, status_interval: float, can_upscale: bool = True,
                 video_max_seconds: float = 15.0) -> None:
        self.bot = bot
        self.executor = executor
        self.storage = storage
        self.isolation = isolation
        self.i18n = i18n
        self.files = files
        self.results_dir = Path(results_dir)
        self.status_interval = status_interval
        self.can_upscale = can_upscale
        self.video_max_seconds = video_max_seconds
        self._tasks: set[asyncio.Task] = set()
        self._following: set[str] = set()  # job ids whose own task delivers them (redelivery leaves them alone)
        self._redelivering: asyncio.Task | None = None

    # ------------------------------------------------------------------------------------------------ submitting

    async def submit(self, order: Order) -> bool:
        """Queue the job and start following it; on refusal tell the user why. True when the job was accepted."""
        try:
            request = await self.build_request(order.recipe)
        except InputRejected as exc:
            await self.bot.send_message(order.chat_id, error_text(exc.code), reply_markup=menu_kb.home())
            return False
        job = Job(request=request, chat_id=order.chat_id, user_id=order.user_id, language=order.language,
                  content_file_id=order.recipe.content.file_id if order.recipe.content else None,
                  style_file_ids=[s.file_id for s in order.recipe.styles if s.file_id],
                  meta={"recipe": order.recipe.dump(), "rid": order.rid, "as_file": order.as_file})
        try:
            handle = await self.executor.submit(job)
        except QueueBusy as busy:
            await self.bot.send_message(order.chat_id, busy_text(busy), reply_markup=menu_kb.try_again())
            return False
        except EngineError as exc:  # refused before queueing (too many pixels for the model, ...)
            await self.bot.send_message(order.chat_id, "❌ " + _error(exc.code, request), reply_markup=menu_kb.home())
            return False
        queued = _("⏳ Your clip is in the queue…") if request.clip else _("⏳ Your picture is in the queue…")
        status = await self.bot.send_message(order.chat_id, queued, reply_markup=menu_kb.job_status())
        self._follow(handle, job, status)
        log.info("job %s submitted for user %s: %s", job.id, job.user_id, request.describe())
        return True

    async def build_request(self, recipe: Recipe) -> JobRequest:
        """The engine's request for a recipe: its pictures read back from the file store (``InputRejected`` if gone)."""
        if recipe.content is None or recipe.model is None:
            raise InputRejected("input_expired")
        content = await self.files.read(self.bot, recipe.content)
        styles = [await self.files.read(self.bot, ref) for ref in recipe.styles]
        spec = registry.get(recipe.model)
        allowed = {opt.name for opt in spec.options} | {"max_side"}  # max_side: the upscale size the user chose
        options = {k: v for k, v in recipe.options.items() if k in allowed}
        clip = None
        if recipe.content.clip:
            raw = recipe.content.clip
            clip = Clip(kind=str(raw.get("kind", "animation")), suffix=str(raw.get("suffix", ".mp4")),
                        seconds=float(raw.get("seconds") or 0), width=int(raw.get("width") or 0),
                        height=int(raw.get("height") or 0), max_seconds=self.video_max_seconds)
        return JobRequest(model=recipe.model, content=content, preset=recipe.preset, styles=styles,
                          style_weights=list(recipe.weights) if styles else [], options=options, clip=clip)

    async def resume_unfinished(self) -> int:
        """Re-fetch the photos of jobs journaled before a restart and follow them again."""
        resumed = 0
        for job in await self.executor.unfinished():
            with self.i18n.context(), self.i18n.use_locale(job.language or self.i18n.default_locale):
                recipe = Recipe.load(job.meta.get("recipe"))
                try:
                    if recipe is None:
                        raise InputRejected("input_expired")
                    fresh = await self.build_request(recipe)
                    job.request.content, job.request.styles = fresh.content, fresh.styles
                    job.request.clip = fresh.clip
                    handle = await self.executor.resume(job)
                except (InputRejected, EngineError, QueueBusy) as exc:
                    log.warning("cannot resume job %s: %s", job.id, exc)
                    code = exc.code if isinstance(exc, InputRejected | EngineError) else "worker_unavailable"
                    with contextlib.suppress(Exception):  # forget it, or it would be retried at every start
                        await self.executor.discard(job, code, str(exc))
                    with contextlib.suppress(TelegramAPIError):
                        await self.bot.send_message(
                            job.chat_id, _("I was restarted and could not finish your picture: {reason}").format(
                                reason=error_text(code)), reply_markup=menu_kb.home())
                    continue
                try:
                    status = await self.bot.send_message(
                        job.chat_id, _("♻️ I was restarted. Your picture is back in the queue…"),
                        reply_markup=menu_kb.job_status())
                except TelegramAPIError as exc:
                    log.warning("cannot reach chat %s for resumed job %s: %s", job.chat_id, job.id, exc)
                    status = None
                self._follow(handle, job, status)
                resumed += 1
        if resumed:
            log.info("resumed %d unfinished job(s)", resumed)
        return resumed

    # ------------------------------------------------------------------------------------------------ following

    def keep(self, task: asyncio.Task) -> None:
        """Hold a background task (an album's) until it ends; shutdown waits for it like for any job."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _follow(self, handle: JobHandle, job: Job, status: Message | None) -> None:
        task = asyncio.create_task(self._run(handle, job, status), name=f"job-{job.id}")
        self._tasks.add(task)
        self._following.add(job.id)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            self._following.discard(job.id)

        task.add_done_callback(done)

    async def _run(self, handle: JobHandle, job: Job, status_message: Message | None) -> None:
        with self.i18n.context(), self.i18n.use_locale(job.language or self.i18n.default_locale):
            status = (StatusMessage(self.bot, job.chat_id, status_message.message_id, status_message.text or "",
                                    self.status_interval) if status_message else None)
            try:
                await self.consume(handle, job, status)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivering job %s failed", job.id)
                with contextlib.suppress(Exception):
                    await self.bot.send_message(job.chat_id, "❌ " + error_text("internal_error"),
                                                reply_markup=menu_kb.home())

    async def consume(self, handle: Any, job: Job, status: StatusMessage | None) -> None:
        """Follow a submitted job to its end: status edits, then the result delivered or the failure explained."""
        clip = job.request.clip is not None
        async with AsyncExitStack() as working:
            estimate, countdown = None, Countdown(None)
            async for event in handle.events():
                if isinstance(event, Queued):
                    estimate = event.eta_s
                    await _show(status, _queued_text(event), menu_kb.job_status())
                elif isinstance(event, Started):
                    countdown = Countdown(estimate, clip=clip)  # the ETA when it was next in line
                    await _show(status, countdown.text(), menu_kb.job_status())
                    action = ChatActionSender.upload_video if clip else ChatActionSender.upload_photo
                    await working.enter_async_context(action(chat_id=job.chat_id, bot=self.bot))
                elif isinstance(event, Progress):
                    await _show(status, countdown.text(event.done, event.total), menu_kb.job_status())
                elif isinstance(event, Done):
                    await working.aclose()
                    await self._hand_over(job, event.result, status)
                elif isinstance(event, Failed):
                    log.info("job %s failed: %s %s", job.id, event.code, event.message)
                    if event.code in RESEND_CODES and await self._reopen(job):
                        await _finish(status, "❌ " + error_text(event.code), menu_kb.cancel())
                    elif status:
                        code = event.code
                        if code == "interrupted" and not event.details.get("resumable", True):
                            code = "interrupted_lost"  # the journal does not outlive this machine: no promise
                        markup = None if code == "interrupted" else menu_kb.home()
                        await status.finish("❌ " + _error(code, job.request, event.details), markup)
                elif isinstance(event, Cancelled) and status:
                    await status.finish(_("✖️ The job was cancelled."), menu_kb.home())

    async def _hand_over(self, job: Job, result: JobResult, status: StatusMessage | None) -> bool:
        """Deliver and record the outcome in the journal: delivered, or kept for another try. True when sent."""
        try:
            await self._deliver(job, result, status)
        except asyncio.CancelledError:  # stopping in the middle of a send: the journal keeps it for the next start
            raise
        except Exception as exc:
            gone = isinstance(exc, TelegramForbiddenError) or any(p in str(exc).lower() for p in _GONE_FOR_GOOD)
            attempts = 0
            if not gone:
                try:
                    attempts = await self.executor.note_undelivered(job.id)
                except Exception as journal_exc:  # the journal is away: the result is still there for a retry
                    log.warning("cannot count the failed delivery of job %s: %s", job.id, journal_exc)
            log.warning("result of job %s not delivered (attempt %d): %s", job.id, attempts, exc)
            if gone or attempts >= MAX_DELIVERY_ATTEMPTS:
                await self._delivered(job)  # nobody will get it: drop the stored copy
                if not gone:
                    with contextlib.suppress(Exception):
                        await self.bot.send_message(job.chat_id, "❌ " + _("I could not send your picture. Please "
                                                                         "try again."), reply_markup=menu_kb.home())
            elif attempts == 1:
                with contextlib.suppress(Exception):
                    await self.bot.send_message(job.chat_id, _("✅ Your picture is ready, but Telegram did not take it "
                                                               "just now. I will send it again in a few minutes."))
            return False
        await self._delivered(job)
        return True

    async def _delivered(self, job: Job) -> None:
        """Mark it in the journal; if the journal is away, the worst case is one duplicate later, not an error."""
        try:
            await self.executor.mark_delivered(job.id)
        except Exception as exc:
            log.warning("cannot mark job %s delivered (it may be sent once more): %s", job.id, exc)

    async def redeliver(self) -> int:
        """One pass over the journal's done-but-undelivered results (left by a failed send or a restart)."""
        sent = 0
        for job, result in await self.executor.undelivered():
            if job.id in self._following:
                continue
            self._following.add(job.id)
            try:
                with self.i18n.context(), self.i18n.use_locale(job.language or self.i18n.default_locale):
                    sent += await self._hand_over(job, result, None)
            finally:
                self._following.discard(job.id)
        if sent:
            log.info("delivered %d result(s) left undelivered earlier", sent)
        return sent

    def start_redelivery(self, interval: float = REDELIVER_INTERVAL_S) -> None:
        """Send undelivered results now and then every ``interval`` seconds until ``close``."""

        async def loop() -> None:
            while True:
                try:
                    await self.redeliver()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("redelivering results failed")
                await asyncio.sleep(interval)

        if self._redelivering is None:
            self._redelivering = asyncio.create_task(loop(), name="redeliver")

    async def _deliver(self, job: Job, result: JobResult, status: StatusMessage | None) -> None:
        recipe = Recipe.load(job.meta.get("recipe")) or Recipe(kind="own", model=job.request.model)
        rid = int(job.meta.get("rid", 0))
        kind = _clip_kind(job, recipe, result)
        if kind is not None:
            await self._deliver_clip(job, kind, result, status, recipe, rid)
            return
        result, reencoded = await asyncio.to_thread(oversize.fit_for_telegram, result)
        as_document = (recipe.kind == "upscale" or bool(job.meta.get("as_file"))
                       or not telegram_photo_ok(result.width, result.height, len(result.image)))
        path = await asyncio.to_thread(self._keep_result, job, rid, result)
        markup = _result_markup(recipe, rid, as_document, self.can_upscale)
        caption = result_caption(recipe, result)
        if reencoded:
            caption += "\n" + _("📦 A high-quality JPEG: the PNG was larger than Telegram's 50 MB limit.")
        document = BufferedInputFile(result.image, filename=_file_name(recipe, rid, result.mime))
        if status:
            await status.finish(None)
        if as_document:
            sent = await self.bot.send_document(job.chat_id, document, caption=caption, reply_markup=markup)
            file_id = sent.document.file_id if sent.document else None
        else:
            try:
                sent = await self.bot.send_photo(job.chat_id, document, caption=caption, reply_markup=markup)
            except TelegramBadRequest as exc:  # Telegram's photo checks are stricter than documented: a file then
                log.info("photo refused (%s); sending job %s as a document", exc, job.id)
                markup = _result_markup(recipe, rid, True, self.can_upscale)
                sent = await self.bot.send_document(job.chat_id, document, caption=caption, reply_markup=markup)
                as_document = True
            file_id = (sent.photo[-1].file_id if sent.photo else sent.document.file_id if sent.document else None)
        last = LastResult(rid=rid, recipe=recipe, path=str(path) if path else None, file_id=file_id,
                          mime=result.mime, sent_as_document=as_document, width=result.width, height=result.height)
        try:  # sent: a failure from here on must not send it twice
            await self._remember(job, last)
        except Exception as exc:
            log.warning("cannot remember the result of job %s for its buttons: %s", job.id, exc)
        log.info("job %s delivered to %s: %dx%d %s in %.1fs", job.id, job.chat_id, result.width, result.height,
                 "document" if as_document else "photo", result.seconds)

    async def _deliver_clip(self, job: Job, kind: str, result: JobResult, status: StatusMessage | None,
                            recipe: Recipe, rid: int) -> None:
        """The same kind back: an animation (no sound), a video (its sound kept) or a round video note."""
        markup = _result_markup(recipe, rid, True, False, clip=True)
        caption = result_caption(recipe, result)
        upload = BufferedInputFile(result.image, filename=_file_name(recipe, rid, result.mime))
        seconds = max(1, round(float(result.info.get("duration") or 0)))
        if status:
            await status.finish(None)
        if kind == "video_note":  # no caption on a video note: the buttons carry the rest
            sent = await self.bot.send_video_note(job.chat_id, upload, duration=seconds, length=result.width,
                                                  reply_markup=markup)
            file_id = sent.video_note.file_id if sent.video_note else None
        elif kind == "video":
            sent = await self.bot.send_video(job.chat_id, upload, duration=seconds, width=result.width,
                                             height=result.height, caption=caption, reply_markup=markup,
                                             supports_streaming=True)
            file_id = sent.video.file_id if sent.video else None
        else:
            sent = await self.bot.send_animation(job.chat_id, upload, duration=seconds, width=result.width,
                                                 height=result.height, caption=caption, reply_markup=markup)
            file_id = sent.animation.file_id if sent.animation else None
        last = LastResult(rid=rid, recipe=recipe, path=None, file_id=file_id, mime=result.mime,
                          sent_as_document=False)
        await self._remember(job, last)
        log.info("job %s delivered to %s: %s %dx%d, %s frames in %.1fs", job.id, job.chat_id, kind, result.width,
                 result.height, result.info.get("frames"), result.seconds)

    async def _reopen(self, job: Job) -> bool:
        """The picture was refused: back to the photo step of the same dialogue, every choice kept."""
        recipe = Recipe.load(job.meta.get("recipe"))
        if recipe is None or job.meta.get("batch"):
            return False
        key = StorageKey(bot_id=self.bot.id, chat_id=job.chat_id, user_id=job.user_id)
        async with self.isolation.lock(key):
            return await dialogue.reopen_picture_step(self.storage, key, recipe)

    def _keep_result(self, job: Job, rid: int, result: JobResult) -> Path | None:
        """A copy of the last result per user, for "send as file" and "upscale this" (older copies are removed)."""
        try:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            for old in self.results_dir.glob(f"{job.user_id}-*"):
                if not old.stem.split("-")[-1].isdigit() or int(old.stem.split("-")[-1]) <= rid - RESULTS_KEPT:
                    old.unlink(missing_ok=True)  # only the recent results' buttons can use their copy
            path = self.results_dir / f"{job.user_id}-{rid}{_suffix(result.mime)}"
            path.write_bytes(result.image)
            return path
        except OSError as exc:
            log.warning("cannot keep the result of job %s: %s", job.id, exc)
            return None

    async def _remember(self, job: Job, last: LastResult) -> None:
        key = StorageKey(bot_id=self.bot.id, chat_id=job.chat_id, user_id=job.user_id)
        async with self.isolation.lock(key):
            await self.storage.set_data(key, dialogue.remember_result(await self.storage.get_data(key), last))

    async def close(self, grace: float = 5.0) -> None:
        """Stop following. Called after the executor stopped, so every job has its last event: give the tasks
        ``grace`` seconds to tell their users (result delivered, or "restarting, will be finished"), then cancel."""
        if self._redelivering is not None:
            self._redelivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._redelivering
            self._redelivering = None
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def active(self) -> int:
        return len(self._tasks)


async def _finish(status: StatusMessage | None, text: str, markup: InlineKeyboardMarkup) -> None:
    if status is not None:
        await status.finish(text, markup)


async def _show(status: StatusMessage | None, text: str, markup: InlineKeyboardMarkup) -> None:
    if status is not None:
        await status.show(text, markup)


def _queued_text(event: Queued) -> str:
    if event.position <= 1:
        text = _("⏳ You are next in the queue.")
    else:
        text = _("⏳ You are number {position} in the queue.").format(position=event.position)
    if event.eta_s:
        text += "\n" + _("Ready in about {eta}.").format(eta=duration(event.eta_s))
    return text


def busy_text(busy: QueueBusy) -> str:
    if busy.reason == "user_limit":
        return _("⏳ You already have a picture in the works. Wait for it, or press /cancel to stop it.")
    if busy.reason == "long_wait":
        return _("⏳ I am very busy right now: your picture would wait about {wait} before I could start it. "
                 "Please try again in a few minutes.").format(wait=rough(busy.wait_s or 0))
    if busy.reason == "stopping":
        return _("⏳ I am restarting right now. Please send your request again in a minute.")
    return _("⏳ I am very busy right now: you would be number {position} in the queue, and the queue is full. "
             "Please try again in a few minutes.").format(position=busy.position)


def result_caption(recipe: Recipe, result: JobResult) -> str:
    model = recipe.model or ""
    parts = [preset_title(model, recipe.preset) if model in registry.MODELS else model]
    source = recipe.content
    if source is not None and source.width and source.height:  # the input's size too: nothing shrunk silently
        parts.append(f"{size(source.width, source.height)} → {size(result.width, result.height)}")
    elif recipe.kind == "upscale":
        parts.append(size(result.width, result.height))
    if recipe.kind != "upscale" and model in registry.MODELS:
        summary = options_summary(model, recipe.options, recipe.weights)
        if summary:
            parts.append(summary)
    parts.append("⏱ " + duration(result.seconds))
    return " · ".join(parts)


def _result_markup(recipe: Recipe, rid: int, as_document: bool, can_upscale: bool,
                   clip: bool = False) -> InlineKeyboardMarkup:
    """The after-result buttons; a clip can be run again with another strength or style, not upscaled."""
    spec = registry.MODELS.get(recipe.model or "")
    restyle = recipe.kind in ("own", "ready")
    return results_kb.actions(
        rid,
        strength=restyle and spec is not None and any(o.name == "strength" for o in spec.options),
        restyle=restyle,
        upscale=can_upscale and recipe.kind != "upscale" and not clip,
        as_file=not as_document and not clip,
    )


def _clip_kind(job: Job, recipe: Recipe, result: JobResult) -> str | None:
    """How a clip result goes back (animation, video, video note), or None for a picture. A result redelivered
    after a restart comes with a job rebuilt from the journal, without ``clip``: the recipe or the result says it."""
    if not result.mime.startswith("video/"):
        return None
    if job.request.clip is not None:
        return job.request.clip.kind
    if recipe.content is not None and recipe.content.clip:
        return str(recipe.content.clip.get("kind", "animation"))
    return str(result.info.get("kind") or "animation")


def _error(code: str, request: JobRequest, details: dict[str, Any] | None = None) -> str:
    """``error_text`` with the clip limit filled in for ``video_too_long``."""
    limit = (details or {}).get("max_seconds") or (request.clip.max_seconds if request.clip else None)
    return error_text(code, seconds=seconds_text(limit)) if limit else error_text(code)



def _suffix(mime: str) -> str:
    return {"image/png": ".png", "video/mp4": ".mp4", "video/webm": ".webm", "image/gif": ".gif"}.get(mime, ".jpg")


def _file_name(recipe: Recipe, rid: int, mime: str) -> str:
    name = "-".join(p for p in (recipe.model, recipe.preset) if p) or "result"
    return f"{name}-{rid}{_suffix(mime)}"
