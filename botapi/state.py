"""The emulated world: chats, the message log with edit history, pending updates, callback queries, API calls.

Everything lives in one asyncio loop (the server's), so there are no locks; every change bumps ``World.seq`` and
wakes the waiters (long polls, the sandbox page, tests waiting for a bot reply). ``seq`` doubles as a cursor:
each message remembers the ``seq`` of its last change, each chat the ``seq`` of the user's last action, which is
how ``wait_for_message`` knows which bot messages are "replies to what the user just did".
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import formatting

# Telegram's default when allowed_updates was never given: everything except these.
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MEDIA_KEYS = ("photo", "document", "sticker", "video", "animation", "audio", "voice")


@dataclass
class ApiCall:
    """One Bot API request the bot made, for assertions."""

    method: str
    params: dict[str, Any]
    ok: bool
    error: str | None
    at: float


@dataclass
class CallbackRecord:
    """A callback query a user produced, and the bot's answer to it (None until answered)."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    at: float
    answer: dict[str, Any] | None = None
    answered_at: float | None = None
    seq: int = 0


@dataclass
class LoggedMessage:
    """A message in a chat as it is *now*, plus its previous versions in ``history``.

    ``text``/``caption`` are stored as sent (markup included when the bot used ``parse_mode``); ``plain_text`` is
    what the reader sees. ``outgoing`` is True for messages the bot sent.
    """

    message_id: int
    chat_id: int
    outgoing: bool
    date: int
    sender: dict[str, Any]
    chat: dict[str, Any]
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    media: dict[str, Any] = field(default_factory=dict)  # "photo" -> [PhotoSize], "document" -> {...}, ...
    media_group_id: str | None = None
    reply_to: LoggedMessage | None = None
    entities: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    edit_date: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    seq: int = 0

    # --- reading helpers for tests -------------------------------------------------------------
    @property
    def kind(self) -> str:
        for key in _MEDIA_KEYS:
            if key in self.media:
                return key
        return "text" if self.text is not None else "other"

    @property
    def photo(self) -> list[dict[str, Any]] | None:
        return self.media.get("photo")

    @property
    def document(self) -> dict[str, Any] | None:
        return self.media.get("document")

    @property
    def body(self) -> str:
        """Text or caption as sent, '' when there is neither (safe for ``"x" in m.body``)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def plain_text(self) -> str:
        """Text or caption without markup: what the person reads."""
        return formatting.plain_text(self.body, self.parse_mode)

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def keyboard(self) -> list[list[dict[str, Any]]]:
        """Rows of inline buttons ([] without an inline keyboard)."""
        if not self.reply_markup:
            return []
        return self.reply_markup.get("inline_keyboard", [])

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.keyboard for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def button(self, text: str) -> dict[str, Any]:
        """The first inline button whose text contains ``text`` (KeyError listing the buttons otherwise)."""
        for candidate in self.buttons:
            if text in candidate.get("text", ""):
                return candidate
        raise KeyError(f"no button containing {text!r} in message {self.message_id}: "
                       f"{[b.get('text') for b in self.buttons]}")

    @property
    def file_id(self) -> str | None:
        """The largest photo size's file_id, or the document's/sticker's/video's."""
        if "photo" in self.media:
            return self.media["photo"][-1]["file_id"]
        for key in _MEDIA_KEYS[1:]:
            if key in self.media:
                return self.media[key]["file_id"]
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"text": self.text, "caption": self.caption, "parse_mode": self.parse_mode,
                "reply_markup": copy.deepcopy(self.reply_markup), "media": copy.deepcopy(self.media),
                "edit_date": self.edit_date}

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object (text/caption plain, as the real server returns them)."""
        body: dict[str, Any] = {"message_id": self.message_id, "from": self.sender, "chat": self.chat,
                                "date": self.date}
        if self.edit_date:
            body["edit_date"] = self.edit_date
        if self.media_group_id:
            body["media_group_id"] = self.media_group_id
        if with_reply and self.reply_to is not None and not self.reply_to.deleted:
            body["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.text is not None:
            body["text"] = formatting.plain_text(self.text, self.parse_mode)
            if self.entities:
                body["entities"] = self.entities
        body.update(copy.deepcopy(self.media))
        if self.caption is not None:
            body["caption"] = formatting.plain_text(self.caption, self.parse_mode)
            if self.entities:
                body["caption_entities"] = self.entities
        body.update(self.extra)
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            body["reply_markup"] = self.reply_markup
        return body

    def __repr__(self) -> str:
        flags = (" edited" if self.edited else "") + (" deleted" if self.deleted else "")
        who = "bot" if self.outgoing else "user"
        return (f"<{who} message {self.chat_id}/{self.message_id} {self.kind}{flags} {self.body[:60]!r} "
                f"buttons={[b.get('text') for b in self.buttons]}>")


@dataclass
class Chat:
    """A chat and its message log. Private chats have the same id as their user."""

    id: int
    type: str
    info: dict[str, Any]
    messages: dict[int, LoggedMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    action: tuple[str, float] | None = None
    last_user_seq: int = 0
    blocked: bool = False
    version: int = 0  # seq of the last change anyone watching this chat should see

    def as_api(self) -> dict[str, Any]:
        return dict(self.info)


class World:
    """All state of one emulated Bot API server."""

    def __init__(self, bot_user: dict[str, Any]) -> None:
        self.bot_user = bot_user
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 100_001
        self.allowed_updates: list[str] | None = None
        self.callbacks: dict[str, CallbackRecord] = {}
        self.calls: list[ApiCall] = []
        self.unknown_methods: list[str] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.profile: dict[str, Any] = {}
        self.commands_version = 0
        self.seq = 0
        self._changed = asyncio.Event()
        self._media_groups = 0
        self._callback_ids = 0

    # --- change notification ---------------------------------------------------------------------
    def touch(self) -> int:
        """Record a change and wake every waiter."""
        self.seq += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return self.seq

    async def wait_until(self, check: Callable[[], Any], timeout: float) -> Any:
        """Re-evaluate ``check`` at every change until it returns something truthy; TimeoutError after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = check()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def wake_all(self) -> None:
        self.touch()

    # --- users and chats -------------------------------------------------------------------------
    def ensure_private_chat(self, user: dict[str, Any]) -> Chat:
        self.users[user["id"]] = user
        chat = self.chats.get(user["id"])
        if chat is None:
            info = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if user.get(key):
                    info[key] = user[key]
            chat = Chat(user["id"], "private", info)
            self.chats[chat.id] = chat
        return chat

    def ensure_group_chat(self, chat_id: int, title: str) -> Chat:
        """A supergroup (negative id) the bot is a member of; users post in it through ``EmulatedUser.in_group``."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = Chat(chat_id, "supergroup", {"id": chat_id, "type": "supergroup", "title": title})
            self.chats[chat_id] = chat
        return chat

    def find_chat(self, chat_id: int | str) -> Chat | None:
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                for chat in self.chats.values():
                    if chat.info.get("username", "").lower() == chat_id[1:].lower():
                        return chat
                return None
            try:
                chat_id = int(chat_id)
            except ValueError:
                return None
        return self.chats.get(chat_id)

    # --- messages --------------------------------------------------------------------------------
    def new_message(self, chat: Chat, *, outgoing: bool, sender: dict[str, Any], **content: Any) -> LoggedMessage:
        message = LoggedMessage(message_id=chat.next_message_id, chat_id=chat.id, outgoing=outgoing,
                                date=int(time.time()), sender=sender, chat=chat.as_api(), **content)
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        if outgoing:
            chat.action = None
        message.seq = chat.version = self.touch()
        return message

    def changed(self, message: LoggedMessage) -> None:
        message.seq = self.touch()
        chat = self.chats.get(message.chat_id)
        if chat is not None:
            chat.version = message.seq

    def chat_changed(self, chat_id: int) -> None:
        """Something about the chat other than a message changed (chat action, a callback answer)."""
        seq = self.touch()
        chat = self.chats.get(chat_id)
        if chat is not None:
            chat.version = seq

    def new_media_group_id(self) -> str:
        self._media_groups += 1
        return f"{13_000_000_000_000_000 + self._media_groups}"

    def messages_in(self, chat_id: int) -> list[LoggedMessage]:
        chat = self.chats.get(chat_id)
        return list(chat.messages.values()) if chat else []

    # --- updates ---------------------------------------------------------------------------------
    def update_allowed(self, kind: str) -> bool:
        if not self.allowed_updates:
            return kind not in _NOT_DEFAULT_UPDATES
        return kind in self.allowed_updates

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update (dropped like on the real server when ``allowed_updates`` excludes its type)."""
        if not self.update_allowed(kind):
            return None
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        self.updates.append(update)
        self.touch()
        return update

    def confirm_updates(self, offset: int) -> None:
        """getUpdates offset semantics: positive confirms everything below it, negative keeps the last -offset."""
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def new_callback_id(self) -> str:
        self._callback_ids += 1
        return f"{4_382_000_000_000_000_000 + self._callback_ids}"
