"""The SQLite journal: one row per job, so nothing accepted is silently lost across a restart or a crash.

The row holds everything needed to run the job again except the image bytes (the bot downloads them again by their
Telegram ``file_id``), and the timings that feed the statistics and the ETA. WAL mode with ``synchronous=NORMAL``
makes each write a cheap append (no fsync per commit), which is why the executors call it directly from the event
loop; a lock keeps it safe if ``stats()`` is called from another thread.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from ml_models.api import JobRequest

from .job import Job

UNFINISHED = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    preset TEXT,
    options TEXT NOT NULL,
    style_weights TEXT NOT NULL,
    output_format TEXT NOT NULL,
    content_file_id TEXT,
    style_file_ids TEXT NOT NULL,
    meta TEXT NOT NULL,
    status TEXT NOT NULL,
    executor TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    pixels INTEGER,
    created_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    error_code TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_model_finished ON jobs(model, finished_at);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---------------------------------------------------------------------------------------------- writes

    def add(self, job: Job, executor: str, pixels: int | None = None) -> None:
        """Record an accepted job as queued; a resumed job (same id) is queued again with one more attempt."""
        r = job.request
        now = time.time()
        self._run(
            """INSERT INTO jobs (id, chat_id, user_id, language, model, preset, options, style_weights, output_format,
                   content_file_id, style_file_ids, meta, status, executor, pixels, created_at, queued_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET status='queued', attempts=attempts+1, queued_at=excluded.queued_at,
                   started_at=NULL, executor=excluded.executor, pixels=COALESCE(excluded.pixels, pixels),
                   meta=excluded.meta""",
            (job.id, job.chat_id, job.user_id, job.language, r.model, r.preset, _dumps(r.options),
             _dumps(r.style_weights), r.output_format, job.content_file_id, _dumps(job.style_file_ids),
             _dumps(job.meta), executor, pixels, job.created_at, now),
        )

    def started(self, job_id: str) -> None:
        self._run("UPDATE jobs SET status='running', started_at=? WHERE id=?", (time.time(), job_id))

    def finish(self, job_id: str, status: str, seconds: float | None = None, error_code: str | None = None,
               error_message: str | None = None) -> None:
        assert status in FINISHED, status
        self._run("UPDATE jobs SET status=?, finished_at=?, seconds=?, error_code=?, error_message=? WHERE id=?",
                  (status, time.time(), seconds, error_code, error_message, job_id))

    def prune(self, older_than_s: float) -> int:
        """Forget finished jobs older than this (the journal is not an archive)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM jobs WHERE status IN ('done','failed','cancelled') AND finished_at<?",
                                   (time.time() - older_than_s,))
            return cur.rowcount

    # ---------------------------------------------------------------------------------------------- reads

    def status(self, job_id: str) -> str | None:
        rows = self._run("SELECT status FROM jobs WHERE id=?", (job_id,))
        return rows[0]["status"] if rows else None

    def unfinished(self) -> list[Job]:
        """Queued or running jobs, oldest first, rebuilt without their image bytes (``content=b""``, ``styles=[]``)."""
        rows = self._run("SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY created_at, queued_at")
        return [_job_from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self._run("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    def medians(self, per_model: int = 200) -> dict[str, float]:
        """Median seconds of the latest successful jobs of each model."""
        rows = self._run("SELECT model, seconds FROM jobs WHERE status='done' AND seconds IS NOT NULL "
                         "ORDER BY finished_at DESC")
        by_model: dict[str, list[float]] = {}
        for row in rows:
            samples = by_model.setdefault(row["model"], [])
            if len(samples) < per_model:
                samples.append(row["seconds"])
        return {model: round(statistics.median(values), 3) for model, values in by_model.items()}

    def history(self, limit: int = 500) -> list[tuple[str, int | None, float]]:
        """(model, pixels, seconds) of the latest successful jobs, oldest first, to seed the ETA."""
        rows = self._run("SELECT model, pixels, seconds FROM jobs WHERE status='done' AND seconds IS NOT NULL "
                         "ORDER BY finished_at DESC LIMIT ?", (limit,))
        return [(row["model"], row["pixels"], row["seconds"]) for row in reversed(rows)]


def _job_from_row(row: sqlite3.Row) -> Job:
    request = JobRequest(model=row["model"], content=b"", preset=row["preset"], styles=[],
                         style_weights=json.loads(row["style_weights"]), options=json.loads(row["options"]),
                         output_format=row["output_format"])
    return Job(request=request, chat_id=row["chat_id"], user_id=row["user_id"], language=row["language"],
               content_file_id=row["content_file_id"], style_file_ids=json.loads(row["style_file_ids"]),
               meta=json.loads(row["meta"]), id=row["id"], created_at=row["created_at"])
