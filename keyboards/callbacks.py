"""Callback data factories: every button press the bot understands, typed and at most 64 bytes.

Buttons that belong to one dialogue step are only accepted in that step (the handlers filter by state), and result
buttons carry the result's number, so a button pressed on an old message is recognised as old and answered as such.
Fields that name an action are enums: a handler is routed by an aiogram filter (``F.action == MenuAction.HELP``)
rather than by comparing strings, and data that names no known action matches no handler (the fallback answers).
The enum values are the wire format: renaming a member's value breaks buttons already sent.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class Mode(StrEnum):
    """What the bot can do with a photo: the main menu's first buttons, and the offer for a photo sent first."""

    OWN = "own"
    READY = "ready"
    UPSCALE = "upscale"


class MenuAction(StrEnum):
    OWN = Mode.OWN.value
    READY = Mode.READY.value
    UPSCALE = Mode.UPSCALE.value
    SETTINGS = "settings"
    LANGUAGE = "language"
    HELP = "help"
    HOME = "home"


class MenuCb(CallbackData, prefix="m"):
    action: MenuAction


class PhotoFirstCb(CallbackData, prefix="pf"):
    """A photo sent outside any dialogue: what to do with it."""

    mode: Mode


class AlgorithmCb(CallbackData, prefix="al"):
    model: str


class StyleSource(StrEnum):
    GALLERY = "gallery"


class StyleSourceCb(CallbackData, prefix="ss"):
    """While a style picture is expected: open the gallery."""

    action: StyleSource


class GalleryCb(CallbackData, prefix="gs"):
    style: str


class Size(StrEnum):
    """The result size: an own-style option and a preference."""

    STANDARD = "standard"
    HD = "hd"


class Option(StrEnum):
    """Own-style options; ``value`` is a percent (strength, blend), ``0``/``1`` (colors) or a :class:`Size`."""

    STRENGTH = "strength"
    COLORS = "colors"
    SIZE = "size"
    SECOND = "second"
    BLEND = "blend"
    DROP_SECOND = "drop_second"
    GO = "go"


class OptionCb(CallbackData, prefix="op"):
    name: Option
    value: str = ""


class PresetCb(CallbackData, prefix="pr"):
    model: str
    preset: str


class UpscaleCb(CallbackData, prefix="up"):
    preset: str


class UpscaleSizeCb(CallbackData, prefix="uz"):
    """The input side to upscale from (the result is four times that, within MAX_OUTPUT_SIDE)."""

    side: int


class ResultAction(StrEnum):
    STRENGTH = "strength"
    RESTYLE = "restyle"
    UPSCALE = "upscale"
    FILE = "file"


class ResultCb(CallbackData, prefix="rs"):
    """After a result: what to do with result number ``rid``."""

    action: ResultAction
    rid: int


class ResultStrengthCb(CallbackData, prefix="rv"):
    rid: int
    percent: int


class RetryCb(CallbackData, prefix="ra"):
    """Under a "busy" answer: submit the same request again (the draft kept in FSM data)."""


class Setting(StrEnum):
    SIZE = "size"  # value: a Size
    AS_FILE = "as_file"  # value: 0 | 1


class SettingsCb(CallbackData, prefix="st"):
    name: Setting
    value: str


class LanguageCb(CallbackData, prefix="lg"):
    code: str


class CancelTarget(StrEnum):
    DIALOGUE = "dialogue"  # the dialogue step
    JOB = "job"  # the running job, from its status message


class CancelCb(CallbackData, prefix="cx"):
    what: CancelTarget = CancelTarget.DIALOGUE
