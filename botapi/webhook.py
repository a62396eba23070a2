"""Webhook mode: while a URL is set, updates are POSTed to it instead of being handed to getUpdates.

Like the real server: one update at a time in order, the secret in ``X-Telegram-Bot-Api-Secret-Token``, a non-2xx
answer or a network error is retried (here a few times with short delays, so tests stay fast — the real server
keeps trying for much longer) and reported in ``getWebhookInfo.last_error_message``. The response body may carry
a method call (aiogram's "reply into webhook"), which is executed like a normal request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from .errors import ApiError, Outage, bad_request
from .params import Params, UploadedFile
from .state import World

log = logging.getLogger("botapi")

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
Execute = Callable[[str, Params], Awaitable[Any]]


class Webhook:
    """The webhook configuration and its delivery task."""

    def __init__(self, world: World, execute: Execute, *, retry_delays: Sequence[float] = (0.2, 0.5, 1.0),
                 timeout: float = 10.0) -> None:
        self.world = world
        self.execute = execute
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.url: str | None = None
        self.secret_token: str | None = None
        self.max_connections = 40
        self.ip_address: str | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.delivered: list[int] = []
        self.failures: list[dict[str, Any]] = []  # updates given up on: {"update_id", "error"}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.url or "", "has_custom_certificate": False,
                                "pending_update_count": len(self.world.updates)}
        if self.url:
            info["max_connections"] = self.max_connections
            if self.ip_address:
                info["ip_address"] = self.ip_address
            if self.world.allowed_updates:
                info["allowed_updates"] = list(self.world.allowed_updates)
        if self.last_error_date:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    async def set_from(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        if not url:
            return await self.delete(drop_pending_updates=params.get_bool("drop_pending_updates"))
        if not url.lower().startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        if params.get_bool("drop_pending_updates"):
            self.world.updates.clear()
        allowed = params.get_list("allowed_updates")
        if allowed is not None:
            self.world.allowed_updates = allowed or None
        self.max_connections = params.get_int("max_connections", default=40) or 40
        self.ip_address = params.get_str("ip_address")
        self.secret_token = secret
        self.url = url
        self.last_error_date = self.last_error_message = None
        await self._stop_task()
        self._task = asyncio.create_task(self._deliver_forever(), name="botapi-webhook")
        self.world.touch()  # a pending long poll ends now
        log.info("botapi: webhook set to %s", url)
        return True

    async def delete(self, *, drop_pending_updates: bool = False) -> bool:
        await self._stop_task()
        self.url = None
        self.secret_token = None
        if drop_pending_updates:
            self.world.updates.clear()
        self.world.touch()
        return True

    async def close(self) -> None:
        await self._stop_task()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        # On Python 3.11 asyncio.wait_for can swallow a cancel that lands as its inner wait completes (the server
        # wakes every waiter while stopping), so keep cancelling until the task has really ended.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_forever(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        while True:
            try:
                await self.world.wait_until(lambda: self.world.updates, 3600)
            except TimeoutError:
                continue
            update = self.world.updates[0]
            if await self._deliver(update):
                self.delivered.append(update["update_id"])
            # delivered or given up: either way it leaves the queue
            self.world.updates = [u for u in self.world.updates if u is not update]
            self.world.touch()

    async def _deliver(self, update: dict[str, Any]) -> bool:
        assert self._session is not None and self.url is not None
        headers = {"Content-Type": "application/json"}
        if self.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token
        error = "not attempted"
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            try:
                async with self._session.post(self.url, data=json.dumps(update), headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                    if 200 <= response.status < 300:
                        await self._run_reply(response)
                        return True
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
            except TimeoutError:
                error = "Read timeout expired"
            except aiohttp.ClientError as exc:
                error = f"Connection failed: {type(exc).__name__}: {exc}"
            self.last_error_date = int(time.time())
            self.last_error_message = error
            log.warning("botapi: webhook delivery of update %s failed: %s", update["update_id"], error)
        self.failures.append({"update_id": update["update_id"], "error": error})
        log.error("botapi: gave up delivering update %s to the webhook after %d attempts",
                  update["update_id"], 1 + len(self.retry_delays))
        return False

    async def _run_reply(self, response: aiohttp.ClientResponse) -> None:
        """Execute a method the bot returned in the webhook response body, if any."""
        values: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        if response.content_type == "application/json":
            try:
                body = await response.json()
            except (ValueError, aiohttp.ContentTypeError):
                return
            if isinstance(body, dict):
                values = body
        elif response.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader(response.headers, response.content)
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                    continue
                data = await part.read()
                if part.filename:
                    files[part.name] = UploadedFile(bytes(data), part.filename, part.headers.get("Content-Type"))
                else:
                    values[part.name] = data.decode("utf-8")
        method = values.pop("method", None)
        if not method:
            return
        try:
            await self.execute(str(method), Params(values, files))
        except (ApiError, Outage) as exc:
            log.warning("botapi: the method %s returned in a webhook response failed: %s", method, exc.description)
