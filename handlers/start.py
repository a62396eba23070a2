"""/start, /help and the main menu: where every dialogue begins and where every dead end leads back to."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from handlers.flow import menu_text, show_screen
from keyboards import menu as menu_kb
from keyboards.callbacks import MenuAction, MenuCb, Mode
from ml_models.registry import Availability
from texts import seconds_text


def greeting(name: str, availability: Availability) -> str:
    """Hello, and one line per mode that is installed (a mode without its models is not promised)."""
    lines = {Mode.OWN: _("🎨 <b>My own style</b>: send a photo and any picture whose style you like."),
             Mode.READY: _("🖼 <b>Ready styles</b>: famous paintings and artists, one tap away."),
             Mode.UPSCALE: _("🔍 <b>Upscale x4</b>: make a picture four times larger with restored detail.")}
    head = _("Hello, {name}! I turn photos into art.").format(name=name)
    return "\n\n".join([head, "\n".join(lines[mode] for mode in menu_kb.modes(availability))])


def help_text(video_max_seconds: float = 15.0) -> str:
    return _("<b>How it works</b>\n"
             "1. Choose a mode in the menu.\n"
             "2. Send a photo: as a photo, or as a file to keep full quality (up to 20 MB).\n"
             "3. For your own style, send a second picture (a painting, a pattern) or pick one from the gallery, "
             "then adjust the strength, colours and size.\n"
             "4. Wait a little: I show your place in the queue and the progress.\n\n"
             "Under each result there are buttons to change the strength, try another style, upscale it or get it "
             "as a file.\n\n"
             "Under the hood: ⚡ Quick is MicroAST, 🎨 Finer is AdaIN, 🖌 Detailed is Gatys' optimisation on "
             "VGG-19; ready styles are Johnson's fast networks and CycleGAN painters; upscaling is Real-ESRGAN.\n\n"
             "✖️ Cancel under a menu leaves that menu only. A picture in the works is stopped by the button "
             "under its status message or by /cancel.\n\n"
             "/start: the menu\n/cancel: stop whatever is going on, a picture in the works too\n"
             "/settings: default size, results as files\n"
             "/language: Русский or English\n/help: this text") + "\n\n" + clips_help(video_max_seconds)


def clips_help(video_max_seconds: float) -> str:
    return _("🎞 <b>GIFs and videos</b>: send a GIF, a video (up to {seconds} s, 20 MB) or a video note instead of a "
             "photo, with a ready style or with MicroAST or AdaIN: it comes back the same kind, stylised frame by "
             "frame.").format(seconds=seconds_text(video_max_seconds))


async def start(message: Message, state: FSMContext, availability: Availability) -> None:
    await dialogue.reset(state)
    name = html.escape(message.from_user.first_name) if message.from_user else ""
    await message.answer(greeting(name, availability), reply_markup=menu_kb.main_menu(availability))


async def help_command(message: Message, availability: Availability, settings: Settings) -> None:
    await message.answer(help_text(settings.video_max_seconds), reply_markup=menu_kb.main_menu(availability))


async def home_button(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability) -> None:
    await dialogue.reset(state)
    await show_screen(bot, query, menu_text(), menu_kb.main_menu(availability))


async def help_button(query: CallbackQuery, bot: Bot, availability: Availability, settings: Settings) -> None:
    await show_screen(bot, query, help_text(settings.video_max_seconds), menu_kb.main_menu(availability))


def router() -> Router:
    r = Router(name="start")
    r.message.register(start, CommandStart())
    r.message.register(help_command, Command("help"))
    r.callback_query.register(home_button, MenuCb.filter(F.action == MenuAction.HOME))
    r.callback_query.register(help_button, MenuCb.filter(F.action == MenuAction.HELP))
    return r
