"""The real dispatcher, in process, fed updates like Telegram would, with no network, no workers and no ../shared.

* :class:`RecordingSession` is an aiogram ``BaseSession`` that records every Bot API call and answers it the way
  Telegram does (a sent message comes back with a new id, ``getFile`` names a path, a download streams the bytes the
  user "uploaded"), so handlers run unchanged.
* :class:`StubExecutor` implements ``jobs.Executor``: it accepts jobs and plays canned events (queued, started, then
  a result picture, a failure or a hold the test releases), and cancels like the real pool.
* :class:`Chat` drives one user: ``send_photo``, ``send_album``, ``say``, ``press``; ``settle`` waits until the bot is
  idle (album windows, job tasks). ``sent`` lists what the bot said since a mark, as :class:`Said` records.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Document,
    File,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    PhotoSize,
    Update,
    User,
)
from aiogram.types import (
    Chat as TgChat,
)
from PIL import Image

import bot_init
from config import load_settings
from jobs import Cancelled, Done, Failed, Job, JobHandle, Progress, QueueBusy, Queued, Started
from ml_models.api import JobResult
from ml_models.registry import Availability

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
BOT_ID = 123456


def jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    """A JPEG whose header reads but whose body is cut: the bot accepts it, the worker refuses it."""
    data = jpeg((256, 192))
    return data[: len(data) // 3]


# ------------------------------------------------------------------------------------------------ the Bot API


@dataclass
class Said:
    """One call the bot made that a user sees: a message, an edit, a photo, a document, an album, a button answer."""

    method: str
    chat_id: int | None
    text: str
    message_id: int | None
    markup: InlineKeyboardMarkup | None
    call: Any

    def buttons(self) -> list[str]:
        return [b.text for row in (self.markup.inline_keyboard if self.markup else []) for b in row]

    def button(self, text: str) -> Any:
        for row in self.markup.inline_keyboard if self.markup else []:
            for b in row:
                if text.lower() in b.text.lower():
                    return b
        return None


def _input_bytes(value: Any) -> bytes | None:
    if isinstance(value, InputFile):
        data = getattr(value, "data", None)
        if data is not None:
            return data
        path = getattr(value, "path", None)
        return Path(path).read_bytes() if path else None
    return None


class RecordingSession(BaseSession):
    """Records each method and answers it plausibly; ``fail[method_name]`` raises that exception once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, Exception] = {}
        self._ids = itertools.count(10_000)
        self._file_seq = itertools.count(1)
        self.texts: dict[tuple[int, int], str] = {}
        self.returned: dict[int, Any] = {}

    async def close(self) -> None:
        return None

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield self.files[url.rsplit("/", 1)[-1]]

    def store(self, data: bytes) -> str:
        file_id = f"f{next(self._file_seq)}"
        self.files[file_id] = data
        return file_id

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.calls.append(method)
        name = type(method).__name__
        if name in self.fail:
            raise self.fail.pop(name)
        result = self._answer(bot, method)
        self.returned[id(method)] = result
        return result

    def _answer(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage):
            return self._message(bot, method.chat_id, text=method.text, reply_markup=method.reply_markup)
        if isinstance(method, SendPhoto):
            data = _input_bytes(method.photo) or self.files.get(str(method.photo), b"")
            file_id = self.store(data)
            photo = [PhotoSize(file_id=file_id, file_unique_id="u" + file_id, width=1, height=1,
                               file_size=len(data))]
            return self._message(bot, method.chat_id, caption=method.caption, photo=photo,
                                 reply_markup=method.reply_markup)
        if isinstance(method, SendDocument):
            data = _input_bytes(method.document) or self.files.get(str(method.document), b"")
            file_id = self.store(data)
            document = Document(file_id=file_id, file_unique_id="u" + file_id, file_size=len(data))
            return self._message(bot, method.chat_id, caption=method.caption, document=document,
                                 reply_markup=method.reply_markup)
        if isinstance(method, SendMediaGroup):
            out = []
            for item in method.media:
                data = _input_bytes(item.media) or b""
                file_id = self.store(data)
                out.append(self._message(bot, method.chat_id, photo=[
                    PhotoSize(file_id=file_id, file_unique_id="u" + file_id, width=1, height=1)]))
            return out
        if isinstance(method, EditMessageText):
            key = (int(method.chat_id or 0), int(method.message_id or 0))
            if self.texts.get(key) == method.text:
                raise TelegramBadRequest(method, "Bad Request: message is not modified")
            self.texts[key] = method.text
            return True
        if isinstance(method, EditMessageReplyMarkup):
            return True
        if isinstance(method, GetFile):
            data = self.files[method.file_id]
            return File(file_id=method.file_id, file_unique_id="u" + method.file_id, file_size=len(data),
                        file_path=method.file_id)
        return True

    def _message(self, bot: Bot, chat_id: Any, **fields: Any) -> Message:
        message_id = next(self._ids)
        if fields.get("text") is not None:
            self.texts[(int(chat_id), message_id)] = fields["text"]
        return Message(message_id=message_id, date=datetime.now(), chat=TgChat(id=int(chat_id), type="private"),
                       from_user=User(id=BOT_ID, is_bot=True, first_name="Bot"), **fields).as_(bot)

    def said(self, since: int = 0) -> list[Said]:
        out = []
        for call in self.calls[since:]:
            name = type(call).__name__
            text = getattr(call, "text", None) or getattr(call, "caption", None) or ""
            out.append(Said(name, getattr(call, "chat_id", None), text, getattr(call, "message_id", None),
                            getattr(call, "reply_markup", None), call))
        return out


# ------------------------------------------------------------------------------------------------ the job layer


@dataclass
class Outcome:
    """What the stub does with the next job: a result of ``size``, a failure ``code``, or waiting for a release."""

    size: tuple[int, int] = (64, 48)
    code: str | None = None
    hold: bool = False
    eta_s: float = 1.0
    claimed: tuple[int, int] | None = None  # the size the result says it has (a big one without encoding it)
    image: bytes | None = None  # the encoded result as it is (a 50 MB PNG, say)


class StubExecutor:
    """A ``jobs.Executor`` that runs nothing: each accepted job plays the next :class:`Outcome` (default: a result)."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.refuse: list[QueueBusy] = []
        self.jobs: list[Job] = []
        self.delivered: list[str] = []
        self.handles: dict[str, JobHandle] = {}
        self._release: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        return None

    async def stop(self, drain_seconds: float = 0) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def submit(self, job: Job) -> JobHandle:
        if self.refuse:
            raise self.refuse.pop(0)
        handle = JobHandle(job)
        self.jobs.append(job)
        self.handles[job.id] = handle
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome()
        self._release[job.id] = asyncio.Event()
        task = asyncio.create_task(self._play(handle, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return handle

    async def _play(self, handle: JobHandle, outcome: Outcome) -> None:
        handle.emit(Queued(position=1, eta_s=outcome.eta_s))
        await asyncio.sleep(0)
        handle.emit(Started())
        handle.emit(Progress(done=1, total=2))
        if outcome.hold:
            await self._release[handle.id].wait()
        if handle.finished:
            return
        if outcome.code:
            handle.emit(Failed(code=outcome.code, message="refused by the stub"))
            return
        data = outcome.image or jpeg(outcome.size)
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        width, height = outcome.claimed or outcome.size
        handle.emit(Done(JobResult(image=data, mime=mime, width=width, height=height, seconds=0.4, info={})))

    def release(self) -> None:
        for event in self._release.values():
            event.set()

    async def cancel(self, user_id: int) -> bool:
        cancelled = False
        for handle in self.handles.values():
            if handle.job.user_id == user_id and not handle.finished:
                handle.emit(Cancelled())
                cancelled = True
        return cancelled

    def position(self, job_id: str) -> int | None:
        return None

    def eta(self, job_id: str) -> float | None:
        return None

    def stats(self) -> dict[str, Any]:
        return {"queued": 0, "running": sum(not h.finished for h in self.handles.values())}

    async def unfinished(self) -> list[Job]:
        return []

    async def resume(self, job: Job) -> JobHandle:
        return await self.submit(job)

    async def discard(self, job: Job, code: str = "abandoned", message: str = "") -> None:
        return None

    async def mark_delivered(self, job_id: str) -> None:
        self.delivered.append(job_id)

    async def note_undelivered(self, job_id: str) -> int:
        return 1

    async def undelivered(self) -> list[tuple[Job, JobResult]]:
        return []

    @property
    def busy(self) -> bool:
        return bool(self._tasks)


# ------------------------------------------------------------------------------------------------ the bot and a user


ALL_MODELS = {"microast": (), "adain": (), "johnson": ("candy", "mosaic"), "upscale": ("general", "anime")}


@dataclass
class Harness:
    """One bot (real dispatcher, routers, tracker) over a recording session and a stub executor."""

    tmp: Path
    models: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ALL_MODELS))
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        environ = {"BOT_TOKEN": TOKEN, "DATA_DIR": str(self.tmp / "data"), "WEIGHTS_DIR": str(self.tmp / "weights"),
                   "STYLES_DIR": str(self.tmp / "styles"), "STATUS_EDIT_INTERVAL": "0",
                   "THROTTLE_RATE": "1000", "THROTTLE_BURST": "10000",  # a test taps faster than a person
                   **self.env}
        self.settings = load_settings(environ, dotenv_path=None)
        self.session = RecordingSession()
        self.executor = StubExecutor()
        self.bot = Bot(TOKEN, session=self.session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        self.app = bot_init.build(self.settings, executor=self.executor, bot=self.bot)
        self.availability = Availability(models=dict(self.models))
        self.app.availability = self.availability
        self.app.dispatcher["availability"] = self.availability
        self.app.tracker.can_upscale = "upscale" in self.models
        albums = self.app.dispatcher.workflow_data.get("albums")
        if albums is not None:
            albums.window = 0.05
        self._updates = itertools.count(1)
        self._messages = itertools.count(1)

    def chat(self, user_id: int = 42, language: str = "en") -> Chat:
        return Chat(self, user_id, language)

    async def feed(self, update: Update) -> None:
        await self.app.dispatcher.feed_update(self.bot, update)

    async def settle(self, quiet_rounds: int = 8, limit_s: float = 10.0) -> None:
        """Wait until no album is being collected and the bot's jobs are done or stand still (a held job)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        calls, quiet = -1, 0
        while loop.time() < deadline:
            await asyncio.sleep(0.01)
            pending = [t for t in list(self.app.tracker._tasks) + list(self.executor._tasks) if not t.done()]
            if _background(self.app):
                quiet = 0
                continue
            if not pending:
                return
            quiet = quiet + 1 if len(self.session.calls) == calls else 0
            calls = len(self.session.calls)
            if quiet >= quiet_rounds:
                return

    async def close(self) -> None:
        self.executor.release()
        await self.settle()
        await self.app.tracker.close(grace=1.0)
        await self.executor.stop()


def _background(app: Any) -> list[asyncio.Task]:
    albums = app.dispatcher.workflow_data.get("albums")
    return list(getattr(albums, "tasks", ()))


class Chat:
    """One user talking to the bot in a private chat."""

    def __init__(self, harness: Harness, user_id: int, language: str) -> None:
        self.h = harness
        self.user = User(id=user_id, is_bot=False, first_name="Anna", language_code=language)
        self.chat = TgChat(id=user_id, type="private")
        self.mark = 0

    # ---- what the user does

    def _message(self, **fields: Any) -> Message:
        return Message(message_id=next(self.h._messages), date=datetime.now(), chat=self.chat, from_user=self.user,
                       **fields)

    async def say(self, text: str) -> Message:
        message = self._message(text=text)
        await self.h.feed(Update(update_id=next(self.h._updates), message=message))
        await self.h.settle()
        return message

    def photo_message(self, data: bytes, media_group_id: str | None = None) -> Message:
        file_id = self.h.session.store(data)
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
        return self._message(photo=[PhotoSize(file_id=file_id, file_unique_id="u" + file_id, width=width,
                                              height=height, file_size=len(data))], media_group_id=media_group_id)

    async def send_photo(self, data: bytes | None = None) -> None:
        message = self.photo_message(data or jpeg())
        await self.h.feed(Update(update_id=next(self.h._updates), message=message))
        await self.h.settle()

    async def send_raw_photo(self, data: bytes, width: int, height: int) -> None:
        file_id = self.h.session.store(data)
        message = self._message(photo=[PhotoSize(file_id=file_id, file_unique_id="u" + file_id, width=width,
                                                 height=height, file_size=len(data))])
        await self.h.feed(Update(update_id=next(self.h._updates), message=message))
        await self.h.settle()

    async def send_album(self, pictures: list[bytes]) -> None:
        group = f"g{next(self.h._updates)}"
        updates = [Update(update_id=next(self.h._updates), message=self.photo_message(data, group))
                   for data in pictures]
        await asyncio.gather(*(self.h.feed(u) for u in updates))
        await self.h.settle()

    async def press(self, said: Said, text: str) -> None:
        button = said.button(text)
        assert button is not None, f"no button {text!r} in {said.buttons()} under {said.text!r}"
        said = _with_id(self.h.session, said)
        message = Message(message_id=said.message_id, date=datetime.now(), chat=self.chat,
                          from_user=User(id=BOT_ID, is_bot=True, first_name="Bot"), text=said.text,
                          reply_markup=said.markup)
        query = CallbackQuery(id=str(next(self.h._updates)), from_user=self.user, chat_instance="ci",
                              message=message, data=button.callback_data)
        await self.h.feed(Update(update_id=next(self.h._updates), callback_query=query))
        await self.h.settle()

    # ---- what the bot did

    def said(self, *, new: bool = True) -> list[Said]:
        """Calls addressed to this chat since the last ``said()`` (or all of them with ``new=False``)."""
        start = self.mark if new else 0
        calls = self.h.session.said(start)
        self.mark = len(self.h.session.calls)
        return [s for s in calls if s.chat_id in (self.chat.id, str(self.chat.id))]

    def last_with(self, button_text: str) -> Said:
        """The newest message this chat got (or had edited) that carries a button with this text."""
        for s in reversed(self.h.session.said()):
            if s.chat_id in (self.chat.id, str(self.chat.id)) and s.button(button_text) is not None:
                return _with_id(self.h.session, s)
        raise AssertionError(f"no message with a {button_text!r} button; said: "
                             f"{[x.text for x in self.h.session.said()][-8:]}")

    def texts(self) -> list[str]:
        return [s.text for s in self.h.session.said() if s.chat_id in (self.chat.id, str(self.chat.id)) and s.text]


def _with_id(session: RecordingSession, said: Said) -> Said:
    """An edit already names its message; a sent message gets the id the session answered with."""
    if said.message_id is None:
        said.message_id = session.returned[id(said.call)].message_id
    return said
