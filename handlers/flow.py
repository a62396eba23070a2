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
from keyboards import menu as menu_kb
from ml_models.registry import Availability
from services.file_store import FileStore, InputRejected
from services.job_tracker import JobTracker, Order
from texts import error_text, language, seconds_text


def menu_text() -> str:
    return _("What shall we do? Choose a mode below.")


async def show_menu(bot: Bot, chat_id: int, availability: Availability, text: str | None = None) -> None:
    await bot.send_message(chat_id, text or menu_text(), reply_markup=menu_kb.main_menu(availability))


CLIP_MESSAGES = F.animation | F.video | F.video_note
"""Moving pictures: steps that take the content take these too (documents are sorted out by ``FileStore``)."""

VIDEO_MODELS = ("johnson", "cyclegan", "microast", "adain")
"""Models with a video path (``ml_models.video.api.VIDEO_MODELS``): one feed-forward pass per frame."""


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


async def refuse_clip(bot: Bot, chat_id: int) -> None:
    """A moving picture met a model that takes still pictures only: say so; the step stays."""
    await bot.send_message(chat_id, error_text("video_model_unsupported"))


async def start_job(recipe: Recipe, *, user: User, chat_id: int, state: FSMContext, tracker: JobTracker) -> bool:
    """Queue the job and leave the dialogue; the tracker reports progress and delivers the result.

    When the queue refuses the job the dialogue step stays, so the user can press Go again a bit later.
    """
    data = await state.get_data()
    rid = int(data.get("rid_seq", 0)) + 1
    prefs = dialogue.Prefs.load(data.get("prefs"))
    await state.update_data(rid_seq=rid)
    order = Order(recipe=recipe, chat_id=chat_id, user_id=user.id, language=language(), rid=rid,
                  as_file=prefs.as_file)
    accepted = await tracker.submit(order)
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


SELF_ANSWERED = {"callback_answer": {"disabled": True}}
"""Handler flag: the handler answers its callback itself (first thing, with a notice) instead of the middleware."""


async def stale_button(query: CallbackQuery, bot: Bot, availability: Availability) -> None:
    """A button from an old message: a short notice on the button, and the menu to go on from."""
    await query.answer(_("This button is from an old message and no longer works."))
    await show_menu(bot, chat_id_of(query), availability)
