"""Keyboard of the upscale dialogue: which kind of picture it is (photo or drawing)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from ml_models import registry
from texts import title

from .callbacks import CancelCb, UpscaleCb, UpscaleSizeCb


def variants(preset_ids: tuple[str, ...]) -> InlineKeyboardMarkup:
    spec = registry.get("upscale")
    kb = InlineKeyboardBuilder()
    for preset_id in preset_ids:
        kb.button(text=title(spec.preset(preset_id)), callback_data=UpscaleCb(preset=preset_id))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def sizes(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """``choices``: (input side, label such as "8192×6144 (x2)")."""
    kb = InlineKeyboardBuilder()
    for side, label in choices:
        kb.button(text=label, callback_data=UpscaleSizeCb(side=side))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()
