"""Callback data factories: every button press the bot understands, typed and at most 64 bytes.

Buttons that belong to one dialogue step are only accepted in that step (the handlers filter by state), and result
buttons carry the result's number, so a button pressed on an old message is recognised as old and answered as such.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="m"):
    """Main menu: own | ready | upscale | settings | language | help | home."""

    action: str


class PhotoFirstCb(CallbackData, prefix="pf"):
    """A photo sent outside any dialogue: what to do with it (own | ready | upscale)."""

    mode: str


class AlgorithmCb(CallbackData, prefix="al"):
    model: str


class StyleSourceCb(CallbackData, prefix="ss"):
    """While a style picture is expected: open the gallery."""

    action: str


class GalleryCb(CallbackData, prefix="gs"):
    style: str


class OptionCb(CallbackData, prefix="op"):
    """Own-style options: strength | colors | size | second | blend | drop_second | go."""

    name: str
    value: str = ""


class PresetCb(CallbackData, prefix="pr"):
    model: str
    preset: str


class UpscaleCb(CallbackData, prefix="up"):
    preset: str


class ResultCb(CallbackData, prefix="rs"):
    """After a result: strength | restyle | upscale | file, for result number ``rid``."""

    action: str
    rid: int


class ResultStrengthCb(CallbackData, prefix="rv"):
    rid: int
    percent: int


class SettingsCb(CallbackData, prefix="st"):
    name: str
    value: str


class LanguageCb(CallbackData, prefix="lg"):
    code: str


class CancelCb(CallbackData, prefix="cx"):
    """Cancel the dialogue step, or (``job``) the running job from its status message."""

    what: str = "dialogue"
