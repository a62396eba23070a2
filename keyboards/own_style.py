"""Keyboards of the own-style dialogue: algorithm, where the style comes from, gallery picks, options."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from ml_models import registry
from texts import title

from .callbacks import AlgorithmCb, CancelCb, GalleryCb, Option, OptionCb, Size, StyleSource, StyleSourceCb

STRENGTHS = (25, 50, 75, 100)
BLENDS = (25, 50, 75)  # share of the second style


def algorithms(choices: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """``choices``: (model id, label such as "⚡ Quick · about 1 s")."""
    kb = InlineKeyboardBuilder()
    for model_id, label in choices:
        kb.button(text=label, callback_data=AlgorithmCb(model=model_id))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def style_source(has_gallery: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if has_gallery:
        kb.button(text=_("🖼 Pick from the gallery"), callback_data=StyleSourceCb(action=StyleSource.GALLERY))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def gallery_picker(styles: list[registry.GalleryStyle]) -> InlineKeyboardMarkup:
    """Numbered like the thumbnails of the album sent just before."""
    kb = InlineKeyboardBuilder()
    for number, style in enumerate(styles, start=1):
        kb.button(text=f"{number}. {title(style)}", callback_data=GalleryCb(style=style.id))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(2)
    return kb.as_markup()


def _mark(text: str, chosen: bool) -> str:
    return f"• {text} •" if chosen else text


def options(spec: registry.ModelSpec, values: dict, style_count: int, second_share: float) -> InlineKeyboardMarkup:
    """One row per option; the current value is marked with dots."""
    names = {opt.name for opt in spec.options}
    kb = InlineKeyboardBuilder()
    rows = []
    if "strength" in names:
        current = round(float(values.get("strength", 1.0)) * 100)
        for value in STRENGTHS:
            kb.button(text=_mark(f"{value}%", value == current), callback_data=OptionCb(name=Option.STRENGTH,
                                                                                       value=str(value)))
        rows.append(len(STRENGTHS))
    if "preserve_colors" in names:
        keep = bool(values.get("preserve_colors"))
        kb.button(text=_("🎨 Keep colours: on") if keep else _("🎨 Keep colours: off"),
                  callback_data=OptionCb(name=Option.COLORS, value="0" if keep else "1"))
        rows.append(1)
    if "size" in names:
        size = values.get("size", Size.STANDARD)
        kb.button(text=_mark(_("Standard size"), size == Size.STANDARD),
                  callback_data=OptionCb(name=Option.SIZE, value=Size.STANDARD))
        kb.button(text=_mark(_("HD"), size == Size.HD), callback_data=OptionCb(name=Option.SIZE, value=Size.HD))
        rows.append(2)
    if spec.max_styles > 1:
        if style_count < 2:
            kb.button(text=_("➕ Add a second style"), callback_data=OptionCb(name=Option.SECOND))
            rows.append(1)
        else:
            share = round(second_share * 100)
            for value in BLENDS:
                kb.button(text=_mark(_("Mix {first}/{second}").format(first=100 - value, second=value),
                                     value == share),
                          callback_data=OptionCb(name=Option.BLEND, value=str(value)))
            kb.button(text=_("➖ Remove the second style"), callback_data=OptionCb(name=Option.DROP_SECOND))
            rows.extend([len(BLENDS), 1])
    kb.button(text=_("▶️ Go!"), callback_data=OptionCb(name=Option.GO))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    rows.append(2)
    kb.adjust(*rows)
    return kb.as_markup()
