"""Keyboard of the ready-styles gallery: one numbered button per installed preset."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from .callbacks import CancelCb, PresetCb


def presets(items: list[tuple[str, str, str]]) -> InlineKeyboardMarkup:
    """``items``: (model id, preset id, title), numbered in album order."""
    kb = InlineKeyboardBuilder()
    for number, (model, preset, text) in enumerate(items, start=1):
        kb.button(text=f"{number}. {text}", callback_data=PresetCb(model=model, preset=preset))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(2)
    return kb.as_markup()
