"""Buttons under a result: try another strength, another style, upscale it, or get it as a file."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from .callbacks import MenuAction, MenuCb, ResultAction, ResultCb, ResultStrengthCb
from .own_style import STRENGTHS


def actions(rid: int, *, strength: bool, restyle: bool, upscale: bool, as_file: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if strength:
        kb.button(text=_("💪 Another strength"), callback_data=ResultCb(action=ResultAction.STRENGTH, rid=rid))
    if restyle:
        kb.button(text=_("🎨 Another style"), callback_data=ResultCb(action=ResultAction.RESTYLE, rid=rid))
    if upscale:
        kb.button(text=_("🔍 Upscale this"), callback_data=ResultCb(action=ResultAction.UPSCALE, rid=rid))
    if as_file:
        kb.button(text=_("📎 Send as file"), callback_data=ResultCb(action=ResultAction.FILE, rid=rid))
    kb.button(text=_("🏠 Menu"), callback_data=MenuCb(action=MenuAction.HOME))
    kb.adjust(2)  # two columns: the picture stays in view on a phone
    return kb.as_markup()


def strengths(rid: int, current: float) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    now = round(current * 100)
    for value in STRENGTHS:
        text = f"• {value}% •" if value == now else f"{value}%"
        kb.button(text=text, callback_data=ResultStrengthCb(rid=rid, percent=value))
    kb.button(text=_("🏠 Menu"), callback_data=MenuCb(action=MenuAction.HOME))
    kb.adjust(len(STRENGTHS), 1)
    return kb.as_markup()
