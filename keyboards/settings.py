"""The /settings keyboard: default result size and whether results always come as files."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from dialogue import Prefs

from .callbacks import MenuAction, MenuCb, Setting, SettingsCb, Size


def settings(prefs: Prefs) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    standard, hd = _("Standard size"), _("HD")
    kb.button(text=f"• {standard} •" if prefs.size == Size.STANDARD else standard,
              callback_data=SettingsCb(name=Setting.SIZE, value=Size.STANDARD))
    kb.button(text=f"• {hd} •" if prefs.size == Size.HD else hd,
              callback_data=SettingsCb(name=Setting.SIZE, value=Size.HD))
    kb.button(text=_("📎 Always send as file: on") if prefs.as_file else _("📎 Always send as file: off"),
              callback_data=SettingsCb(name=Setting.AS_FILE, value="0" if prefs.as_file else "1"))
    kb.button(text=_("🏠 Menu"), callback_data=MenuCb(action=MenuAction.HOME))
    kb.adjust(2, 1, 1)
    return kb.as_markup()
