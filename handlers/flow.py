"""Steps several features take the same way: showing the menu, taking a picture, sending a job off."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message, User
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import ImageRef, Recipe
from jobs import Executor
from jobs.eta import Estimator
from keyboards import menu as menu_kb
from ml_models import registry
from ml_models.registry import Availability
from services.batch import start_batch
from services.file_store import FileStore, InputRejected
from services.job_tracker import JobTracker, Order
from texts import error_text, language, seconds_text


def expected_seconds(executor: Executor, model_id: str) -> float:
    """How long a standard-size job of this model takes on this server: the job layer's ETA model (learnt from the
    finished jobs when the executor offers it, its CPU defaults otherwise)."""
    spec = registry.get(model_id)
    pixels = spec.default_max_side * spec.default_max_side * 3 // 4  # a 4:3 photo at the standard size
    estimate = getattr(executor, "estimate", None)
    return float(estimate(model_id, pixels)) if callable(estimate) else Estimator().estimate(model_id, pixels)


def menu_text() -> str:
    return _("What shall we do? Choose a mode below.")


async def show_menu(bot: Bot, chat_id: int, availability: Availability, text: str | None = None) -> None:
    await bot.send_message(chat_id, text or menu_text(), reply_markup=menu_kb.main_menu(availability))


CLIP_MESSAGES = F.animation | F.video | F.video_note
"""Moving pictures: steps that take the content take these too (documents are sorted out by ``FileStore``)."""



async def take_picture(message: Message, bot: Bot, files: FileStore, settings: Settings,
                       clips: bool = False) -> ImageRef | None:
    """The picture (or, with ``clips``, the moving picture) in ``message``, or None after telling the user what is
    wrong with it (the step stays)."""
    try:
        return await files.receive(bot, message, settings.engine.max_input_pixels,
                                   settings.video_max_seconds if clips else None)
    except InputRejected as exc:
        text = error_text(exc.code, seconds=seconds_text(settings.video_max_seconds))
        await message.answer(text + "\n" + _("Send another picture, or /cancel."))
        return None


def clips_too(text: str) -> str:
    """A step's request for the photo, saying that a moving picture is welcome there too."""
    return text + " " + _("A GIF, a video or a video note works too.")


async def refuse_clip(bot: Bot, chat_id: int) -> None:
    """A moving picture met a model that takes still pictures only: say so; the step stays."""
    await bot.send_message(chat_id, error_text("video_model_unsupported"))


async def take_pictures(messages: list[Message], bot: Bot, files: FileStore, settings: Settings,
                        clips: bool = False) -> list[ImageRef]:
    """The usable pictures of an album (or of one message, a clip too with ``clips``); each refused one is named
    with its reason. An album is pictures only: a clip in it is refused as animated."""
    if len(messages) == 1:
        ref = await take_picture(messages[0], bot, files, settings, clips=clips)
        return [ref] if ref else []
    refs = []
    for number, message in enumerate(messages, start=1):
        try:
            refs.append(await files.receive(bot, message, settings.engine.max_input_pixels))
        except InputRejected as exc:
            await message.answer(_("Photo {number} of the album is left out: {reason}").format(
                number=number, reason=error_text(exc.code)))
    return refs


async def start_job(recipe: Recipe, *, user: User, chat_id: int, state: FSMContext, tracker: JobTracker) -> bool:
    """Queue the job and leave the dialogue; the tracker reports progress and delivers the result.

    When the queue refuses the job the dialogue step stays, so the user can press Go again a bit later. A recipe
    with an album (``batch``) runs each photo in turn under one status message (``services.batch``).
    """
    await dialogue.save_draft(state, recipe)  # kept when the queue refuses: 🔁 Try again submits it again
    data = await state.get_data()
    pictures = recipe.pictures()
    rid = int(data.get("rid_seq", 0)) + 1
    prefs = dialogue.Prefs.load(data.get("prefs"))
    await state.update_data(rid_seq=rid + len(pictures) - 1)
    orders = [Order(recipe=single, chat_id=chat_id, user_id=user.id, language=language(), rid=rid + index,
                    as_file=prefs.as_file) for index, single in enumerate(pictures)]
    if len(orders) > 1:
        start_batch(tracker, orders)
        await dialogue.reset(state)
        return True
    accepted = await tracker.submit(orders[0])
    if accepted:
        await dialogue.reset(state)
    return accepted


def chat_id_of(query: CallbackQuery) -> int:
    """The chat a button was pressed in (the user's private chat when the message is gone)."""
    return query.message.chat.id if query.message else query.from_user.id


async def edit_quietly(message: Message | InaccessibleMessage | None, text: str | None = None,
                       markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit a bot message in place; pressing an already chosen option ("not modified") or an old message is fine."""
    if not isinstance(message, Message):
        return
    try:
        if text is None:
            await message.edit_reply_markup(reply_markup=markup)
        else:
            await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            raise


async def show_screen(bot: Bot, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Move to the next menu by editing the pressed menu message in place; a new message when that cannot be done
    (the button sat under a photo, or the message is too old to edit)."""
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as exc:
            if "not modified" in str(exc):
                return
    await bot.send_message(chat_id_of(query), text, reply_markup=markup)


SELF_ANSWERED = {"callback_answer": {"disabled": True}}
"""Handler flag: the handler answers its callback itself (first thing, with a notice) instead of the middleware."""


async def stale_button(query: CallbackQuery, bot: Bot, availability: Availability) -> None:
    """A button from an old message: a short notice on the button, and the menu to go on from."""
    await query.answer(_("This button is from an old message and no longer works."))
    await show_menu(bot, chat_id_of(query), availability)
