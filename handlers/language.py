"""/language: Русский or English. The choice is stored in FSM data and beats the Telegram app's language."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BotCommandScopeChat, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from handlers.flow import chat_id_of, menu_text, show_screen
from keyboards import language as language_kb
from keyboards import menu as menu_kb
from keyboards.callbacks import LanguageCb, MenuAction, MenuCb
from ml_models.registry import Availability
from texts import language

PROMPT = "Выберите язык · Choose your language"  # both languages at once: the reader may not read the current one


async def language_command(message: Message) -> None:
    await message.answer(PROMPT, reply_markup=language_kb.languages(language()))


async def language_button(query: CallbackQuery, bot: Bot) -> None:
    await show_screen(bot, query, PROMPT, language_kb.languages(language()))


async def language_chosen(query: CallbackQuery, callback_data: LanguageCb, state: FSMContext, bot: Bot, i18n: I18n,
                          availability: Availability) -> None:
    code = callback_data.code if callback_data.code in i18n.available_locales else i18n.default_locale
    await state.update_data(locale=code)
    with i18n.use_locale(code):
        await show_screen(bot, query, _("Done, I will speak English now.") + "\n" + menu_text(),
                          menu_kb.main_menu(availability))
        with contextlib.suppress(TelegramAPIError):  # the "/" menu of this chat follows the chosen language
            await bot.set_my_commands(menu_kb.commands(), scope=BotCommandScopeChat(chat_id=chat_id_of(query)))


def router() -> Router:
    r = Router(name="language")
    r.message.register(language_command, Command("language"))
    r.callback_query.register(language_button, MenuCb.filter(F.action == MenuAction.LANGUAGE))
    r.callback_query.register(language_chosen, LanguageCb.filter())
    return r
