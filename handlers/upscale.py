"""Upscale x4: send a photo → say whether it is a photo or a drawing → the result comes as a file (full quality)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import ImageRef, Recipe
from handlers.albums import album_of
from handlers.flow import chat_id_of, edit_quietly, show_menu, show_screen, start_job, take_pictures
from handlers.states import Upscale
from keyboards import menu as menu_kb
from keyboards import upscale as upscale_kb
from keyboards.callbacks import MenuAction, MenuCb, Mode, PhotoFirstCb, UpscaleCb
from ml_models.registry import Availability
from services.file_store import FileStore
from services.job_tracker import JobTracker


async def open_upscale(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability) -> None:
    await dialogue.reset(state)
    chat_id = chat_id_of(query)
    if "upscale" not in availability.models:
        await show_menu(bot, chat_id, availability, _("Upscaling is not installed right now."))
        return
    await dialogue.save_draft(state, Recipe(kind="upscale", model="upscale"))
    await state.set_state(Upscale.photo)
    await show_screen(bot, query, _("Send me the picture to enlarge four times (as a photo, or as a file for full "
                                      "quality). Pictures up to about 1000 pixels wide work best."),
                      menu_kb.cancel())


async def upscale_for_photo(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                            tracker: JobTracker) -> None:
    draft = await dialogue.draft(state)
    await edit_quietly(query.message)
    await offer_variants(bot, chat_id_of(query), state, availability, draft.content if draft else None,
                         draft.batch if draft else None, user=query.from_user, tracker=tracker)


async def photo_received(message: Message, state: FSMContext, bot: Bot, files: FileStore, settings: Settings,
                         availability: Availability, tracker: JobTracker, album: list[Message] | None = None) -> None:
    refs = await take_pictures(album_of(message, album), bot, files, settings)
    if not refs:
        return
    draft = await dialogue.draft(state)
    if draft is not None and draft.preset in availability.models.get("upscale", ()):  # sent again after a refusal
        draft.content, draft.batch = refs[0], refs[1:]
        await dialogue.save_draft(state, draft)
        await start_job(draft, user=message.from_user, chat_id=message.chat.id, state=state, tracker=tracker)
        return
    await offer_variants(bot, message.chat.id, state, availability, refs[0], refs[1:], user=message.from_user,
                         tracker=tracker)


async def offer_variants(bot: Bot, chat_id: int, state: FSMContext, availability: Availability,
                         content: ImageRef | None, batch: list[ImageRef] | None = None, *, user: User,
                         tracker: JobTracker) -> None:
    """Photo or drawing; with one upscaler installed there is nothing to ask and the job starts."""
    variants = availability.models.get("upscale")
    if variants is None or content is None:
        await dialogue.reset(state)
        await show_menu(bot, chat_id, availability, _("Upscaling is not installed right now.") if variants is None
                        else _("Let's start again: press /start."))
        return
    draft = Recipe(kind="upscale", model="upscale", content=content, batch=list(batch or []))
    await dialogue.save_draft(state, draft)
    await state.set_state(Upscale.variant)
    if len(variants) == 1:
        draft.preset = variants[0]
        await start_job(draft, user=user, chat_id=chat_id, state=state, tracker=tracker)
        return
    await bot.send_message(chat_id, _("What is in the picture?"), reply_markup=upscale_kb.variants(variants))


async def variant_chosen(query: CallbackQuery, callback_data: UpscaleCb, state: FSMContext, bot: Bot,
                         availability: Availability, tracker: JobTracker) -> None:
    chat_id = chat_id_of(query)
    draft = await dialogue.draft(state)
    if draft is None or draft.content is None or callback_data.preset not in availability.models.get("upscale", ()):
        await dialogue.reset(state)
        await show_menu(bot, chat_id, availability)
        return
    draft.preset = callback_data.preset
    await edit_quietly(query.message)
    if not await start_job(draft, user=query.from_user, chat_id=chat_id, state=state, tracker=tracker):
        await bot.send_message(chat_id, _("What is in the picture?"),
                               reply_markup=upscale_kb.variants(availability.models["upscale"]))


def router() -> Router:
    r = Router(name="upscale")
    r.callback_query.register(open_upscale, MenuCb.filter(F.action == MenuAction.UPSCALE))
    r.callback_query.register(upscale_for_photo, PhotoFirstCb.filter(F.mode == Mode.UPSCALE))
    r.message.register(photo_received, Upscale.photo, F.photo | F.document)
    r.callback_query.register(variant_chosen, Upscale.variant, UpscaleCb.filter())
    return r
