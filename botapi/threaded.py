"""The emulator in a background thread, for synchronous callers such as Selenium tests.

A browser driver blocks its thread, so the server (and anything else that must keep running, e.g. a bot's
polling task) lives in its own event loop here; ``run()`` executes a coroutine there and returns its result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from .server import BotAPIServer


class ServerThread:
    """``with ServerThread(token) as live: browser.get(live.server.sandbox_url)``."""

    def __init__(self, *args: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._host = host
        self._port = port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="botapi-server", daemon=True)
        self._server: BotAPIServer | None = None

    @property
    def server(self) -> BotAPIServer:
        if self._server is None:
            raise RuntimeError("ServerThread not started")
        return self._server

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run ``coro`` in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> BotAPIServer:
        server = BotAPIServer(*self._args, **self._kwargs)
        await server.start(self._host, self._port)
        return server

    def start(self) -> BotAPIServer:
        self._thread.start()
        self._server = self.run(self._start())
        return self._server

    def stop(self) -> None:
        try:
            if self._server is not None:
                self.run(self._server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
