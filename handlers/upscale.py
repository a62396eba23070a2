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
from handlers.flow import (
    CLIP_MESSAGES,
    chat_id_of,
    edit_quietly,
    refuse_clip,
    show_menu,
    show_screen,
    start_job,
    take_pictures,
)
from handlers.states import Upscale
from keyboards import menu as menu_kb
from keyboards import upscale as upscale_kb
from keyboards.callbacks import MenuAction, MenuCb, Mode, PhotoFirstCb, UpscaleCb, UpscaleSizeCb
from ml_models import registry
from ml_models.registry import Availability
from services.file_store import FileStore, carries_clip
from services.job_tracker import JobTracker
from texts import error_text, size, upscale_outcome

UPSCALE_FACTOR = 4


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
                            tracker: JobTracker, settings: Settings) -> None:
    draft = await dialogue.draft(state)
    await edit_quietly(query.message)
    await offer_variants(bot, chat_id_of(query), state, availability, draft.content if draft else None,
                         draft.batch if draft else None, user=query.from_user, tracker=tracker, settings=settings)


async def photo_received(message: Message, state: FSMContext, bot: Bot, files: FileStore, settings: Settings,
                         availability: Availability, tracker: JobTracker, album: list[Message] | None = None) -> None:
    if carries_clip(message):
        await refuse_clip(bot, message.chat.id)
        return
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
                         tracker=tracker, settings=settings)


async def offer_variants(bot: Bot, chat_id: int, state: FSMContext, availability: Availability,
                         content: ImageRef | None, batch: list[ImageRef] | None = None, *, user: User,
                         tracker: JobTracker, settings: Settings) -> None:
    """Photo or drawing; with one upscaler installed there is nothing to ask and the job starts."""
    variants = availability.models.get("upscale")
    if content is not None and content.is_clip:
        await dialogue.reset(state)
        await show_menu(bot, chat_id, availability, error_text("video_model_unsupported"))
        return
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
        await _size_then_start(bot, chat_id, state, draft, user=user, tracker=tracker, settings=settings)
        return
    await bot.send_message(chat_id, _("What is in the picture?"), reply_markup=upscale_kb.variants(variants))


async def variant_chosen(query: CallbackQuery, callback_data: UpscaleCb, state: FSMContext, bot: Bot,
                         availability: Availability, tracker: JobTracker, settings: Settings) -> None:
    chat_id = chat_id_of(query)
    draft = await dialogue.draft(state)
    if draft is None or draft.content is None or callback_data.preset not in availability.models.get("upscale", ()):
        await dialogue.reset(state)
        await show_menu(bot, chat_id, availability)
        return
    draft.preset = callback_data.preset
    await edit_quietly(query.message)
    await _size_then_start(bot, chat_id, state, draft, user=query.from_user, tracker=tracker, settings=settings)


def result_sizes(width: int, height: int, max_output_side: int) -> list[tuple[int, int, int]]:
    """(input side, result width, result height) for the standard and the HD input size, as the engine makes them:
    the picture shrunk to the side, then x4, within ``max_output_side``. One entry when both give the same."""
    spec = registry.get("upscale")
    out: list[tuple[int, int, int]] = []
    for side in (spec.default_max_side, spec.hd_max_side):
        cap = min(side, max(1, max_output_side // UPSCALE_FACTOR))
        scale = min(1.0, cap / max(width, height))
        w, h = max(1, min(cap, round(width * scale))), max(1, min(cap, round(height * scale)))
        if not out or (w, h) != (out[-1][1] // UPSCALE_FACTOR, out[-1][2] // UPSCALE_FACTOR):
            out.append((side, w * UPSCALE_FACTOR, h * UPSCALE_FACTOR))
    return out


async def _size_then_start(bot: Bot, chat_id: int, state: FSMContext, draft: Recipe, *, user: User,
                           tracker: JobTracker, settings: Settings) -> None:
    """A picture larger than the model takes in one go is never shrunk silently: the result sizes are said before
    the job, and offered when there is a choice (standard or HD input)."""
    content = draft.content
    spec = registry.get("upscale")
    if content is not None and content.width and content.height and "max_side" not in draft.options and \
            max(content.width, content.height) > spec.default_max_side:
        choices = result_sizes(content.width, content.height, settings.engine.max_output_side)
        lines = [upscale_outcome(content.width, content.height, w, h) for _side, w, h in choices]
        if len(choices) > 1:
            await dialogue.save_draft(state, draft)
            await state.set_state(Upscale.size)
            await bot.send_message(chat_id, _("Your picture is {size}: larger than I can enlarge four times. Choose "
                                              "the result:").format(size=size(content.width, content.height)),
                                   reply_markup=upscale_kb.sizes([(side, line) for (side, _w, _h), line
                                                                  in zip(choices, lines, strict=True)]))
            return
        draft.options["max_side"] = choices[0][0]
        await bot.send_message(chat_id, _("The result will be {outcome}.").format(outcome=lines[0]))
    if not await start_job(draft, user=user, chat_id=chat_id, state=state, tracker=tracker):
        return


async def size_chosen(query: CallbackQuery, callback_data: UpscaleSizeCb, state: FSMContext, bot: Bot,
                      availability: Availability, tracker: JobTracker) -> None:
    draft = await dialogue.draft(state)
    spec = registry.get("upscale")
    if draft is None or draft.content is None or callback_data.side not in (spec.default_max_side, spec.hd_max_side):
        await dialogue.reset(state)
        await show_menu(bot, chat_id_of(query), availability)
        return
    draft.options["max_side"] = callback_data.side
    await edit_quietly(query.message)
    await start_job(draft, user=query.from_user, chat_id=chat_id_of(query), state=state, tracker=tracker)


def router() -> Router:
    r = Router(name="upscale")
    r.callback_query.register(open_upscale, MenuCb.filter(F.action == MenuAction.UPSCALE))
    r.callback_query.register(upscale_for_photo, PhotoFirstCb.filter(F.mode == Mode.UPSCALE))
    r.message.register(photo_received, Upscale.photo, F.photo | F.document | CLIP_MESSAGES)
    r.callback_query.register(variant_chosen, Upscale.variant, UpscaleCb.filter())
    r.callback_query.register(size_chosen, Upscale.size, UpscaleSizeCb.filter())
    return r
