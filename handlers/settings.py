"""/settings: the default result size and "always send as file", kept in FSM data across dialogues."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

import dialogue
from handlers.flow import edit_quietly, show_screen
from keyboards import settings as settings_kb
from keyboards.callbacks import MenuAction, MenuCb, Setting, SettingsCb, Size


def settings_text() -> str:
    return _("<b>Settings</b>\n"
             "Size: the default for new pictures (HD is larger and takes longer).\n"
             "Always send as file: results come as documents, without Telegram's photo compression.")


async def settings_command(message: Message, state: FSMContext) -> None:
    await message.answer(settings_text(), reply_markup=settings_kb.settings(await dialogue.prefs(state)))


async def settings_button(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    await show_screen(bot, query, settings_text(), settings_kb.settings(await dialogue.prefs(state)))


async def size_chosen(query: CallbackQuery, callback_data: SettingsCb, state: FSMContext) -> None:
    prefs = await dialogue.prefs(state)
    prefs.size = Size(callback_data.value).value
    await _save(query, state, prefs)


async def as_file_toggled(query: CallbackQuery, callback_data: SettingsCb, state: FSMContext) -> None:
    prefs = await dialogue.prefs(state)
    prefs.as_file = callback_data.value == "1"
    await _save(query, state, prefs)


async def _save(query: CallbackQuery, state: FSMContext, prefs: dialogue.Prefs) -> None:
    await dialogue.save_prefs(state, prefs)
    await edit_quietly(query.message, markup=settings_kb.settings(prefs))


def router() -> Router:
    r = Router(name="settings")
    r.message.register(settings_command, Command("settings"))
    r.callback_query.register(settings_button, MenuCb.filter(F.action == MenuAction.SETTINGS))
    r.callback_query.register(size_chosen, SettingsCb.filter((F.name == Setting.SIZE) & F.value.in_(set(Size))))
    r.callback_query.register(as_file_toggled, SettingsCb.filter((F.name == Setting.AS_FILE) & F.value.in_({"0", "1"})))
    return r
