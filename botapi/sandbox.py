"""JSON endpoints behind the sandbox chat page (``/sandbox/api/...``).

The page is a thin view: it long-polls ``state`` for what changed in the sandbox user's chat since its cursor and
turns clicks into the same :class:`~botapi.users.EmulatedUser` actions tests use, so a person in the browser and
an e2e test exercise exactly the same code paths of the emulator and of the bot.

The API acts as the sandbox's one user, so :func:`guard` keeps other web pages out of it: the Host must be a
loopback name (or the address the server was started on), so a DNS-rebound name cannot reach it; an ``Origin`` must
be this very origin; every call but file downloads needs the ``X-Sandbox: 1`` header, which a cross-site form cannot
send and a cross-site script may not send without a CORS preflight nobody answers; JSON endpoints take JSON only.
Uploaded files are served with ``nosniff``, and any that is not a picture as an attachment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mimetypes
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from . import formatting
from .methods import scope_key
from .state import LoggedMessage

if TYPE_CHECKING:
    from .server import BotAPIServer
    from .users import EmulatedUser

ACTION_VISIBLE_S = 5.0
MAX_WAIT_S = 25.0
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff"}
API_PREFIX = "/sandbox/api/"
CUSTOM_HEADER = "X-Sandbox"
_JSON_ENDPOINTS = {"send_text", "press", "sticker"}


def host_allowed(host_header: str, extra: frozenset[str] = frozenset()) -> bool:
    """``localhost`` (and ``*.localhost``), a loopback address, or one of ``extra``; the port is not checked."""
    name = host_header.strip().lower()
    if name.startswith("["):  # [::1]:8081
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost") or name in extra:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def guard(extra_hosts: Callable[[], frozenset[str]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """aiohttp middleware for the sandbox API (see the module docstring); other paths pass untouched."""

    def refuse(status: int, text: str) -> web.Response:
        return web.json_response({"ok": False, "error": text}, status=status)

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        host = request.headers.get("Host", "")
        if not host_allowed(host, extra_hosts()):
            return refuse(403, "the sandbox answers only on a loopback address (localhost, 127.0.0.1)")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{request.scheme}://{host}".lower():
            return refuse(403, "cross-origin requests are refused")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return refuse(403, "cross-site requests are refused")
        endpoint = request.path[len(API_PREFIX):]
        if endpoint.startswith("file/"):
            return await handler(request)  # <img src> cannot carry a header; Host is checked above
        if request.headers.get(CUSTOM_HEADER) != "1":
            return refuse(403, f"the sandbox API needs the header {CUSTOM_HEADER}: 1")
        if endpoint in _JSON_ENDPOINTS and request.content_type != "application/json":
            return refuse(415, "send JSON (Content-Type: application/json)")
        return await handler(request)

    return middleware


def _file_url(file_id: str) -> str:
    return f"/sandbox/api/file/{quote(file_id)}"


def serialize(message: LoggedMessage) -> dict[str, Any]:
    """What the page needs to draw one message (HTML already sanitised here, never in the browser)."""
    out: dict[str, Any] = {
        "id": message.message_id, "outgoing": message.outgoing, "date": message.date, "seq": message.seq,
        "deleted": message.deleted, "edited": message.edited, "kind": message.kind,
        "html": formatting.safe_html(message.body, message.parse_mode) if message.body else "",
        "text": message.plain_text, "media_group_id": message.media_group_id,
        "buttons": [[{key: button[key] for key in ("text", "callback_data", "url") if key in button}
                     for button in row] for row in message.keyboard],
    }
    if message.reply_to is not None:
        out["reply_to"] = {"id": message.reply_to.message_id, "text": message.reply_to.plain_text[:80],
                           "kind": message.reply_to.kind}
    if message.photo:
        largest = message.photo[-1]
        out["photo"] = {"url": _file_url(largest["file_id"]), "width": largest["width"],
                        "height": largest["height"]}
    media = message.media
    if "document" in media:
        doc = media["document"]
        out["document"] = {"url": _file_url(doc["file_id"]) + "?download=1", "name": doc.get("file_name", "file"),
                           "size": doc.get("file_size", 0), "mime": doc.get("mime_type", "")}
    if "sticker" in media:
        out["sticker"] = {"url": _file_url(media["sticker"]["file_id"]), "emoji": media["sticker"].get("emoji", "")}
    if "video" in media:
        out["video"] = {"name": media["video"].get("file_name", "video.mp4"),
                        "size": media["video"].get("file_size", 0)}
    return out


def _language(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.split("-")[0].lower()[:8] or None


def register(app: web.Application, server: BotAPIServer) -> None:
    """Add the ``/sandbox/api`` routes for ``server`` to ``app``, behind :func:`guard`."""
    app.middlewares.append(guard(lambda: server.extra_hosts))

    def user_for(language: Any) -> EmulatedUser:
        user = server.sandbox_user
        lang = _language(language)
        if lang:
            user.language_code = lang
        return user

    def error(text: str, status: int = 400) -> web.Response:
        return web.json_response({"ok": False, "error": text}, status=status)

    async def state(request: web.Request) -> web.Response:
        user = server.sandbox_user
        chat = user.chat
        try:
            since = int(request.query.get("since", "0"))
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT_S)
        except ValueError:
            return error("since and wait must be numbers")
        if since > server.world.seq:
            since = 0  # the server restarted under the page: send everything

        def changed() -> bool:
            return server.api.closing or max(chat.version, server.world.commands_version) > since

        with contextlib.suppress(TimeoutError):
            await server.world.wait_until(changed, wait)
        messages = [serialize(m) for m in chat.messages.values() if m.seq > since]
        answers = [{"id": record.id, "message_id": record.message_id, **(record.answer or {})}
                   for record in server.world.callbacks.values()
                   if record.chat_id == chat.id and record.answer is not None and record.seq > since]
        action = None
        if chat.action is not None and time.time() - chat.action[1] < ACTION_VISIBLE_S:
            action = chat.action[0]
        bot = server.world.bot_user
        return web.json_response({
            "seq": server.world.seq, "full": since == 0, "messages": messages, "answers": answers,
            "action": action, "reply_keyboard": chat.reply_keyboard, "commands": _commands_for(server, user),
            "bot": {"name": bot["first_name"], "username": bot.get("username", "")},
            "user": user.as_api(), "notice": server.notice,
        })

    async def send_text(request: web.Request) -> web.Response:
        body = await request.json()
        text = str(body.get("text", "")).strip()
        if not text:
            return error("empty message")
        message = await user_for(body.get("language")).send_text(text)
        return web.json_response({"ok": True, "message_id": message.message_id})

    async def send_files(request: web.Request) -> web.Response:
        form = await request.post()
        user = user_for(form.get("language"))
        caption = str(form.get("caption") or "").strip() or None
        as_document = str(form.get("as_document") or "") in ("1", "true", "on")
        uploads = [field for key, field in form.items() if key == "file" and isinstance(field, web.FileField)]
        if not uploads:
            return error("no file")
        photos, others = [], []
        for field in uploads:
            data = field.file.read()
            mime = field.content_type or mimetypes.guess_type(field.filename or "")[0] or "application/octet-stream"
            if not as_document and mime in _IMAGE_TYPES and mime != "image/gif":
                photos.append(data)
            else:
                others.append((data, field.filename or "file", mime))
        sent: list[LoggedMessage] = []
        try:
            if len(photos) == 1:
                sent.append(await user.send_photo(photos[0], caption))
            elif photos:
                for start in range(0, len(photos), 10):
                    chunk = photos[start:start + 10]
                    first_caption = caption if start == 0 else None
                    if len(chunk) == 1:
                        sent.append(await user.send_photo(chunk[0], first_caption))
                    else:
                        sent += await user.send_album(chunk, first_caption)
            for data, name, mime in others:
                doc_caption = caption if not photos and not sent else None
                if mime.startswith("video/") and not as_document:
                    sent.append(await user.send_video(data, file_name=name, caption=doc_caption))
                else:
                    sent.append(await user.send_document(data, name, mime, caption=doc_caption))
        except ValueError as exc:
            return error(str(exc))
        return web.json_response({"ok": True, "message_ids": [m.message_id for m in sent]})

    async def press(request: web.Request) -> web.Response:
        body = await request.json()
        user = user_for(body.get("language"))
        try:
            query_id = await user.press(int(body.get("message_id", 0)), str(body.get("callback_data", "")))
        except (LookupError, ValueError) as exc:
            return error(str(exc))
        return web.json_response({"ok": True, "callback_id": query_id})

    async def sticker(request: web.Request) -> web.Response:
        body = await request.json()
        message = await user_for(body.get("language")).send_sticker(str(body.get("emoji") or "🙂"))
        return web.json_response({"ok": True, "message_id": message.message_id})

    async def file(request: web.Request) -> web.Response:
        stored = server.files.get(request.match_info["file_id"])
        if stored is None or stored.data is None:
            return error("no such file", 404)
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        if request.query.get("download") or (stored.mime_type or "") not in _IMAGE_TYPES:
            name = stored.file_name or stored.file_id
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream",
                            headers=headers)

    app.router.add_get("/sandbox/api/state", state)
    app.router.add_post("/sandbox/api/send_text", send_text)
    app.router.add_post("/sandbox/api/send_files", send_files)
    app.router.add_post("/sandbox/api/press", press)
    app.router.add_post("/sandbox/api/sticker", sticker)
    app.router.add_get("/sandbox/api/file/{file_id}", file)


def _commands_for(server: BotAPIServer, user: EmulatedUser) -> list[dict[str, Any]]:
    """The command menu a Telegram client would show this user (most specific scope and language first)."""
    lang = user.language_code or ""
    scopes = [{"type": "chat", "chat_id": user.chat_id}, {"type": "all_private_chats"}, {"type": "default"}]
    for scope in scopes:
        for language in (lang, ""):
            found = server.world.commands.get((scope_key(scope), language))
            if found:
                return found
    return []
