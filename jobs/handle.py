"""The bot's view of one job: a replayable stream of events and an awaitable result.

Events are kept, not consumed, so the bot may iterate ``events()`` for its status message and ``await wait()``
elsewhere (or iterate twice) without either stealing from the other. Only the event loop thread touches a handle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ml_models import errors
from ml_models.api import JobResult

from .job import TERMINAL, Cancelled, Done, Event, Failed, Job


class JobHandle:
    def __init__(self, job: Job) -> None:
        self.job = job
        self._events: list[Event] = []
        self._changed = asyncio.Event()
        self._error: errors.EngineError | None = None

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def finished(self) -> bool:
        return bool(self._events) and isinstance(self._events[-1], TERMINAL)

    @property
    def last_event(self) -> Event | None:
        return self._events[-1] if self._events else None

    def emit(self, event: Event, error: errors.EngineError | None = None) -> None:
        """Append an event (the executor's side). Nothing is accepted after the terminal one."""
        if self.finished:
            return
        if isinstance(event, Failed):
            self._error = error or errors.EngineError(event.code, event.message, **event.details)
        self._events.append(event)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def events(self) -> AsyncIterator[Event]:
        """Every event from the first one; ends after ``Done``, ``Failed`` or ``Cancelled``."""
        index = 0
        while True:
            while index < len(self._events):
                event = self._events[index]
                index += 1
                yield event
                if isinstance(event, TERMINAL):
                    return
            await self._changed.wait()

    async def wait(self) -> JobResult:
        """The result; raises the job's ``EngineError`` (``errors.Cancelled`` when it was cancelled)."""
        async for event in self.events():
            if isinstance(event, Done):
                return event.result
            if isinstance(event, Failed):
                assert self._error is not None
                raise self._error
            if isinstance(event, Cancelled):
                raise errors.Cancelled(message="the job was cancelled")
        raise RuntimeError("unreachable: events() ends with a terminal event")
