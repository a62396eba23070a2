"""reply_markup validation with the server's error texts.

Catches what breaks in production: callback_data over 64 bytes, a button without an action, a malformed URL.
Inline keyboards belong to a message; reply keyboards (and their removal) are a state of the chat's input field.
"""

from __future__ import annotations

from typing import Any

from .errors import bad_request

_INLINE_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                   "callback_game", "pay")
_URL_SCHEMES = ("http://", "https://", "tg://")


def _check_inline(markup: dict[str, Any]) -> dict[str, Any]:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
    count = 0
    for row in rows:
        for button in row:
            count += 1
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Field \"text\" must be of type String")
            if not button["text"].strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            actions = [key for key in _INLINE_ACTIONS if key in button]
            if not actions:
                raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline "
                                  "keyboard")
            if len(actions) > 1:
                raise bad_request("can't parse inline keyboard button: only one of the optional fields must be "
                                  f"specified, got {actions}")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.lower().startswith(_URL_SCHEMES) or " " in url:
                    raise bad_request("BUTTON_URL_INVALID")
    if count > 100:
        raise bad_request("too many inline keyboard buttons")
    return {"inline_keyboard": [[dict(button) for button in row] for row in rows]}


def _check_reply(markup: dict[str, Any]) -> dict[str, Any]:
    rows = markup.get("keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("field \"keyboard\" of the ReplyKeyboardMarkup must be an Array of Arrays")
    normal = []
    for row in rows:
        out_row = []
        for button in row:
            if isinstance(button, str):
                button = {"text": button}
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise bad_request("keyboard button text must be non-empty")
            out_row.append(dict(button))
        normal.append(out_row)
    return {**markup, "keyboard": normal}


def parse_markup(markup: dict[str, Any] | None, *, inline_only: bool = False) -> tuple[str, dict[str, Any] | None]:
    """Classify and validate: ("none"|"inline"|"reply"|"remove"|"force_reply", normalised markup)."""
    if not markup:
        return "none", None
    if "inline_keyboard" in markup:
        return "inline", _check_inline(markup)
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        return "reply", _check_reply(markup)
    if markup.get("remove_keyboard"):
        return "remove", None
    if markup.get("force_reply"):
        return "force_reply", dict(markup)
    raise bad_request("can't parse reply keyboard markup JSON object")
