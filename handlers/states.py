"""The dialogue's steps. A state names what the bot is waiting for, so a stray message can be answered in context."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class OwnStyle(StatesGroup):
    algorithm = State()  # buttons: MicroAST / AdaIN / Gatys
    photo = State()  # the photo to transform
    style = State()  # a style picture, or a gallery pick
    options = State()  # buttons: strength, colours, size, second style, Go
    second_style = State()  # a second style picture, or a gallery pick


class ReadyStyle(StatesGroup):
    preset = State()  # buttons: the presets under the album
    photo = State()  # the photo to transform


class Upscale(StatesGroup):
    photo = State()
    variant = State()  # buttons: photo / anime
    size = State()  # buttons: the result sizes, when the picture is larger than the model takes in one go


PICTURE_STATES = (OwnStyle.photo, OwnStyle.style, OwnStyle.second_style, ReadyStyle.photo, Upscale.photo)
"""Steps that wait for a picture: anything else sent there gets "please send a photo"."""

BUTTON_STATES = (OwnStyle.algorithm, OwnStyle.options, ReadyStyle.preset, Upscale.variant)
"""Steps that wait for a button press: a message there gets "please use the buttons"."""
