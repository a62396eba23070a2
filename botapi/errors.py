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


class Outage(Exception):
    """A failure below the Bot API: what a user of Telegram sees when its front end or the network fails.

    ``kind`` is ``bad_gateway`` (the proxy in front of the API answers ``502 Bad Gateway`` with an HTML page, not
    the API's JSON) or ``disconnect`` (the connection is closed without an answer).
    """

    KINDS = ("bad_gateway", "disconnect")

    def __init__(self, kind: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"outage kind must be one of {self.KINDS}, got {kind!r}")
        super().__init__(kind)
        self.kind = kind
        self.description = "502 Bad Gateway" if kind == "bad_gateway" else "connection closed without an answer"


BAD_GATEWAY_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
                    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


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
