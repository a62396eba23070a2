"""The /language keyboard. Language names are written in their own language, so anyone can find theirs."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from .callbacks import LanguageCb

NAMES = {"ru": "🇷🇺 Русский", "en": "🇬🇧 English"}


def languages(current: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code, name in NAMES.items():
        kb.button(text=f"• {name} •" if code == current else name, callback_data=LanguageCb(code=code))
    kb.adjust(2)
    return kb.as_markup()
