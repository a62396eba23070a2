"""Request parameters: one typed view over JSON bodies, query strings, url-encoded and multipart forms.

aiogram always posts forms (multipart when a file is attached): scalars arrive as strings, nested objects as
JSON strings, uploads as file parts referenced by ``attach://<name>``. Other clients post JSON. Handlers only see
:class:`Params`, so both encodings behave the same, as they do on the real server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request

# Values of these keys stay strings even when they look like JSON ("123" as a message text is text).
TEXT_KEYS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "action", "language_code",
    "file_id", "photo", "document", "video", "audio", "animation", "sticker", "voice", "thumbnail",
    "inline_message_id", "description", "short_description", "name", "ip_address", "emoji",
    "business_connection_id", "message_effect_id", "data", "query",
})


@dataclass
class UploadedFile:
    """A file part of a multipart request, read into memory."""

    data: bytes
    filename: str | None
    content_type: str | None

    def describe(self) -> dict[str, Any]:
        return {"upload": self.filename, "size": len(self.data), "content_type": self.content_type}


def coerce(key: str, value: Any) -> Any:
    """Decode a form string into the JSON value the real server would see for ``key``."""
    if not isinstance(value, str) or key in TEXT_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class Params:
    """Typed accessors; a missing or mistyped required value is a 400 like Telegram's."""

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedFile] | None = None) -> None:
        self.values = {key: coerce(key, value) for key, value in values.items()}
        self.files = files or {}

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise bad_request("can't parse JSON request body") from exc
                if not isinstance(body, dict):
                    raise bad_request("request body must be a JSON object")
                values.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(value.file.read(), value.filename, value.content_type)
                    else:
                        values[key] = value
        return cls(values, files)

    def __contains__(self, key: str) -> bool:
        return key in self.values or key in self.files

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def get_int(self, key: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.values.get(key)
        if value is None or value == "":
            if required:
                raise bad_request(f"{key} is empty")
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad_request(f"field \"{key}\" must be an integer")
        try:
            return int(value)
        except ValueError as exc:
            raise bad_request(f"field \"{key}\" must be an integer") from exc

    def get_str(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                raise bad_request(f"{key} is empty")
            return default
        if isinstance(value, (dict, list)):
            raise bad_request(f"field \"{key}\" must be a string")
        return str(value)

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_obj(self, key: str) -> dict[str, Any] | None:
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = coerce("_", value)
        if not isinstance(value, dict):
            raise bad_request(f"can't parse {key} JSON object")
        return value

    def get_list(self, key: str) -> list[Any] | None:
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = coerce("_", value)
        if not isinstance(value, list):
            raise bad_request(f"can't parse {key} JSON array")
        return value

    def chat_id(self, key: str = "chat_id") -> int | str:
        value = self.values.get(key)
        if value is None or value == "":
            raise bad_request(f"{key} is empty")
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad_request(f"field \"{key}\" must be an integer or a string")
        return value

    def log_view(self) -> dict[str, Any]:
        """Parameters for the call log: uploads described by name and size, not bytes."""
        view = dict(self.values)
        for key, upload in self.files.items():
            view[key] = upload.describe()
        return view


def check_token_format(token: str) -> None:
    """Reject tokens that cannot be real (``<digits>:<secret>``) the way the server does: 404 Not Found."""
    head, sep, tail = token.partition(":")
    if not (sep and head.isdigit() and tail):
        raise ApiError(404, "Not Found")
