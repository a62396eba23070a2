"""After a result: another strength, the same photo with another style, upscale it, or the original as a file.

The buttons carry the result's number; the user's last ten results are kept in FSM data (recipe, local copy,
Telegram file), so the buttons under any of them act on that very result. Older ones get one line and the menu.
"""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, FSInputFile
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import ImageRef, LastResult, Recipe
from handlers.flow import SELF_ANSWERED, chat_id_of, edit_quietly, show_menu, start_job
from handlers.own_style import ask_for_style
from handlers.ready_styles import offer_presets
from handlers.upscale import offer_variants
from keyboards import menu as menu_kb
from keyboards import results as results_kb
from keyboards.callbacks import ResultAction, ResultCb, ResultStrengthCb, RetryCb
from ml_models.registry import Availability
from services.gallery import Gallery
from services.job_tracker import JobTracker
from texts import error_text


async def _current(query: CallbackQuery, rid: int, state: FSMContext, bot: Bot,
                   availability: Availability) -> LastResult | None:
    """One of the user's recent results (the button's own); None after saying it is too old, with the menu."""
    result = await dialogue.result_by_number(state, rid)
    if result is None:
        await query.answer()
        await show_menu(bot, chat_id_of(query), availability,
                        _("This result is older than your last {count}, so its buttons no longer work. "
                          "What shall we do?").format(count=dialogue.RESULTS_KEPT))
        return None
    await query.answer()
    return result


async def strengths_offered(query: CallbackQuery, callback_data: ResultCb, state: FSMContext, bot: Bot,
                            availability: Availability) -> None:
    if (last := await _current(query, callback_data.rid, state, bot, availability)) is not None:
        await edit_quietly(query.message,
                           markup=results_kb.strengths(last.rid, last.recipe.options.get("strength", 1.0)))


async def restyle_pressed(query: CallbackQuery, callback_data: ResultCb, state: FSMContext, bot: Bot,
                          availability: Availability, gallery: Gallery, tracker: JobTracker) -> None:
    """The same photo with another style: of the same kind as the result (own style or a ready one)."""
    if (last := await _current(query, callback_data.rid, state, bot, availability)) is None:
        return
    recipe = last.recipe
    await dialogue.reset(state)
    if recipe.kind == "own":
        await dialogue.save_draft(state, Recipe(kind="own", model=recipe.model, content=recipe.content,
                                                options=recipe.options))
        await ask_for_style(bot, chat_id_of(query), state, gallery, second=False)
    else:
        await offer_presets(bot, chat_id_of(query), state, availability, gallery, content=recipe.content,
                            user=query.from_user, tracker=tracker)


async def upscale_pressed(query: CallbackQuery, callback_data: ResultCb, state: FSMContext, bot: Bot,
                          availability: Availability, tracker: JobTracker, settings: Settings) -> None:
    if (last := await _current(query, callback_data.rid, state, bot, availability)) is not None:
        await dialogue.reset(state)
        await offer_variants(bot, chat_id_of(query), state, availability,
                             ImageRef(file_id=last.file_id, path=last.path, width=last.width, height=last.height),
                             user=query.from_user, tracker=tracker, settings=settings)


async def file_wanted(query: CallbackQuery, callback_data: ResultCb, state: FSMContext, bot: Bot,
                      availability: Availability) -> None:
    if (last := await _current(query, callback_data.rid, state, bot, availability)) is None:
        return
    if last.path and Path(last.path).is_file():
        await bot.send_document(chat_id_of(query), FSInputFile(last.path, filename=Path(last.path).name),
                                reply_markup=menu_kb.home())
    else:
        await bot.send_message(chat_id_of(query), error_text("input_expired"), reply_markup=menu_kb.home())


async def strength_chosen(query: CallbackQuery, callback_data: ResultStrengthCb, state: FSMContext, bot: Bot,
                          availability: Availability, tracker: JobTracker) -> None:
    if (last := await _current(query, callback_data.rid, state, bot, availability)) is None:
        return
    recipe = last.recipe
    recipe.options = {**recipe.options, "strength": min(100, max(0, callback_data.percent)) / 100}
    await edit_quietly(query.message, markup=None)
    await start_job(recipe, user=query.from_user, chat_id=chat_id_of(query), state=state, tracker=tracker)


async def try_again(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability,
                    tracker: JobTracker) -> None:
    """🔁 under a "busy" answer: the request that was refused, as it was (kept as the draft by ``start_job``)."""
    await query.answer()
    draft = await dialogue.draft(state)
    if draft is None or draft.content is None or draft.model is None:
        await show_menu(bot, chat_id_of(query), availability, _("That request is gone. What shall we do?"))
        return
    if await start_job(draft, user=query.from_user, chat_id=chat_id_of(query), state=state, tracker=tracker):
        await edit_quietly(query.message)


def router() -> Router:
    r = Router(name="results")
    actions = {ResultAction.STRENGTH: strengths_offered, ResultAction.RESTYLE: restyle_pressed,
               ResultAction.UPSCALE: upscale_pressed, ResultAction.FILE: file_wanted}
    for action, handler in actions.items():
        r.callback_query.register(handler, ResultCb.filter(F.action == action), flags=SELF_ANSWERED)
    r.callback_query.register(strength_chosen, ResultStrengthCb.filter(), flags=SELF_ANSWERED)
    r.callback_query.register(try_again, RetryCb.filter(), flags=SELF_ANSWERED)
    return r
