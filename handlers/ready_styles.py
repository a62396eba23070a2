"""Ready styles: an album of presets (Johnson paintings, CycleGAN painters) → pick one → send a photo.

Each preset shows the painting it imitates when the gallery has it, otherwise a titled tile. Only presets whose
weights are installed are offered.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import ImageRef, Recipe
from handlers.albums import album_of
from handlers.flow import CLIP_MESSAGES, chat_id_of, clips_too, edit_quietly, show_menu, start_job, take_pictures
from handlers.states import ReadyStyle
from keyboards import menu as menu_kb
from keyboards import ready_styles as ready_kb
from keyboards.callbacks import MenuAction, MenuCb, Mode, PhotoFirstCb, PresetCb
from ml_models import registry
from ml_models.registry import Availability
from services.file_store import FileStore
from services.gallery import Gallery, Tile
from services.job_tracker import JobTracker
from texts import title

PRESET_MODELS = ("johnson", "cyclegan")


def installed_presets(availability: Availability) -> list[tuple[registry.ModelSpec, registry.Preset]]:
    out = []
    for model_id in PRESET_MODELS:
        spec = registry.get(model_id)
        for preset_id in availability.models.get(model_id, ()):
            out.append((spec, spec.preset(preset_id)))
    return out


# ------------------------------------------------------------------------------------------------ 1. pick a preset


async def open_ready_styles(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                            gallery: Gallery, tracker: JobTracker) -> None:
    await dialogue.reset(state)
    await offer_presets(bot, chat_id_of(query), state, availability, gallery, content=None, user=query.from_user,
                        tracker=tracker)


async def ready_styles_for_photo(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                                 gallery: Gallery, tracker: JobTracker) -> None:
    draft = await dialogue.draft(state)
    await edit_quietly(query.message)
    await offer_presets(bot, chat_id_of(query), state, availability, gallery,
                        content=draft.content if draft else None, batch=draft.batch if draft else None,
                        user=query.from_user, tracker=tracker)


async def offer_presets(bot: Bot, chat_id: int, state: FSMContext, availability: Availability, gallery: Gallery,
                        content: ImageRef | None, batch: list[ImageRef] | None = None, *, user: User,
                        tracker: JobTracker) -> None:
    """The numbered album and its buttons; with one style installed there is nothing to pick and it is used."""
    presets = installed_presets(availability)
    if not presets:
        await show_menu(bot, chat_id, availability, _("No ready style is installed right now."))
        return
    await dialogue.save_draft(state, Recipe(kind="ready", content=content, batch=list(batch or [])))
    await state.set_state(ReadyStyle.preset)
    if len(presets) == 1:
        spec, preset = presets[0]
        await _use_preset(bot, chat_id, state, availability, spec, preset.id, user=user, tracker=tracker)
        return
    if await dialogue.first_time(state, "presets_album"):
        tiles = []
        for number, (spec, preset) in enumerate(presets, start=1):
            source = gallery.style_path(preset.style_image) if preset.style_image else None
            tiles.append(Tile(number=number, source=source, title=title(preset), key=f"{spec.id}-{preset.id}"))
        await gallery.send_album(bot, chat_id, tiles)
    items = [(spec.id, preset.id, title(preset)) for spec, preset in presets]
    await bot.send_message(chat_id, _("Pick a style by its number:"), reply_markup=ready_kb.presets(items))


async def preset_chosen(query: CallbackQuery, callback_data: PresetCb, state: FSMContext, bot: Bot,
                        availability: Availability, tracker: JobTracker) -> None:
    chat_id = chat_id_of(query)
    if callback_data.preset not in availability.models.get(callback_data.model, ()):
        await show_menu(bot, chat_id, availability, _("This style is not installed right now."))
        return
    await edit_quietly(query.message)
    await _use_preset(bot, chat_id, state, availability, registry.get(callback_data.model), callback_data.preset,
                      user=query.from_user, tracker=tracker)


async def _use_preset(bot: Bot, chat_id: int, state: FSMContext, availability: Availability,
                      spec: registry.ModelSpec, preset_id: str, *, user: User, tracker: JobTracker) -> None:
    """The style is set: run it on the photo (or album) already sent, or ask for the photo."""
    prefs = await dialogue.prefs(state)
    draft = await dialogue.draft(state) or Recipe(kind="ready")
    draft.kind, draft.model, draft.preset = "ready", spec.id, preset_id
    draft.options = spec.validate_options({"size": prefs.size} if any(o.name == "size" for o in spec.options)
                                          else {})
    await dialogue.save_draft(state, draft)
    if draft.content is not None:
        await start_job(draft, user=user, chat_id=chat_id, state=state, tracker=tracker)
        return
    await state.set_state(ReadyStyle.photo)
    text = _("<b>{style}</b>. Now send me the photo (as a photo, or as a file for full quality).")
    await bot.send_message(chat_id, clips_too(text.format(style=title(spec.preset(preset_id)))),
                           reply_markup=menu_kb.cancel())


# ------------------------------------------------------------------------------------------------ 2. the photo


async def photo_received(message: Message, state: FSMContext, bot: Bot, files: FileStore, settings: Settings,
                         tracker: JobTracker, album: list[Message] | None = None) -> None:
    refs = await take_pictures(album_of(message, album), bot, files, settings, clips=True)
    if not refs:
        return
    draft = await dialogue.draft(state)
    if draft is None or draft.model is None:
        await dialogue.reset(state)
        await message.answer(_("Let's start again: press /start."))
        return
    draft.content, draft.batch = refs[0], refs[1:]
    await dialogue.save_draft(state, draft)  # kept when the queue refuses, for 🔁 Try again
    await start_job(draft, user=message.from_user, chat_id=message.chat.id, state=state, tracker=tracker)


def router() -> Router:
    r = Router(name="ready_styles")
    r.callback_query.register(open_ready_styles, MenuCb.filter(F.action == MenuAction.READY))
    r.callback_query.register(ready_styles_for_photo, PhotoFirstCb.filter(F.mode == Mode.READY))
    r.callback_query.register(preset_chosen, ReadyStyle.preset, PresetCb.filter())
    r.message.register(photo_received, ReadyStyle.photo, F.photo | F.document | CLIP_MESSAGES)
    return r
