"""/settings: the default result size and "always send as file", kept in FSM data across dialogues."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

import dialogue
from handlers.flow import chat_id_of, edit_quietly
from keyboards import settings as settings_kb
from keyboards.callbacks import MenuCb, SettingsCb


def settings_text() -> str:
    return _("<b>Settings</b>\n"
             "Size: the default for new pictures (HD is larger and takes longer).\n"
             "Always send as file: results come as documents, without Telegram's photo compression.")


async def settings_command(message: Message, state: FSMContext) -> None:
    await message.answer(settings_text(), reply_markup=settings_kb.settings(await dialogue.prefs(state)))


async def settings_button(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    await bot.send_message(chat_id_of(query), settings_text(),
                           reply_markup=settings_kb.settings(await dialogue.prefs(state)))


async def setting_changed(query: CallbackQuery, callback_data: SettingsCb, state: FSMContext) -> None:
    prefs = await dialogue.prefs(state)
    if callback_data.name == "size" and callback_data.value in ("standard", "hd"):
        prefs.size = callback_data.value
    elif callback_data.name == "as_file":
        prefs.as_file = callback_data.value == "1"
    await dialogue.save_prefs(state, prefs)
    await edit_quietly(query.message, markup=settings_kb.settings(prefs))


def router() -> Router:
    r = Router(name="settings")
    r.message.register(settings_command, Command("settings"))
    r.callback_query.register(settings_button, MenuCb.filter(F.action == "settings"))
    r.callback_query.register(setting_changed, SettingsCb.filter())
    return r
