"""The sandbox API acts as its user, so other web pages must not reach it: loopback Host only (no DNS rebinding),
same origin only, the X-Sandbox header on every call, JSON where JSON is expected; uploads served with nosniff and
non-pictures as attachments. Raw HTTP against the emulator on loopback."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from botapi.sandbox import host_allowed
from botapi.server import BotAPIServer

OK = {"X-Sandbox": "1"}


@pytest.fixture
async def server():
    emulator = BotAPIServer(sandbox_hosts=["sandbox.internal"])
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:8081", True), ("localhost:8081", True), ("LOCALHOST", True), ("app.localhost:1", True),
    ("[::1]:8081", True), ("127.1.2.3", True), ("sandbox.internal:8081", True),
    ("evil.example:8081", False), ("127.0.0.1.evil.example", False), ("10.0.0.5:8081", False), ("", False),
    ("localhost.evil.example", False),
])
def test_host_names(host: str, allowed: bool) -> None:
    assert host_allowed(host, frozenset({"sandbox.internal"})) is allowed


async def _status(server: BotAPIServer, method: str, path: str, **kwargs) -> int:
    async with aiohttp.ClientSession(base_url=server.base_url) as http, http.request(method, path, **kwargs) as resp:
        return resp.status


async def test_calls_from_other_pages_are_refused(server: BotAPIServer) -> None:
    origin = server.base_url
    host = origin.split("//")[1]
    body = {"text": "/start"}
    assert await _status(server, "POST", "/sandbox/api/send_text", json=body, headers=OK) == 200
    assert await _status(server, "POST", "/sandbox/api/send_text", json=body,
                         headers={**OK, "Origin": origin, "Sec-Fetch-Site": "same-origin"}) == 200
    # a form or a script on another site: no custom header, or a foreign Origin / Sec-Fetch-Site
    assert await _status(server, "POST", "/sandbox/api/send_text", json=body) == 403
    assert await _status(server, "POST", "/sandbox/api/send_text", json=body,
                         headers={**OK, "Origin": "http://evil.example"}) == 403
    assert await _status(server, "POST", "/sandbox/api/send_text", json=body,
                         headers={**OK, "Sec-Fetch-Site": "cross-site"}) == 403
    assert await _status(server, "GET", "/sandbox/api/state?since=0") == 403
    # DNS rebinding: the attacker's name now points at 127.0.0.1, so the browser sends it as Host
    assert await _status(server, "GET", "/sandbox/api/state?since=0",
                         headers={**OK, "Host": "rebound.evil.example:" + host.split(":")[1]}) == 403
    assert await _status(server, "GET", "/sandbox/api/state?since=0",
                         headers={**OK, "Host": "sandbox.internal"}) == 200  # SANDBOX_HOSTS
    # JSON only where JSON is expected (text/plain is what a cross-site form could send)
    assert await _status(server, "POST", "/sandbox/api/send_text", data=b'{"text": "hi"}',
                         headers={**OK, "Content-Type": "text/plain"}) == 415
    assert [m.text for m in server.messages(1)] == ["/start", "/start"]  # only the two accepted calls arrived


async def test_uploads_are_served_with_nosniff_and_non_pictures_as_attachments(server: BotAPIServer) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    form = aiohttp.FormData()
    form.add_field("file", buf.getvalue(), filename="a.png", content_type="image/png")
    form.add_field("file", b"<script>alert(1)</script>", filename="page.html", content_type="text/html")
    async with aiohttp.ClientSession(base_url=server.base_url, headers=OK) as http:
        async with http.post("/sandbox/api/send_files", data=form) as resp:
            assert resp.status == 200, await resp.text()
        picture, page = server.messages(1)[-2:]
        async with http.get(f"/sandbox/api/file/{picture.file_id}") as resp:
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "Content-Disposition" not in resp.headers and resp.content_type == "image/png"
        async with http.get(f"/sandbox/api/file/{page.file_id}") as resp:
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Disposition"].startswith("attachment")
        async with http.get(f"/sandbox/api/file/{page.file_id}", headers={"Host": "evil.example"}) as resp:
            assert resp.status == 403
