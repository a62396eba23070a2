"""The main menu and the small keyboards shared by several features."""

from __future__ import annotations

from aiogram.types import BotCommand, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from ml_models.registry import Availability

from .callbacks import CancelCb, CancelTarget, MenuAction, MenuCb, Mode, PhotoFirstCb, RetryCb

ARBITRARY_MODELS = ("microast", "adain", "gatys")
PRESET_MODELS = ("johnson", "cyclegan")


def modes(availability: Availability) -> list[Mode]:
    """Menu modes that have at least one installed model."""
    out = []
    if any(m in availability.models for m in ARBITRARY_MODELS):
        out.append(Mode.OWN)
    if any(m in availability.models for m in PRESET_MODELS):
        out.append(Mode.READY)
    if "upscale" in availability.models:
        out.append(Mode.UPSCALE)
    return out


def _mode_title(mode: Mode) -> str:
    return {Mode.OWN: _("🎨 My own style"), Mode.READY: _("🖼 Ready styles"), Mode.UPSCALE: _("🔍 Upscale x4")}[mode]


def main_menu(availability: Availability) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for mode in modes(availability):
        kb.button(text=_mode_title(mode), callback_data=MenuCb(action=MenuAction(mode)))
    kb.button(text=_("⚙️ Settings"), callback_data=MenuCb(action=MenuAction.SETTINGS))
    kb.button(text=_("🌐 Language"), callback_data=MenuCb(action=MenuAction.LANGUAGE))
    kb.button(text=_("❓ Help"), callback_data=MenuCb(action=MenuAction.HELP))
    kb.adjust(*([1] * len(modes(availability))), 3)
    return kb.as_markup()


def photo_first(availability: Availability, clip: bool = False) -> InlineKeyboardMarkup:
    """For a photo (or a clip) sent before choosing a mode: the modes that can use it (upscaling takes stills)."""
    kb = InlineKeyboardBuilder()
    for mode in modes(availability):
        if clip and mode == Mode.UPSCALE:
            continue
        kb.button(text=_mode_title(mode), callback_data=PhotoFirstCb(mode=mode))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def home() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🏠 Menu"), callback_data=MenuCb(action=MenuAction.HOME))
    return kb.as_markup()


def cancel() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    return kb.as_markup()


def job_status() -> InlineKeyboardMarkup:
    """Under the status message of a queued or running job."""
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖️ Cancel the job"), callback_data=CancelCb(what=CancelTarget.JOB))
    return kb.as_markup()


def try_again() -> InlineKeyboardMarkup:
    """Under a "busy" answer: the same request again, or the menu."""
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🔁 Try again"), callback_data=RetryCb())
    kb.button(text=_("🏠 Menu"), callback_data=MenuCb(action=MenuAction.HOME))
    kb.adjust(2)
    return kb.as_markup()


COMMANDS = ("start", "help", "cancel", "language", "settings")


def commands() -> list[BotCommand]:
    """The command menu (the "/" button) in the current language."""
    descriptions = {
        "start": _("Main menu"),
        "help": _("How it works"),
        "cancel": _("Stop what is going on"),
        "language": _("Русский / English"),
        "settings": _("Result size, send as file"),
    }
    return [BotCommand(command=name, description=descriptions[name]) for name in COMMANDS]


def description() -> str:
    """The bot's description (the empty chat's "What can this bot do?"): what it does and how to begin."""
    return _("I turn photos into art: in the style of any picture you send, in the style of famous painters, or "
             "enlarged four times with restored detail.\n\nPress Start, then send a photo.")


def short_description() -> str:
    """The bot's profile line and the text shared with its link."""
    return _("Photos into art: your own style, famous painters, x4 upscaling. Send a photo to begin.")
