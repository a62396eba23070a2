"""The Bot API methods the emulator implements, with the real server's semantics and error texts.

``BotApi.call(method, params)`` is the single entry: the HTTP route, the webhook reply path and nothing else
use it, and it records every call (method, parameters, outcome) for assertions. Method names are
case-insensitive as on the real server. An unknown method is a 404 that is logged and remembered in
``World.unknown_methods`` so gaps in the emulator are visible instead of silently "working".
"""

from __future__ import annotations

import copy
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import formatting
from .errors import (
    CHAT_NOT_FOUND,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    WRONG_FILE_ID,
    ApiError,
    Outage,
    bad_request,
    forbidden,
)
from .files import FileStore, StoredFile
from .markup import parse_markup
from .params import Params, UploadedFile
from .state import ApiCall, Chat, LoggedMessage, World

log = logging.getLogger("botapi")

CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

Handler = Callable[[Params], Awaitable[Any]]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def scope_key(scope: dict[str, Any] | None) -> str:
    scope = scope or {"type": "default"}
    parts = [str(scope.get("type", "default"))]
    for key in ("chat_id", "user_id"):
        if key in scope:
            parts.append(f"{key}={scope[key]}")
    return ";".join(parts)


class BotApi:
    """Method handlers over a :class:`World` and a :class:`FileStore`."""

    def __init__(self, world: World, files: FileStore, *, callback_answer_timeout: float | None = None,
                 flood_rate: float | None = None, flood_burst: int = 5) -> None:
        self.world = world
        self.files = files
        self.callback_answer_timeout = callback_answer_timeout
        self.flood_rate = flood_rate
        self.flood_burst = flood_burst
        self._buckets: dict[int, tuple[float, float]] = {}  # chat id -> (tokens, time of last refill)
        self.closing = False
        self.webhook: Any = None  # set by the server (botapi.webhook.Webhook)
        self.faults: dict[str, list[ApiError | Outage]] = {}  # method (lower case) -> what its next calls get
        self._poll_generation = 0
        self._handlers: dict[str, Handler] = {}
        for name in dir(self):
            if name.startswith("m_"):
                self._handlers[name[2:].lower()] = getattr(self, name)

    # --- entry -----------------------------------------------------------------------------------
    async def call(self, method: str, params: Params) -> Any:
        """Run ``method``; returns its result or raises :class:`ApiError`. Every call is logged."""
        handler = self._handlers.get(method.lower())
        try:
            if handler is None:
                self.world.unknown_methods.append(method)
                log.warning("botapi: the bot called %s, which the emulator does not implement (params %s)",
                            method, sorted(params.values))
                raise ApiError(404, f"Not Found: method {method} is not implemented by the emulator")
            pending = self.faults.get(method.lower())
            if pending:
                raise pending.pop(0)
            result = await handler(params)
        except (ApiError, Outage) as exc:
            self._record(method, params, ok=False, error=exc.description)
            raise
        self._record(method, params, ok=True, error=None)
        return result

    def _record(self, method: str, params: Params, *, ok: bool, error: str | None) -> None:
        if method.lower() == "getupdates":
            return  # the poll loop would drown everything else
        self.world.calls.append(ApiCall(method, params.log_view(), ok, error, time.time()))

    # --- shared pieces ---------------------------------------------------------------------------
    def _chat(self, params: Params, *, sending: bool = True) -> Chat:
        chat = self.world.find_chat(params.chat_id())
        if chat is None:
            raise bad_request(CHAT_NOT_FOUND)
        if sending and chat.blocked:
            raise forbidden("bot was blocked by the user")
        return chat

    def _message(self, params: Params, chat: Chat, *, missing: str = "message to edit not found") -> LoggedMessage:
        if params.get("inline_message_id"):
            raise bad_request("the emulator has no inline messages (inline_message_id is not supported)")
        message_id = params.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request(missing)
        return message

    def _text(self, params: Params, key: str, *, limit: int, required: bool) -> tuple[str | None, list[Any]]:
        text = params.get_str(key)
        if text is None or text == "":
            if required:
                raise bad_request("message text is empty")
            return None, []
        tokens = formatting.parse(text, params.get_str("parse_mode"))
        plain = "".join(token[1] for token in tokens if token[0] == "text")
        if required and not plain.strip():
            raise bad_request("text must be non-empty")
        if _utf16_len(plain) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        return text, tokens

    def _reply_target(self, params: Params, chat: Chat) -> LoggedMessage | None:
        reply = params.get_obj("reply_parameters") or {}
        message_id = reply.get("message_id", params.get_int("reply_to_message_id"))
        if message_id is None:
            return None
        allow = bool(reply.get("allow_sending_without_reply", params.get_bool("allow_sending_without_reply")))
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id):
            target_chat = self.world.find_chat(reply["chat_id"]) or chat
        target = target_chat.messages.get(int(message_id))
        if target is None or target.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _inline_markup(self, params: Params, chat: Chat | None, *, inline_only: bool = False) -> dict | None:
        kind, markup = parse_markup(params.get_obj("reply_markup"), inline_only=inline_only)
        if chat is not None:
            if kind == "reply":
                chat.reply_keyboard = markup
            elif kind == "remove":
                chat.reply_keyboard = None
        return markup if kind == "inline" else None

    def _extra(self, params: Params) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if params.get_bool("protect_content"):
            extra["has_protected_content"] = True
        if params.get_bool("has_spoiler"):
            extra["has_media_spoiler"] = True
        if params.get_bool("show_caption_above_media"):
            extra["show_caption_above_media"] = True
        return extra

    def _spend(self, chat_id: int, cost: int = 1) -> None:
        """Opt-in flood control: a token bucket per chat over sends and edits, 429 with retry_after when empty.

        Telegram throttles bots that post or edit too often in one chat (progress bars edited every step get
        429s in production); ``flood_rate`` operations per second with bursts of ``flood_burst`` model that.
        """
        if self.flood_rate is None:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(chat_id, (float(self.flood_burst), now))
        tokens = min(float(self.flood_burst), tokens + (now - last) * self.flood_rate)
        if tokens < cost:
            retry_after = max(1, math.ceil((cost - tokens) / self.flood_rate))
            self._buckets[chat_id] = (tokens, now)
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        self._buckets[chat_id] = (tokens - cost, now)

    def _send(self, chat: Chat, params: Params, **content: Any) -> LoggedMessage:
        reply_to = self._reply_target(params, chat)
        self._spend(chat.id)
        markup = self._inline_markup(params, chat)
        content.setdefault("extra", {}).update(self._extra(params))
        entities = params.get_list("entities") or params.get_list("caption_entities")
        return self.world.new_message(chat, outgoing=True, sender=self.world.bot_user, reply_to=reply_to,
                                      reply_markup=markup, entities=entities, **content)

    def _input_file(self, value: Any, params: Params, key: str) -> UploadedFile | StoredFile:
        """An upload (multipart part or ``attach://``) or a stored file by file_id."""
        if key in params.files and (value is None or value == key):
            return params.files[key]
        if isinstance(value, UploadedFile):
            return value
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {key} in the request")
        if value.startswith("attach://"):
            upload = params.files.get(value[len("attach://"):])
            if upload is None:
                raise bad_request(f"can't find attached file \"{value}\"")
            return upload
        if value.lower().startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content (the emulator does not fetch URLs)")
        stored = self.files.get(value)
        if stored is None:
            raise bad_request(WRONG_FILE_ID)
        return stored

    def _photo_sizes(self, source: UploadedFile | StoredFile) -> list[dict[str, Any]]:
        if isinstance(source, UploadedFile):
            self.files.check_upload("photo", source.data)
            return self.files.add_photo(source.data)
        if source.kind != "photo" or source.photo_group is None:
            raise bad_request("type of file mismatch")
        sizes = [size for size in source.photo_group if size["width"] * size["height"] <=
                 (source.width or 0) * (source.height or 0)]
        return copy.deepcopy(sizes)

    def _document(self, source: UploadedFile | StoredFile) -> dict[str, Any]:
        if isinstance(source, UploadedFile):
            self.files.check_upload("document", source.data)
            return self.files.add_document(source.data, source.filename, source.content_type)
        if source.kind != "document":
            raise bad_request("type of file mismatch")
        document = {"file_id": source.file_id, "file_unique_id": source.file_unique_id, "file_size": source.size,
                    "mime_type": source.mime_type}
        if source.file_name:
            document["file_name"] = source.file_name
        return document

    def _input_media(self, item: Any, params: Params) -> tuple[dict[str, Any], str | None, str | None]:
        """InputMedia -> ({"photo": sizes} | {"document": doc}, caption, parse_mode)."""
        if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
            kind = item.get("type") if isinstance(item, dict) else item
            raise bad_request(f"the emulator supports photo and document media only, got {kind!r}")
        caption = item.get("caption") or None
        parse_mode = item.get("parse_mode")
        if caption is not None:
            plain = "".join(t[1] for t in formatting.parse(caption, parse_mode) if t[0] == "text")
            if _utf16_len(plain) > CAPTION_LIMIT:
                raise bad_request("message caption is too long")
        source = self._input_file(item.get("media"), params, "media")
        media = ({"photo": self._photo_sizes(source)} if item["type"] == "photo"
                 else {"document": self._document(source)})
        return media, caption, parse_mode

    # --- identity and setup ----------------------------------------------------------------------
    async def m_getMe(self, params: Params) -> dict[str, Any]:
        return {**self.world.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def m_logOut(self, params: Params) -> bool:
        return True

    async def m_close(self, params: Params) -> bool:
        return True

    async def m_getChat(self, params: Params) -> dict[str, Any]:
        chat = self._chat(params, sending=False)
        return {**chat.as_api(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                                        "premium_subscription": False, "gifts_from_channels": False}}

    async def m_setMyCommands(self, params: Params) -> bool:
        commands = params.get_list("commands")
        if commands is None:
            raise bad_request("commands is empty")
        if len(commands) > 100:
            raise bad_request("too many commands")
        normal = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand")
            name = str(command.get("command", "")).lstrip("/")
            description = str(command.get("description", ""))
            if not _COMMAND.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("command description must be 1-256 characters")
            normal.append({"command": name, "description": description})
        key = (scope_key(params.get_obj("scope")), params.get_str("language_code") or "")
        self.world.commands[key] = normal
        self.world.commands_version = self.world.touch()
        return True

    async def m_getMyCommands(self, params: Params) -> list[dict[str, Any]]:
        key = (scope_key(params.get_obj("scope")), params.get_str("language_code") or "")
        return copy.deepcopy(self.world.commands.get(key, []))

    async def m_deleteMyCommands(self, params: Params) -> bool:
        key = (scope_key(params.get_obj("scope")), params.get_str("language_code") or "")
        self.world.commands.pop(key, None)
        self.world.commands_version = self.world.touch()
        return True

    def _profile_setter(self, field: str, limit: int) -> Handler:
        async def setter(params: Params) -> bool:
            value = params.get_str(field) or ""
            if len(value) > limit:
                raise bad_request(f"{field} is too long")
            self.world.profile[(field, params.get_str("language_code") or "")] = value
            return True
        return setter

    async def m_setMyDescription(self, params: Params) -> bool:
        return await self._profile_setter("description", 512)(params)

    async def m_setMyShortDescription(self, params: Params) -> bool:
        return await self._profile_setter("short_description", 120)(params)

    async def m_setMyName(self, params: Params) -> bool:
        return await self._profile_setter("name", 64)(params)

    async def m_getMyDescription(self, params: Params) -> dict[str, str]:
        lang = params.get_str("language_code") or ""
        return {"description": self.world.profile.get(("description", lang), "")}

    async def m_getMyShortDescription(self, params: Params) -> dict[str, str]:
        lang = params.get_str("language_code") or ""
        return {"short_description": self.world.profile.get(("short_description", lang), "")}

    async def m_getMyName(self, params: Params) -> dict[str, str]:
        lang = params.get_str("language_code") or ""
        return {"name": self.world.profile.get(("name", lang), self.world.bot_user["first_name"])}

    async def m_setChatMenuButton(self, params: Params) -> bool:
        self.world.profile["menu_button"] = params.get_obj("menu_button") or {"type": "default"}
        return True

    async def m_getChatMenuButton(self, params: Params) -> dict[str, Any]:
        return self.world.profile.get("menu_button", {"type": "commands"})

    # --- updates ---------------------------------------------------------------------------------
    async def m_getUpdates(self, params: Params) -> list[dict[str, Any]]:
        if self.webhook is not None and self.webhook.url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                                "to delete the webhook first")
        offset = params.get_int("offset")
        limit = min(max(params.get_int("limit", default=100) or 100, 1), 100)
        timeout = min(max(params.get_int("timeout", default=0) or 0, 0), 50)
        allowed = params.get_list("allowed_updates")
        if allowed is not None:
            self.world.allowed_updates = allowed or None
        if offset is not None:
            self.world.confirm_updates(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self.world.touch()  # wakes an older poll so it can see it was superseded

        def ready() -> str | None:
            if self.closing:
                return "closing"
            if generation != self._poll_generation:
                return "superseded"
            if self.webhook is not None and self.webhook.url:
                return "webhook"
            return "ready" if self.world.updates else None

        try:
            state = await self.world.wait_until(ready, timeout)
        except TimeoutError:
            return []
        if state == "superseded":
            raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                                "instance is running")
        if state in ("closing", "webhook"):
            return []
        return copy.deepcopy(self.world.updates[:limit])

    async def m_setWebhook(self, params: Params) -> bool:
        return await self.webhook.set_from(params)

    async def m_deleteWebhook(self, params: Params) -> bool:
        return await self.webhook.delete(drop_pending_updates=params.get_bool("drop_pending_updates"))

    async def m_getWebhookInfo(self, params: Params) -> dict[str, Any]:
        return self.webhook.info()

    # --- sending ---------------------------------------------------------------------------------
    async def m_sendMessage(self, params: Params) -> dict[str, Any]:
        chat = self._chat(params)
        text, _ = self._text(params, "text", limit=TEXT_LIMIT, required=True)
        message = self._send(chat, params, text=text, parse_mode=params.get_str("parse_mode"))
        return message.to_api()

    async def m_sendPhoto(self, params: Params) -> dict[str, Any]:
        chat = self._chat(params)
        caption, _ = self._text(params, "caption", limit=CAPTION_LIMIT, required=False)
        sizes = self._photo_sizes(self._input_file(params.get("photo"), params, "photo"))
        message = self._send(chat, params, caption=caption, parse_mode=params.get_str("parse_mode"),
                             media={"photo": sizes})
        return message.to_api()

    async def m_sendDocument(self, params: Params) -> dict[str, Any]:
        chat = self._chat(params)
        caption, _ = self._text(params, "caption", limit=CAPTION_LIMIT, required=False)
        document = self._document(self._input_file(params.get("document"), params, "document"))
        message = self._send(chat, params, caption=caption, parse_mode=params.get_str("parse_mode"),
                             media={"document": document})
        return message.to_api()

    async def m_sendMediaGroup(self, params: Params) -> list[dict[str, Any]]:
        chat = self._chat(params)
        items = params.get_list("media")
        if not items or not 2 <= len(items) <= 10:
            raise bad_request("wrong number of media in the group: must be 2-10 items")
        kinds = {item.get("type") for item in items if isinstance(item, dict)}
        if "document" in kinds and len(kinds) > 1:
            raise bad_request("document can't be mixed with other media types")
        prepared = [self._input_media(item, params) for item in items]
        if params.get_obj("reply_markup"):
            raise bad_request("media groups can't have a reply markup")
        reply_to = self._reply_target(params, chat)
        self._spend(chat.id, len(prepared))
        group = self.world.new_media_group_id()
        messages = [
            self.world.new_message(chat, outgoing=True, sender=self.world.bot_user, caption=caption,
                                   parse_mode=parse_mode, media=media, media_group_id=group, reply_to=reply_to,
                                   extra=self._extra(params))
            for media, caption, parse_mode in prepared
        ]
        return [message.to_api() for message in messages]

    async def m_sendChatAction(self, params: Params) -> bool:
        chat = self._chat(params)
        action = params.get_str("action", required=True)
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.action = (action, time.time())
        self.world.chat_changed(chat.id)
        return True

    async def m_getFile(self, params: Params) -> dict[str, Any]:
        file_id = params.get_str("file_id", required=True) or ""
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        path = self.files.assign_path(stored)
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size,
                "file_path": path}

    # --- editing ---------------------------------------------------------------------------------
    def _editable(self, params: Params) -> LoggedMessage:
        chat = self._chat(params, sending=False)
        message = self._message(params, chat)
        if not message.outgoing:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: LoggedMessage, **changes: Any) -> dict[str, Any]:
        self._spend(message.chat_id)
        message.history.append(message.snapshot())
        for key, value in changes.items():
            setattr(message, key, value)
        message.edit_date = int(time.time())
        self.world.changed(message)
        return message.to_api()

    @staticmethod
    def _same_content(old_text: str | None, old_mode: str | None, new_text: str | None,
                      new_mode: str | None) -> bool:
        """Telegram compares the rendered result, so '<b>x</b>' (HTML) equals '*x*' (MarkdownV2)."""
        def render(text: str | None, mode: str | None) -> Any:
            if text is None:
                return None
            try:
                return formatting.parse(text, mode)
            except ApiError:
                return text
        return render(old_text, old_mode) == render(new_text, new_mode)

    async def m_editMessageText(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, _ = self._text(params, "text", limit=TEXT_LIMIT, required=True)
        markup = self._inline_markup(params, None, inline_only=True)
        mode = params.get_str("parse_mode")
        if self._same_content(message.text, message.parse_mode, text, mode) and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(message, text=text, parse_mode=mode, reply_markup=markup,
                                entities=params.get_list("entities"))

    async def m_editMessageCaption(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        if not message.media:
            raise bad_request("there is no caption in the message to edit")
        caption, _ = self._text(params, "caption", limit=CAPTION_LIMIT, required=False)
        markup = self._inline_markup(params, None, inline_only=True)
        mode = params.get_str("parse_mode")
        if self._same_content(message.caption, message.parse_mode, caption, mode) and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(message, caption=caption, parse_mode=mode, reply_markup=markup,
                                entities=params.get_list("caption_entities"))

    async def m_editMessageReplyMarkup(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        markup = self._inline_markup(params, None, inline_only=True)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(message, reply_markup=markup)

    async def m_editMessageMedia(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        if not message.media:
            raise bad_request("there is no media in the message to edit")
        item = params.get_obj("media")
        media, caption, mode = self._input_media(item, params)
        if message.media_group_id and set(media) != set(message.media):
            raise bad_request("can't change the media type of a message in an album")
        markup = self._inline_markup(params, None, inline_only=True)
        if (media == message.media and caption == message.caption and mode == message.parse_mode
                and markup == message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(message, media=media, caption=caption, parse_mode=mode, reply_markup=markup)

    async def m_deleteMessage(self, params: Params) -> bool:
        chat = self._chat(params, sending=False)
        message = self._message(params, chat, missing="message to delete not found")
        message.deleted = True
        self.world.changed(message)
        return True

    async def m_deleteMessages(self, params: Params) -> bool:
        chat = self._chat(params, sending=False)
        ids = params.get_list("message_ids") or []
        if not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            message = chat.messages.get(int(message_id))
            if message is not None and not message.deleted:
                message.deleted = True
                self.world.changed(message)
        return True

    # --- callback queries ------------------------------------------------------------------------
    async def m_answerCallbackQuery(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id", required=True) or ""
        record = self.world.callbacks.get(query_id)
        if record is None or record.answer is not None:
            raise bad_request(QUERY_TOO_OLD)
        if self.callback_answer_timeout is not None and time.time() - record.at > self.callback_answer_timeout:
            raise bad_request(QUERY_TOO_OLD)
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answer = {"text": text, "show_alert": params.get_bool("show_alert"), "url": params.get_str("url"),
                         "cache_time": params.get_int("cache_time", default=0)}
        record.answered_at = time.time()
        self.world.chat_changed(record.chat_id)
        record.seq = self.world.seq
        return True
