"""Queued jobs' pictures beyond a memory budget wait on disk, not in the bot's RAM.

A queue of twenty jobs with 20 MB photos would hold 400 MB in the bot process while they wait. The scheduler hands
each accepted job to ``hold``: while the queued jobs' bytes fit ``INPUT_MEMORY_MB`` they stay in memory, beyond it
the job's content and style bytes go to a file in ``DATA_DIR/spool`` and the request keeps empty bytes. ``take``
puts them back right before the job is dispatched; ``drop`` forgets a job that ended while waiting.
"""

from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

from .job import Job

log = logging.getLogger("jobs")

_LENGTH = struct.Struct("<Q")


class InputSpool:
    def __init__(self, folder: Path, budget_bytes: int) -> None:
        self.folder = Path(folder)
        self.budget_bytes = budget_bytes
        self.in_memory = 0
        self._held: dict[str, int] = {}  # job id -> bytes counted in memory
        self._files: dict[str, Path] = {}  # job id -> spool file

    def reset(self) -> None:
        """Start empty: files left by an earlier run belong to jobs that will be downloaded again on resume."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.in_memory = 0
        self._held.clear()
        self._files.clear()

    @property
    def on_disk(self) -> int:
        return len(self._files)

    def hold(self, job: Job) -> None:
        request = job.request
        size = len(request.content) + sum(len(style) for style in request.styles)
        if self.in_memory + size <= self.budget_bytes:
            self._held[job.id] = size
            self.in_memory += size
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{job.id}.bin"
        with path.open("wb") as out:
            for part in (request.content, *request.styles):
                out.write(_LENGTH.pack(len(part)))
                out.write(part)
        self._files[job.id] = path
        request.content, request.styles = b"", [b""] * len(request.styles)
        log.info("job %s: %d bytes of input spooled to disk (queued inputs hold %d of %d bytes in memory)",
                 job.id, size, self.in_memory, self.budget_bytes)

    def take(self, job: Job) -> None:
        """Before dispatch: the bytes back in the request; they no longer count as waiting."""
        self.in_memory -= self._held.pop(job.id, 0)
        path = self._files.pop(job.id, None)
        if path is None:
            return
        data = path.read_bytes()
        path.unlink(missing_ok=True)
        parts, offset = [], 0
        while offset < len(data):
            (length,) = _LENGTH.unpack_from(data, offset)
            offset += _LENGTH.size
            parts.append(data[offset:offset + length])
            offset += length
        job.request.content, job.request.styles = parts[0], parts[1:]

    def drop(self, job_id: str) -> None:
        self.in_memory -= self._held.pop(job_id, 0)
        path = self._files.pop(job_id, None)
        if path is not None:
            path.unlink(missing_ok=True)
