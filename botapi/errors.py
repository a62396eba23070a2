"""Bot API errors as the real server reports them.

Every failure a handler can produce is an :class:`ApiError`; the HTTP layer turns it into the
``{"ok": false, "error_code": ..., "description": ...}`` body aiogram parses into its typed
exceptions (``TelegramBadRequest`` for 400, ``TelegramRetryAfter`` when ``retry_after`` is set, ...).
Descriptions copy Telegram's wording where the bot is likely to match on it (``message is not modified``).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error reply: HTTP status = ``error_code``, text = ``description``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    """400 with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    """403 with Telegram's ``Forbidden:`` prefix (e.g. the user blocked the bot)."""
    return ApiError(403, f"Forbidden: {reason}")


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
CHAT_NOT_FOUND = "chat not found"
WRONG_FILE_ID = "wrong file identifier/HTTP URL specified"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
