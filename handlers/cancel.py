"""/cancel from anywhere: leave the dialogue and stop the user's queued or running job.

This router comes first, so /cancel wins over whatever step the dialogue is in. The ✖️ Cancel button under a
dialogue's message only leaves that dialogue; a job is stopped by /cancel or by the button under its status message.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

import dialogue
from handlers.flow import SELF_ANSWERED, edit_quietly, show_menu
from jobs import Executor
from keyboards import menu as menu_kb
from keyboards.callbacks import CancelCb, CancelTarget
from ml_models.registry import Availability


async def cancel_command(message: Message, state: FSMContext, bot: Bot, executor: Executor,
                         availability: Availability) -> None:
    text = await _cancel_everything(message.from_user.id, state, executor)
    await show_menu(bot, message.chat.id, availability, text)


async def cancel_button(query: CallbackQuery, state: FSMContext, bot: Bot, availability: Availability) -> None:
    """✖️ Cancel under a dialogue's message: leave that dialogue only; a picture in the works goes on."""
    await query.answer()
    await dialogue.reset(state)
    await edit_quietly(query.message, _("Cancelled. What next?"), menu_kb.main_menu(availability))


async def cancel_job_button(query: CallbackQuery, executor: Executor) -> None:
    """The button under a status message: stop the job; its status message then says it was cancelled."""
    if await executor.cancel(query.from_user.id):
        await query.answer(_("Cancelling…"))
    else:
        await query.answer(_("There is no job to cancel."))


async def _cancel_everything(user_id: int, state: FSMContext, executor: Executor) -> str:
    had_step = await state.get_state() is not None
    await dialogue.reset(state)
    if await executor.cancel(user_id):
        return _("Your picture is cancelled. What next?")
    if had_step:
        return _("Cancelled. What next?")
    return _("There was nothing to cancel. What shall we do?")


def router() -> Router:
    r = Router(name="cancel")
    r.message.register(cancel_command, Command("cancel"))
    r.message.register(cancel_command, F.text.lower().in_({"cancel", "отмена", "стоп", "stop"}))
    r.callback_query.register(cancel_job_button, CancelCb.filter(F.what == CancelTarget.JOB), flags=SELF_ANSWERED)
    r.callback_query.register(cancel_button, CancelCb.filter(), flags=SELF_ANSWERED)
    return r
