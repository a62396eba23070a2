"""Own style: algorithm → photo → style picture (or gallery) → options → Go.

The draft recipe grows one step at a time in FSM data. A photo sent before choosing the mode, or the "same photo,
another style" button, enters this dialogue with the photo already in the draft and skips the photo step.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import ImageRef, Recipe
from handlers.albums import album_of
from handlers.flow import (
    CLIP_MESSAGES,
    chat_id_of,
    clips_too,
    edit_quietly,
    expected_seconds,
    refuse_clip,
    show_menu,
    show_screen,
    start_job,
    take_pictures,
)
from handlers.states import OwnStyle
from jobs import Executor
from keyboards import menu as menu_kb
from keyboards import own_style as own_kb
from keyboards.callbacks import (
    AlgorithmCb,
    GalleryCb,
    MenuAction,
    MenuCb,
    Mode,
    Option,
    OptionCb,
    PhotoFirstCb,
    Size,
    StyleSource,
    StyleSourceCb,
)
from ml_models import registry
from ml_models.registry import Availability
from ml_models.video.api import VIDEO_MODELS
from services.file_store import FileStore, carries_clip
from services.gallery import Gallery, Tile
from services.job_tracker import JobTracker
from texts import SPEEDS, options_summary, speed_label, title

ALGORITHMS = ("microast", "adain", "gatys")


def installed_algorithms(availability: Availability) -> list[registry.ModelSpec]:
    return [registry.get(m) for m in ALGORITHMS if m in availability.models]


# ------------------------------------------------------------------------------------------------ 1. algorithm


async def open_own_style(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                         gallery: Gallery, executor: Executor) -> None:
    await dialogue.reset(state)
    await offer_algorithms(bot, chat_id_of(query), state, availability, gallery, executor, Recipe(kind="own"), query)


async def own_style_for_photo(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                              gallery: Gallery, executor: Executor) -> None:
    """The photo sent outside a dialogue becomes the content; of an album, the second picture becomes the style."""
    await own_style_for_pictures(bot, chat_id_of(query), state, availability, gallery, executor, query)


async def own_style_for_pictures(bot: Bot, chat_id: int, state: FSMContext, availability: Availability,
                                 gallery: Gallery, executor: Executor, query: CallbackQuery | None = None) -> None:
    """The picture(s) already sent (the draft) go into an own-style dialogue: photo, and an album's second as style."""
    draft = await dialogue.draft(state) or Recipe(kind="own")
    recipe = Recipe(kind="own", content=draft.content)
    if draft.batch:
        recipe.styles, recipe.weights = [draft.batch[0]], [1.0]
        await bot.send_message(chat_id, _album_note(1 + len(draft.batch)))
    await offer_algorithms(bot, chat_id, state, availability, gallery, executor, recipe, query)


async def offer_algorithms(bot: Bot, chat_id: int, state: FSMContext, availability: Availability, gallery: Gallery,
                           executor: Executor, recipe: Recipe, query: CallbackQuery | None = None) -> None:
    """The algorithm screen; with one algorithm installed there is nothing to choose and the dialogue goes on."""
    models = installed_algorithms(availability)
    if not models:
        await show_menu(bot, chat_id, availability, _("No style model is installed right now."))
        return
    await dialogue.save_draft(state, recipe)
    if len(models) == 1:
        await _use_algorithm(bot, chat_id, state, gallery, models[0], query)
        return
    await state.set_state(OwnStyle.algorithm)
    choices = [(spec.id, speed_label(spec.id, expected_seconds(executor, spec.id))) for spec in models]
    text = _("Quick, or slower and finer? The times are for a photo of standard size on this server right now.")
    await _screen(bot, chat_id, query, text, own_kb.algorithms(choices))


async def _screen(bot: Bot, chat_id: int, query: CallbackQuery | None, text: str,
                  markup: InlineKeyboardMarkup | None) -> None:
    if query is not None:
        await show_screen(bot, query, text, markup)
    else:
        await bot.send_message(chat_id, text, reply_markup=markup)


async def algorithm_chosen(query: CallbackQuery, callback_data: AlgorithmCb, state: FSMContext, bot: Bot,
                           availability: Availability, gallery: Gallery) -> None:
    chat_id = chat_id_of(query)
    if callback_data.model not in availability.models or callback_data.model not in ALGORITHMS:
        await show_menu(bot, chat_id, availability, _("This model is not installed right now."))
        return
    await _use_algorithm(bot, chat_id, state, gallery, registry.get(callback_data.model), query)


async def _use_algorithm(bot: Bot, chat_id: int, state: FSMContext, gallery: Gallery, spec: registry.ModelSpec,
                         query: CallbackQuery | None = None) -> None:
    """The algorithm is set: ask for what is still missing (photo, style), or show the options."""
    draft = await dialogue.draft(state) or Recipe(kind="own")
    if draft.content is not None and draft.content.is_clip and spec.id not in VIDEO_MODELS:
        await refuse_clip(bot, chat_id)  # the algorithm buttons stay: another one can be chosen
        return
    prefs = await dialogue.prefs(state)
    draft.model = spec.id
    draft.options = spec.validate_options({"size": prefs.size} if _has_option(spec, "size") else {})
    await dialogue.save_draft(state, draft)
    if query is not None and draft.content is not None:
        await edit_quietly(query.message)
    if draft.content is not None and draft.styles:
        await _offer_options(bot, chat_id, state, draft)
        return
    if draft.content is not None:
        await ask_for_style(bot, chat_id, state, gallery, second=False)
        return
    await state.set_state(OwnStyle.photo)
    text = _("Send me the photo you want to turn into art (as a photo, or as a file for full quality). An album of "
             "two works too: the photo, then the style.")
    await _screen(bot, chat_id, query, clips_too(text) if spec.id in VIDEO_MODELS else text, menu_kb.cancel())


# ------------------------------------------------------------------------------------------------ 2. photo


def _album_note(count: int) -> str:
    if count <= 2:
        return _("The first picture is the photo, the second one is the style.")
    return _("The first picture is the photo, the second one is the style; the other {count} are left out.").format(
        count=count - 2)


async def photo_received(message: Message, state: FSMContext, bot: Bot, files: FileStore, settings: Settings,
                         gallery: Gallery, album: list[Message] | None = None) -> None:
    draft = await dialogue.draft(state) or Recipe(kind="own")
    if draft.model not in VIDEO_MODELS and carries_clip(message):
        await refuse_clip(bot, message.chat.id)
        return
    refs = await take_pictures(album_of(message, album), bot, files, settings, clips=True)
    if not refs:
        return
    draft.content = refs[0]
    if len(refs) > 1:  # an album at the photo step: photo + style
        draft.styles, draft.weights = [refs[1]], [1.0]
        await message.answer(_album_note(len(refs)))
    await dialogue.save_draft(state, draft)
    if draft.styles:  # an album, or sent again after a refusal: the styles and options are chosen
        await _offer_options(bot, message.chat.id, state, draft)
        return
    await ask_for_style(bot, message.chat.id, state, gallery, second=False)


async def _offer_options(bot: Bot, chat_id: int, state: FSMContext, draft: Recipe) -> None:
    await state.set_state(OwnStyle.options)
    await bot.send_message(chat_id, options_text(draft), reply_markup=options_markup(draft))


# ------------------------------------------------------------------------------------------------ 3. style


async def ask_for_style(bot: Bot, chat_id: int, state: FSMContext, gallery: Gallery, second: bool) -> None:
    await state.set_state(OwnStyle.second_style if second else OwnStyle.style)
    if second:
        text = _("Send the second style picture, or pick one from the gallery.")
    else:
        text = _("Now send a picture whose style you like (a painting, a drawing, a pattern), "
                 "or pick one from the gallery.")
    await bot.send_message(chat_id, text, reply_markup=own_kb.style_source(bool(gallery.styles())))


async def gallery_opened(query: CallbackQuery, state: FSMContext, bot: Bot, gallery: Gallery) -> None:
    styles = gallery.styles()
    chat_id = chat_id_of(query)
    if await dialogue.first_time(state, "gallery_album"):  # once per dialogue: it is still just above
        tiles = [Tile(number=n, source=gallery.style_path(s.id), title=title(s), key=f"style-{s.id}")
                 for n, s in enumerate(styles, start=1)]
        await gallery.send_album(bot, chat_id, tiles)
    await bot.send_message(chat_id, _("Pick a style by its number:"), reply_markup=own_kb.gallery_picker(styles))


async def style_received(message: Message, state: FSMContext, bot: Bot, files: FileStore,
                         settings: Settings, album: list[Message] | None = None) -> None:
    refs = await take_pictures(album_of(message, album), bot, files, settings)
    if not refs:
        return
    if len(refs) > 1:
        await message.answer(_("The first picture is the style; the other {count} are left out.").format(
            count=len(refs) - 1))
    await _add_style(message.chat.id, bot, state, refs[0], second=await _is_second(state))


async def gallery_style_chosen(query: CallbackQuery, callback_data: GalleryCb, state: FSMContext, bot: Bot,
                               gallery: Gallery) -> None:
    if gallery.style_path(callback_data.style) is None:
        await bot.send_message(chat_id_of(query), _("This style is not available any more. Pick another one."))
        return
    await _add_style(chat_id_of(query), bot, state, ImageRef(gallery=callback_data.style),
                     second=await _is_second(state))


async def _is_second(state: FSMContext) -> bool:
    return await state.get_state() == OwnStyle.second_style.state


async def _add_style(chat_id: int, bot: Bot, state: FSMContext, ref: ImageRef, second: bool) -> None:
    draft = await dialogue.draft(state)
    if draft is None or draft.model is None:
        await dialogue.reset(state)
        await bot.send_message(chat_id, _("Let's start again: press /start."))
        return
    if second and draft.styles:
        draft.styles = [draft.styles[0], ref]
        draft.weights = [0.5, 0.5]
    else:
        draft.styles, draft.weights = [ref], [1.0]
    await dialogue.save_draft(state, draft)
    await _offer_options(bot, chat_id, state, draft)


# ------------------------------------------------------------------------------------------------ 4. options


def options_text(draft: Recipe) -> str:
    spec = registry.get(draft.model or "microast")
    lines = [_("<b>{model}</b>: {summary}").format(model=SPEEDS.get(spec.id) or title(spec),
                                                   summary=options_summary(spec.id, draft.options, draft.weights))]
    lines.append(_("Strength: how strongly the style is applied. Keep colours: keep the colours of your photo. "
                   "HD: a larger picture, takes longer."))
    if spec.max_styles > 1:
        lines.append(_("You can also blend in a second style."))
    lines.append(_("Press ▶️ Go! when ready."))
    return "\n".join(lines)


def options_markup(draft: Recipe) -> InlineKeyboardMarkup:
    spec = registry.get(draft.model or "microast")
    second_share = draft.weights[1] if len(draft.weights) > 1 else 0.5
    return own_kb.options(spec, draft.options, len(draft.styles), second_share)


async def _options_draft(query: CallbackQuery, state: FSMContext, bot: Bot) -> Recipe | None:
    """The draft an option button edits, or None (after saying so) when the dialogue was lost."""
    draft = await dialogue.draft(state)
    if draft is None or draft.model is None or draft.content is None or not draft.styles:
        await dialogue.reset(state)
        await bot.send_message(chat_id_of(query), _("Let's start again: press /start."))
        return None
    return draft


async def _show_options(query: CallbackQuery, state: FSMContext, draft: Recipe) -> None:
    spec = registry.get(draft.model or "microast")
    draft.options = spec.validate_options(draft.options)
    await dialogue.save_draft(state, draft)
    await edit_quietly(query.message, options_text(draft), options_markup(draft))


async def go_pressed(query: CallbackQuery, state: FSMContext, bot: Bot, tracker: JobTracker) -> None:
    if (draft := await _options_draft(query, state, bot)) is None:
        return
    chat_id = chat_id_of(query)
    await edit_quietly(query.message)
    if not await start_job(draft, user=query.from_user, chat_id=chat_id, state=state, tracker=tracker):
        await bot.send_message(chat_id, options_text(draft), reply_markup=options_markup(draft))


async def second_style_wanted(query: CallbackQuery, state: FSMContext, bot: Bot, gallery: Gallery) -> None:
    if (draft := await _options_draft(query, state, bot)) is None:
        return
    if registry.get(draft.model or "microast").max_styles > 1:
        await ask_for_style(bot, chat_id_of(query), state, gallery, second=True)
    else:
        await _show_options(query, state, draft)


async def strength_chosen(query: CallbackQuery, callback_data: OptionCb, state: FSMContext, bot: Bot) -> None:
    if (draft := await _options_draft(query, state, bot)) is not None:
        draft.options["strength"] = min(100, int(callback_data.value)) / 100
        await _show_options(query, state, draft)


async def colors_toggled(query: CallbackQuery, callback_data: OptionCb, state: FSMContext, bot: Bot) -> None:
    if (draft := await _options_draft(query, state, bot)) is not None:
        draft.options["preserve_colors"] = callback_data.value == "1"
        await _show_options(query, state, draft)


async def size_chosen(query: CallbackQuery, callback_data: OptionCb, state: FSMContext, bot: Bot) -> None:
    if (draft := await _options_draft(query, state, bot)) is not None:
        draft.options["size"] = Size(callback_data.value).value
        await _show_options(query, state, draft)


async def blend_chosen(query: CallbackQuery, callback_data: OptionCb, state: FSMContext, bot: Bot) -> None:
    if (draft := await _options_draft(query, state, bot)) is None:
        return
    if len(draft.styles) > 1:
        share = min(100, int(callback_data.value)) / 100
        draft.weights = [round(1 - share, 2), share]
    await _show_options(query, state, draft)


async def second_style_dropped(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    if (draft := await _options_draft(query, state, bot)) is not None:
        draft.styles, draft.weights = draft.styles[:1], [1.0]
        await _show_options(query, state, draft)


def _has_option(spec: registry.ModelSpec, name: str) -> bool:
    return any(opt.name == name for opt in spec.options)


def router() -> Router:
    r = Router(name="own_style")
    r.callback_query.register(open_own_style, MenuCb.filter(F.action == MenuAction.OWN))
    r.callback_query.register(own_style_for_photo, PhotoFirstCb.filter(F.mode == Mode.OWN))
    r.callback_query.register(algorithm_chosen, OwnStyle.algorithm, AlgorithmCb.filter())
    r.message.register(photo_received, OwnStyle.photo, F.photo | F.document | CLIP_MESSAGES)
    styles = StateFilter(OwnStyle.style, OwnStyle.second_style)
    r.callback_query.register(gallery_opened, styles, StyleSourceCb.filter(F.action == StyleSource.GALLERY))
    r.message.register(style_received, styles, F.photo | F.document)
    r.callback_query.register(gallery_style_chosen, styles, GalleryCb.filter())
    percent = F.value.regexp(r"^\d{1,3}$")
    options = {
        go_pressed: F.name == Option.GO,
        second_style_wanted: F.name == Option.SECOND,
        strength_chosen: (F.name == Option.STRENGTH) & percent,
        colors_toggled: (F.name == Option.COLORS) & F.value.in_({"0", "1"}),
        size_chosen: (F.name == Option.SIZE) & F.value.in_(set(Size)),
        blend_chosen: (F.name == Option.BLEND) & percent,
        second_style_dropped: F.name == Option.DROP_SECOND,
    }
    for handler, rule in options.items():
        r.callback_query.register(handler, OwnStyle.options, OptionCb.filter(rule))
    return r
