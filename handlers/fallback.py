"""Everything no other router took: answered in the context of the current step, never left in silence.

A wrong kind of message in a step that waits for a picture gets "send a photo"; a message where buttons are
expected gets "use the buttons"; a photo outside any dialogue is offered the modes that can use it; anything else
gets the menu. A button from an old message gets a short notice on the button itself and the menu.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

import dialogue
from config import Settings
from dialogue import Recipe
from handlers import own_style, ready_styles, upscale
from handlers.albums import album_of
from handlers.flow import CLIP_MESSAGES, SELF_ANSWERED, show_menu, stale_button, take_pictures
from handlers.states import BUTTON_STATES, PICTURE_STATES
from jobs import Executor
from keyboards import menu as menu_kb
from keyboards.callbacks import Mode
from ml_models.registry import Availability
from services.file_store import FileStore
from services.gallery import Gallery
from services.job_tracker import JobTracker
from texts import error_text


def _what_it_is(message: Message) -> str | None:
    if message.sticker and (message.sticker.is_animated or message.sticker.is_video):
        return _("Animated stickers are not supported: send the animation as a GIF or a video instead.")
    if message.sticker:
        return _("Stickers cannot be used here.")
    if message.video or message.animation or message.video_note:
        return _("Videos and GIFs are not supported: I need a still picture.")
    if message.voice or message.audio:
        return _("I cannot do anything with sound.")
    return None


async def picture_expected(message: Message) -> None:
    lines = [_what_it_is(message) or "",
             _("I am waiting for a picture: send it as a photo, or as a file (JPEG, PNG or WebP). "
               "Press /cancel to stop.")]
    await message.answer("\n".join(line for line in lines if line), reply_markup=menu_kb.cancel())


async def buttons_expected(message: Message) -> None:
    await message.answer(_("Please choose one of the buttons above, or press /cancel to stop."),
                         reply_markup=menu_kb.cancel())


async def photo_outside_dialogue(message: Message, state: FSMContext, bot: Bot, files: FileStore,
                                 settings: Settings, availability: Availability, gallery: Gallery,
                                 executor: Executor, tracker: JobTracker,
                                 album: list[Message] | None = None) -> None:
    refs = await take_pictures(album_of(message, album), bot, files, settings, clips=True)
    if not refs:
        return
    await dialogue.reset(state)
    await dialogue.save_draft(state, Recipe(kind="photo", content=refs[0], batch=refs[1:]))
    clip = refs[0].is_clip
    modes = [m for m in menu_kb.modes(availability) if not (clip and m == Mode.UPSCALE)]  # upscaling takes stills
    if not modes:
        await dialogue.reset(state)
        await show_menu(bot, message.chat.id, availability, error_text("video_model_unsupported"))
        return
    if len(modes) == 1:  # one mode installed: nothing to ask
        chat_id, user = message.chat.id, message.from_user
        if modes[0] == Mode.OWN:
            await own_style.own_style_for_pictures(bot, chat_id, state, availability, gallery, executor)
        elif modes[0] == Mode.READY:
            await ready_styles.offer_presets(bot, chat_id, state, availability, gallery, refs[0], refs[1:],
                                             user=user, tracker=tracker)
        else:
            await upscale.offer_variants(bot, chat_id, state, availability, refs[0], refs[1:], user=user,
                                         tracker=tracker, settings=settings)
        return
    if clip:
        await message.answer(_("Nice clip! What shall I do with it?"),
                             reply_markup=menu_kb.photo_first(availability, clip=True))
        return
    text = (_("Nice picture! What shall I do with it?") if len(refs) == 1
            else _("What shall I do with these {count} photos?").format(count=len(refs)))
    await message.answer(text, reply_markup=menu_kb.photo_first(availability))


async def unknown_command(message: Message, bot: Bot, availability: Availability) -> None:
    await show_menu(bot, message.chat.id, availability, _("I do not know this command. Here is the menu:"))


async def anything_else(message: Message, bot: Bot, availability: Availability) -> None:
    text = _what_it_is(message) or _("I did not understand that.")
    await show_menu(bot, message.chat.id, availability, text + "\n" + _("Choose what to do:"))


def router() -> Router:
    r = Router(name="fallback")
    r.message.register(unknown_command, F.text.startswith("/"))  # in any step: the dialogue step stays as it was
    r.message.register(picture_expected, StateFilter(*PICTURE_STATES))
    r.message.register(buttons_expected, StateFilter(*BUTTON_STATES))
    r.message.register(photo_outside_dialogue, F.photo | F.document | CLIP_MESSAGES)
    r.message.register(anything_else)
    r.callback_query.register(stale_button, flags=SELF_ANSWERED)
    return r
