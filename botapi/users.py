"""The people on the other side: what a Telegram client would do, as coroutines for tests and the sandbox page.

Each action puts the user's message into the chat log and queues the update the real server would produce
(``message``, ``edited_message``, ``callback_query``, ``my_chat_member``). Files the user sends go to the file
store exactly like Telegram's, so the bot downloads them with getFile.
"""

from __future__ import annotations

import copy
import io
import re
import time
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw

from .errors import ApiError
from .files import FileStore
from .state import CallbackRecord, Chat, LoggedMessage, World

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
# ISO BMP "ftyp" box + a few empty boxes: recognisably an MP4 container, not playable (the bot must refuse it).
FAKE_MP4 = (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
            b"\x00\x00\x00\x08free" + b"\x00\x00\x00\x10mdat" + bytes(8))


@lru_cache(maxsize=1)
def sticker_webp() -> bytes:
    """A 512x512 WEBP like a regular sticker (drawn once)."""
    img = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((32, 32, 480, 480), fill=(255, 200, 40, 255))
    draw.ellipse((160, 170, 210, 240), fill=(60, 40, 20, 255))
    draw.ellipse((302, 170, 352, 240), fill=(60, 40, 20, 255))
    draw.arc((140, 220, 372, 400), 20, 160, fill=(60, 40, 20, 255), width=18)
    out = io.BytesIO()
    img.save(out, "WEBP")
    return out.getvalue()


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities as the server computes them (offsets in UTF-16 code units)."""
    return [{"type": "bot_command", "offset": _utf16(text[:m.start()]), "length": _utf16(m.group(0))}
            for m in _COMMAND.finditer(text)]


class EmulatedUser:
    """A Telegram user chatting with the bot in a private chat (chat id == user id)."""

    def __init__(self, world: World, files: FileStore, user_id: int, first_name: str, *, last_name: str | None,
                 username: str | None, language_code: str | None) -> None:
        self._world = world
        self._files = files
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.chat: Chat = world.ensure_private_chat(self.as_api())

    @property
    def chat_id(self) -> int:
        return self.chat.id

    def in_group(self, group: Chat) -> EmulatedUser:
        """The same user writing in ``group`` (see ``BotAPIServer.group``) instead of the private chat."""
        member = copy.copy(self)
        member.chat = group
        return member

    def as_api(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    # --- sending ---------------------------------------------------------------------------------
    def _post(self, *, update_kind: str = "message", **content: Any) -> LoggedMessage:
        if self.chat.blocked:
            self.unblock()
        reply_to = content.pop("reply_to", None)
        if isinstance(reply_to, int):
            reply_to = self.chat.messages.get(reply_to)
        message = self._world.new_message(self.chat, outgoing=False, sender=self.as_api(), reply_to=reply_to,
                                          **content)
        self.chat.last_user_seq = message.seq
        self._world.push_update(update_kind, message.to_api())
        return message

    async def send_text(self, text: str, *, reply_to: LoggedMessage | int | None = None) -> LoggedMessage:
        """A text message; commands get ``bot_command`` entities like on Telegram."""
        if not text:
            raise ValueError("Telegram clients do not send empty messages")
        return self._post(text=text, entities=command_entities(text) or None, reply_to=reply_to)

    async def send_photo(self, data: bytes, caption: str | None = None, *,
                         reply_to: LoggedMessage | int | None = None,
                         media_group_id: str | None = None) -> LoggedMessage:
        """A compressed photo: PhotoSize variants, the largest one is ``data`` itself."""
        try:
            sizes = self._files.add_photo(data)
        except ApiError as exc:
            raise ValueError(f"not an image a Telegram client could send as a photo: {exc.description}") from exc
        return self._post(caption=caption, media={"photo": sizes}, media_group_id=media_group_id, reply_to=reply_to)

    async def send_album(self, photos: list[bytes], caption: str | None = None) -> list[LoggedMessage]:
        """2-10 photos sent together: one update per photo sharing a media_group_id, caption on the first."""
        if not 2 <= len(photos) <= 10:
            raise ValueError("an album holds 2-10 items")
        group = self._world.new_media_group_id()
        return [await self.send_photo(data, caption if index == 0 else None, media_group_id=group)
                for index, data in enumerate(photos)]

    async def send_document(self, data: bytes, file_name: str = "file.bin", mime_type: str | None = None, *,
                            caption: str | None = None, file_size: int | None = None,
                            reply_to: LoggedMessage | int | None = None) -> LoggedMessage:
        """A file. ``file_size`` larger than ``data`` makes a virtual file of that size (getFile: too big)."""
        virtual = file_size is not None and file_size != len(data)
        document = self._files.add_document(None if virtual else data, file_name, mime_type,
                                            size=file_size if virtual else None)
        return self._post(caption=caption, media={"document": document}, reply_to=reply_to)

    async def send_sticker(self, emoji: str = "🙂") -> LoggedMessage:
        data = sticker_webp()
        stored = self._files.add("sticker", data, mime_type="image/webp", width=512, height=512)
        sticker = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
                   "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
                   "file_size": stored.size, "set_name": "EmulatorStickers"}
        return self._post(media={"sticker": sticker})

    async def send_video(self, data: bytes | None = None, *, file_name: str = "video.mp4", width: int = 640,
                         height: int = 360, duration: int = 3, caption: str | None = None) -> LoggedMessage:
        data = FAKE_MP4 if data is None else data
        stored = self._files.add("video", data, mime_type="video/mp4", file_name=file_name, width=width,
                                 height=height)
        video = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": width,
                 "height": height, "duration": duration, "mime_type": "video/mp4", "file_size": stored.size,
                 "file_name": file_name}
        return self._post(caption=caption, media={"video": video})

    async def send_raw(self, **fields: Any) -> LoggedMessage:
        """Any other message content, given as Bot API fields (e.g. ``location={...}``)."""
        return self._post(extra=fields)

    async def edit_text(self, message: LoggedMessage, text: str) -> LoggedMessage:
        """Edit one of the user's own text messages (an ``edited_message`` update)."""
        if message.outgoing or message.text is None:
            raise ValueError("a user can only edit their own text messages")
        message.history.append(message.snapshot())
        message.text = text
        message.entities = command_entities(text) or None
        message.edit_date = int(time.time())
        self._world.changed(message)
        self.chat.last_user_seq = message.seq
        self._world.push_update("edited_message", message.to_api())
        return message

    # --- buttons ---------------------------------------------------------------------------------
    async def press(self, message: LoggedMessage | int, callback_data: str | None = None, *, text: str | None = None,
                    strict: bool = True) -> str:
        """Press an inline button by its callback_data (or by text); returns the callback query id.

        ``strict`` (default) refuses buttons the message does not show right now — a person cannot press them.
        """
        if isinstance(message, int):
            found = self.chat.messages.get(message)
            if found is None:
                raise LookupError(f"no message {message} in chat {self.chat_id}")
            message = found
        if message.deleted:
            raise LookupError(f"message {message.message_id} was deleted")
        if text is not None:
            button = message.button(text)
            if "callback_data" not in button:
                raise ValueError(f"button {button.get('text')!r} is not a callback button: {button}")
            callback_data = button["callback_data"]
        if callback_data is None:
            raise ValueError("give callback_data or text")
        if strict and callback_data not in message.callback_data:
            raise LookupError(f"message {message.message_id} shows no button with callback_data {callback_data!r}; "
                              f"it has {message.callback_data}")
        query_id = self._world.new_callback_id()
        self._world.callbacks[query_id] = CallbackRecord(query_id, self.id, self.chat_id, message.message_id,
                                                         callback_data, time.time())
        self.chat.last_user_seq = self._world.touch()
        self._world.push_update("callback_query", {
            "id": query_id, "from": self.as_api(), "message": message.to_api(),
            "chat_instance": f"-{7_000_000_000_000 + self.chat_id}", "data": callback_data,
        })
        return query_id

    # --- membership ------------------------------------------------------------------------------
    def _membership(self, old: str, new: str) -> None:
        now = int(time.time())
        self._world.push_update("my_chat_member", {
            "chat": self.chat.as_api(), "from": self.as_api(), "date": now,
            "old_chat_member": {"status": old, "user": self._world.bot_user},
            "new_chat_member": {"status": new, "user": self._world.bot_user, **({"until_date": 0} if new == "kicked"
                                                                                  else {})},
        })

    def block(self) -> None:
        """Block the bot: sending to this chat now fails with 403."""
        if not self.chat.blocked:
            self.chat.blocked = True
            self._membership("member", "kicked")

    def unblock(self) -> None:
        if self.chat.blocked:
            self.chat.blocked = False
            self._membership("kicked", "member")

    # --- reading ---------------------------------------------------------------------------------
    def bot_messages(self, *, include_deleted: bool = False) -> list[LoggedMessage]:
        return [m for m in self.chat.messages.values() if m.outgoing and (include_deleted or not m.deleted)]

    def __repr__(self) -> str:
        return f"<EmulatedUser {self.id} {self.first_name!r} lang={self.language_code}>"
