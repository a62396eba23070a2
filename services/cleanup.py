"""Keeping DATA_DIR bounded: kept results and thumbnails older than RESULT_TTL go, and when the disk runs low the
oldest kept results go first.

Results are kept for the after-result buttons ("send as file", "upscale this") and thumbnails are a cache; both can
be rebuilt or asked for again, so deleting them is always safe. The sweep runs in a thread (it walks folders) every
``CLEANUP_INTERVAL`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Sweep:
    expired: int = 0  # files older than the TTL
    for_space: int = 0  # younger files removed because the disk was short of space
    free_mb: float = 0.0  # free space afterwards


def _files(folders: list[Path]) -> list[tuple[float, Path]]:
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    found.append((entry.stat().st_mtime, Path(entry.path)))
    return sorted(found)


def _free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**20


def sweep(folders: list[Path], ttl_s: float, min_free_mb: float, now: float | None = None) -> Sweep:
    """Delete files older than ``ttl_s``, then the oldest others while free space is under ``min_free_mb``."""
    now = time.time() if now is None else now
    result = Sweep()
    remaining = []
    for mtime, path in _files(folders):
        if now - mtime > ttl_s:
            path.unlink(missing_ok=True)
            result.expired += 1
        else:
            remaining.append(path)
    anchor = next((f for f in folders if f.is_dir()), None)
    if anchor is None:
        return result
    free = _free_mb(anchor)
    while remaining and free < min_free_mb:
        remaining.pop(0).unlink(missing_ok=True)
        result.for_space += 1
        free = _free_mb(anchor)
    result.free_mb = free
    if free < min_free_mb:
        log.warning("only %.0f MB free in %s (DISK_MIN_FREE_MB=%d) after removing every kept result", free, anchor,
                    min_free_mb)
    return result


class Cleaner:
    """Runs :func:`sweep` now and then until stopped."""

    def __init__(self, folders: list[Path], ttl_s: float, min_free_mb: float, interval_s: float) -> None:
        self.folders = folders
        self.ttl_s = ttl_s
        self.min_free_mb = min_free_mb
        self.interval_s = interval_s
        self.last: Sweep | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="cleanup")

    async def _loop(self) -> None:
        while True:
            try:
                self.last = await asyncio.to_thread(sweep, self.folders, self.ttl_s, self.min_free_mb)
                if self.last.expired or self.last.for_space:
                    log.info("cleanup: %d expired and %d files removed for space; %.0f MB free", self.last.expired,
                             self.last.for_space, self.last.free_mb)
            except Exception:
                log.exception("cleanup failed")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
