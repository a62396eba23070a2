"""Button data: typed fields that refuse what no button sends, and aiogram filters that pick one handler per option.

Routing is checked against the real routers: each handler's own filters (state and callback data) are asked about a
callback query, without a Bot API or a dispatcher, so the test names the one handler that would run.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import CallbackQuery, User

import handlers
from handlers.states import OwnStyle
from keyboards.callbacks import (
    CancelCb,
    CancelTarget,
    MenuAction,
    MenuCb,
    Mode,
    Option,
    OptionCb,
    PhotoFirstCb,
    ResultAction,
    ResultCb,
    Setting,
    SettingsCb,
    Size,
)


def test_the_wire_format_is_the_enum_value() -> None:
    assert MenuCb(action=MenuAction.HELP).pack() == "m:help"
    assert MenuCb.unpack("m:own").action is MenuAction.OWN
    assert PhotoFirstCb.unpack("pf:upscale").mode is Mode.UPSCALE
    assert CancelCb().pack() == "cx:dialogue" and CancelCb.unpack("cx:job").what is CancelTarget.JOB
    assert OptionCb(name=Option.SIZE, value=Size.HD).pack() == "op:size:hd"
    assert ResultCb.unpack("rs:file:7") == ResultCb(action=ResultAction.FILE, rid=7)
    assert {m.value for m in Mode} <= {a.value for a in MenuAction}  # every mode is also a menu button


@pytest.mark.parametrize("data", ["m:bogus", "pf:settings", "op:colour:1", "rs:print:3", "st:theme:dark", "cx:all"])
def test_data_no_button_sends_is_refused(data: str) -> None:
    factory = {"m": MenuCb, "pf": PhotoFirstCb, "op": OptionCb, "rs": ResultCb, "st": SettingsCb, "cx": CancelCb}
    with pytest.raises(ValueError):
        factory[data.split(":")[0]].unpack(data)


def _query(data: str) -> CallbackQuery:
    return CallbackQuery(id="1", chat_instance="c", data=data,
                         from_user=User(id=42, is_bot=False, first_name="Ann"))


async def _handlers_for(data: str, raw_state: str | None) -> list[str]:
    """Names of the handlers, over every router in order, whose filters accept this button in this state."""
    matched = []
    for router in handlers.routers():
        for handler in router.callback_query.handlers:
            kwargs: dict[str, Any] = {"raw_state": raw_state}
            accepted, _ = await handler.check(_query(data), **kwargs)
            if accepted:
                matched.append(handler.callback.__name__)
    return matched


OPTIONS = OwnStyle.options.state


@pytest.mark.parametrize(("data", "state", "first"), [
    (OptionCb(name=Option.GO).pack(), OPTIONS, "go_pressed"),
    (OptionCb(name=Option.SECOND).pack(), OPTIONS, "second_style_wanted"),
    (OptionCb(name=Option.STRENGTH, value="75").pack(), OPTIONS, "strength_chosen"),
    (OptionCb(name=Option.COLORS, value="1").pack(), OPTIONS, "colors_toggled"),
    (OptionCb(name=Option.SIZE, value=Size.HD).pack(), OPTIONS, "size_chosen"),
    (OptionCb(name=Option.BLEND, value="25").pack(), OPTIONS, "blend_chosen"),
    (OptionCb(name=Option.DROP_SECOND).pack(), OPTIONS, "second_style_dropped"),
    (OptionCb(name=Option.STRENGTH, value="lots").pack(), OPTIONS, "stale_button"),  # no button sends it
    (OptionCb(name=Option.SIZE, value="huge").pack(), OPTIONS, "stale_button"),
    (OptionCb(name=Option.GO).pack(), None, "stale_button"),  # an options button outside the options step
    (ResultCb(action=ResultAction.STRENGTH, rid=1).pack(), None, "strengths_offered"),
    (ResultCb(action=ResultAction.RESTYLE, rid=1).pack(), None, "restyle_pressed"),
    (ResultCb(action=ResultAction.UPSCALE, rid=1).pack(), None, "upscale_pressed"),
    (ResultCb(action=ResultAction.FILE, rid=1).pack(), None, "file_wanted"),
    (SettingsCb(name=Setting.SIZE, value=Size.STANDARD).pack(), None, "size_chosen"),
    (SettingsCb(name=Setting.AS_FILE, value="1").pack(), None, "as_file_toggled"),
    (CancelCb(what=CancelTarget.JOB).pack(), OPTIONS, "cancel_job_button"),
    (CancelCb().pack(), OPTIONS, "cancel_button"),
    (MenuCb(action=MenuAction.HELP).pack(), None, "help_button"),
    (PhotoFirstCb(mode=Mode.READY).pack(), None, "ready_styles_for_photo"),
])
async def test_each_button_reaches_one_handler_by_its_filters(data: str, state: str | None, first: str) -> None:
    matched = await _handlers_for(data, state)
    assert matched[0] == first, matched
    # apart from the fallback's catch-all (and /cancel's for its own buttons), nothing else claims the button
    assert [name for name in matched[1:] if name not in ("stale_button", "cancel_button")] == [], matched
