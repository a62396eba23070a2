"""BotAPIServer: the emulated Telegram Bot API over HTTP, plus the Python side tests use to act as users.

One aiohttp application serves three things from one state:

* ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` — what aiogram talks to through
  ``TelegramAPIServer.from_base(server.base_url)``;
* ``/`` and ``/sandbox/api/...`` — the sandbox chat page (``python main.py --sandbox``);
* nothing else: users are simulated in-process through :meth:`BotAPIServer.user`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from . import sandbox
from .errors import BAD_GATEWAY_PAGE, ApiError, Outage
from .files import FileStore, StoredFile
from .methods import BotApi, scope_key
from .params import Params, check_token_format
from .state import ApiCall, CallbackRecord, Chat, LoggedMessage, World
from .users import EmulatedUser
from .webhook import Webhook

log = logging.getLogger("botapi")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_REQUEST_BYTES = 60 * 1024 * 1024
SANDBOX_USER_ID = 1


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


class BotAPIServer:
    """An in-process Telegram Bot API server for one bot.

    Usage::

        server = BotAPIServer()
        await server.start()
        bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
        user = server.user(1001, "Anna", language_code="ru")
        await user.send_text("/start")
        reply = await server.wait_for_message(user.chat_id, lambda m: m.buttons)

    Options: ``webhook_retry_delays`` (seconds between re-deliveries of a failed webhook POST; after the last one
    the update is dropped and listed in ``server.webhook.failures``), ``webhook_timeout``,
    ``callback_answer_timeout`` (answerCallbackQuery later than this fails with "query is too old"; None = no
    limit), ``flood_rate``/``flood_burst`` (opt-in per-chat flood control over sends and edits: 429 with
    retry_after when the bot posts or edits faster than ``flood_rate`` per second beyond a burst), ``sandbox_hosts``
    (host names the sandbox page may be opened under besides loopback ones; see ``botapi.sandbox.guard``).
    """

    def __init__(self, token: str = "123456:TEST", *, bot_username: str = "artbot", bot_first_name: str = "Art Bot",
                 webhook_retry_delays: Sequence[float] = (0.2, 0.5, 1.0), webhook_timeout: float = 10.0,
                 callback_answer_timeout: float | None = None, flood_rate: float | None = None,
                 flood_burst: int = 5, sandbox_hosts: Sequence[str] = ()) -> None:
        check_token_format(token)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        bot_user = {"id": self.bot_id, "is_bot": True, "first_name": bot_first_name, "username": bot_username}
        self.world = World(bot_user)
        self.files = FileStore()
        self.api = BotApi(self.world, self.files, callback_answer_timeout=callback_answer_timeout,
                          flood_rate=flood_rate, flood_burst=flood_burst)
        self.webhook = Webhook(self.world, self.api.call, retry_delays=webhook_retry_delays, timeout=webhook_timeout)
        self.api.webhook = self.webhook
        self._users: dict[int, EmulatedUser] = {}
        self.notice: str | None = None  # pinned above the sandbox chat (e.g. which weights are missing)
        # Host names the sandbox API answers to besides loopback ones (and the address given to start())
        self.extra_hosts = frozenset(name.lower() for name in sandbox_hosts)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.app = self._build_app()

    # --- lifecycle -------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        sandbox.register(app, self)
        app.router.add_get("/", self._handle_index)
        app.router.add_static("/static/", STATIC_DIR)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = a free port); returns :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        self.api.closing = False
        runner = web.AppRunner(self.app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        sockets = site._server.sockets if site._server else []  # noqa: SLF001 - the bound port when port=0
        bound_port = sockets[0].getsockname()[1] if sockets else port
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self._base_url = f"http://{shown_host}:{bound_port}"
        if host not in ("0.0.0.0", "", "::"):
            self.extra_hosts |= {host.lower()}
        log.info("botapi: emulated Telegram Bot API at %s (token %s)", self._base_url, self.token)
        return self._base_url

    async def stop(self) -> None:
        """Wake and end pending long polls, stop webhook delivery, close the listener."""
        self.api.closing = True
        self.world.wake_all()
        await self.webhook.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> BotAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """E.g. ``http://127.0.0.1:43127`` — pass to ``TelegramAPIServer.from_base``."""
        if self._base_url is None:
            raise RuntimeError("server not started")
        return self._base_url

    @property
    def sandbox_url(self) -> str:
        """The chat page for a person (``/``)."""
        return self.base_url + "/"

    # --- HTTP ------------------------------------------------------------------------------------
    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != self.token:
            try:
                check_token_format(token)
            except ApiError as exc:
                return _json(exc.to_json(), exc.error_code)
            return _json(ApiError(401, "Unauthorized").to_json(), 401)
        try:
            params = await Params.from_request(request)
            result = await self.api.call(method, params)
        except ApiError as exc:
            return _json(exc.to_json(), exc.error_code)
        except Outage as exc:
            if exc.kind == "disconnect" and request.transport is not None:
                request.transport.abort()  # the client sees the connection drop; nothing is written any more
                return web.Response(status=502)
            return web.Response(status=502, text=BAD_GATEWAY_PAGE, content_type="text/html")
        body: dict[str, Any] = {"ok": True, "result": result}
        if method.lower() == "setwebhook":
            body["description"] = "Webhook was set" if self.webhook.url else "Webhook was deleted"
        elif method.lower() == "deletewebhook":
            body["description"] = "Webhook was deleted"
        return _json(body)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json(ApiError(401, "Unauthorized").to_json(), 401)
        stored = self.files.by_path(request.match_info["path"])
        if stored is None or stored.data is None:
            return _json(ApiError(404, "Not Found: file not found").to_json(), 404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def _handle_index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    # --- users -----------------------------------------------------------------------------------
    def user(self, user_id: int = 1001, first_name: str = "Anna", *, last_name: str | None = None,
             username: str | None = None, language_code: str | None = "en") -> EmulatedUser:
        """The user with this id (created on first call, the same object afterwards)."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        created = EmulatedUser(self.world, self.files, user_id, first_name, last_name=last_name,
                               username=username, language_code=language_code)
        self._users[user_id] = created
        return created

    def group(self, chat_id: int = -1001234567890, title: str = "Friends") -> Chat:
        """A supergroup with the bot in it; ``server.user(...).in_group(chat)`` writes there."""
        return self.world.ensure_group_chat(chat_id, title)

    @property
    def sandbox_user(self) -> EmulatedUser:
        """The one person of the sandbox page (id 1)."""
        return self.user(SANDBOX_USER_ID, "Guest", username="sandbox_guest", language_code="en")

    # --- reading the log -------------------------------------------------------------------------
    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[LoggedMessage]:
        """Every message of the chat, both sides, oldest first."""
        return [m for m in self.world.messages_in(chat_id) if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[LoggedMessage]:
        """The bot's messages in the chat, current state (after edits), oldest first."""
        return [m for m in self.messages(chat_id, include_deleted=include_deleted) if m.outgoing]

    def last_bot_message(self, chat_id: int) -> LoggedMessage | None:
        found = self.bot_messages(chat_id)
        return found[-1] if found else None

    def message(self, chat_id: int, message_id: int) -> LoggedMessage:
        chat = self.world.chats.get(chat_id)
        if chat is None or message_id not in chat.messages:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        return chat.messages[message_id]

    async def wait_for_message(self, chat_id: int, predicate: Callable[[LoggedMessage], Any] | None = None,
                               timeout: float = 10.0, *, since: int | None = None) -> LoggedMessage:
        """The first bot message in the chat, sent or edited after ``since``, for which ``predicate`` holds.

        ``since`` defaults to the user's last action in the chat, so this waits for a reaction to it; pass
        ``since=0`` to accept messages from any time. A predicate raising TypeError/AttributeError/KeyError/
        IndexError counts as "no" (``"x" in m.text`` on a photo). On timeout the error lists what the bot sent.
        """
        chat = self.world.chats.get(chat_id)
        if chat is None:
            raise LookupError(f"no chat {chat_id}")
        cursor = chat.last_user_seq if since is None else since

        def check() -> LoggedMessage | None:
            for message in chat.messages.values():
                if message.outgoing and not message.deleted and message.seq > cursor:
                    try:
                        if predicate is None or predicate(message):
                            return message
                    except (TypeError, AttributeError, KeyError, IndexError):
                        continue
            return None

        try:
            return await self.world.wait_until(check, timeout)
        except TimeoutError:
            recent = "\n  ".join(repr(m) for m in self.messages(chat_id)[-8:]) or "(nothing)"
            unknown = f"\nunknown methods called: {self.unknown_methods}" if self.unknown_methods else ""
            failed = [f"{c.method}: {c.error}" for c in self.calls[-20:] if not c.ok]
            failures = f"\nfailed calls: {failed}" if failed else ""
            raise TimeoutError(f"no bot message in chat {chat_id} matched within {timeout}s (since seq {cursor}); "
                               f"last messages:\n  {recent}{unknown}{failures}") from None

    async def wait_until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked at every state change); returns its value."""
        return await self.world.wait_until(check, timeout)

    @property
    def seq(self) -> int:
        """The current change counter; pass as ``since=`` to wait only for later bot messages."""
        return self.world.seq

    # --- callbacks -------------------------------------------------------------------------------
    def callback(self, callback_id: str) -> CallbackRecord:
        return self.world.callbacks[callback_id]

    def was_answered(self, callback_id: str) -> bool:
        record = self.world.callbacks.get(callback_id)
        return record is not None and record.answer is not None

    def callback_answer(self, callback_id: str) -> dict[str, Any] | None:
        """``{"text", "show_alert", "url", "cache_time"}`` once answered, else None."""
        record = self.world.callbacks.get(callback_id)
        return record.answer if record else None

    async def wait_answered(self, callback_id: str, timeout: float = 5.0) -> dict[str, Any]:
        try:
            return await self.world.wait_until(lambda: self.callback_answer(callback_id), timeout)
        except TimeoutError:
            raise TimeoutError(f"callback query {callback_id} was not answered within {timeout}s") from None

    def unanswered_callbacks(self) -> list[CallbackRecord]:
        return [record for record in self.world.callbacks.values() if record.answer is None]

    # --- calls and gaps --------------------------------------------------------------------------
    @property
    def calls(self) -> list[ApiCall]:
        """Every API call the bot made except getUpdates, oldest first."""
        return self.world.calls

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.world.calls if call.method.lower() == method.lower()]

    @property
    def unknown_methods(self) -> list[str]:
        return self.world.unknown_methods

    def inject_error(self, method: str, error_code: int = 429, description: str | None = None, *,
                     retry_after: int | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail (flood control by default)."""
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after or 1}" if error_code == 429
                           else "Bad Request: injected failure")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        queue = self.api.faults.setdefault(method.lower(), [])
        queue.extend(ApiError(error_code, description, retry_after=retry_after) for _ in range(times))

    def inject_outage(self, method: str, kind: str = "bad_gateway", *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` meet an outage below the API (see :class:`Outage`): an HTML
        ``502 Bad Gateway`` page or a connection closed without an answer. Queued after any injected errors, so
        ``inject_error(m, 429)`` then ``inject_outage(m)`` answers 429 first, then 502."""
        queue = self.api.faults.setdefault(method.lower(), [])
        queue.extend(Outage(kind) for _ in range(times))

    def inject_faults(self, method: str, specs: str) -> None:
        """Queue faults for ``method`` from a comma-separated list, in order: ``429`` or ``429:<retry_after>``, another
        status code (``502``: the API's JSON error), ``bad_gateway`` (an HTML 502 page) or ``disconnect``.
        ``python -m botapi --fault sendPhoto=429:2,bad_gateway`` uses it."""
        for spec in (part.strip() for part in specs.split(",") if part.strip()):
            if spec in Outage.KINDS:
                self.inject_outage(method, spec)
                continue
            code, _, wait = spec.partition(":")
            if not code.isdigit() or not 400 <= int(code) <= 599 or (wait and not wait.isdigit()):
                raise ValueError(f"a fault is 429[:seconds], a 4xx/5xx code, bad_gateway or disconnect; got {spec!r}")
            error = int(code)
            self.inject_error(method, error, None if error == 429 else f"Injected error {error}",
                              retry_after=int(wait) if wait else None)

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        return list(self.world.commands.get((scope_key(scope), language_code), []))

    def webhook_info(self) -> dict[str, Any]:
        return self.webhook.info()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self.world.updates)

    # --- files -----------------------------------------------------------------------------------
    def file_info(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise LookupError(f"no file {file_id}")
        return stored

    def file_bytes(self, ref: str | LoggedMessage | dict[str, Any]) -> bytes:
        """Bytes of a file: by file_id, a PhotoSize/Document dict, or a message (largest photo size)."""
        if isinstance(ref, LoggedMessage):
            file_id = ref.file_id
            if file_id is None:
                raise LookupError(f"message {ref.message_id} carries no file")
        elif isinstance(ref, dict):
            file_id = ref["file_id"]
        else:
            file_id = ref
        data = self.file_info(file_id).data
        if data is None:
            raise LookupError(f"file {file_id} is virtual (size only)")
        return data

