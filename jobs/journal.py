"""The SQLite journal: one row per job, so nothing accepted is silently lost across a restart or a crash.

The row holds everything needed to run the job again except the image bytes (the bot downloads them again by their
Telegram ``file_id``), and the timings that feed the statistics and the ETA. WAL mode with ``synchronous=NORMAL``
makes each write a cheap append (no fsync per commit). The scheduler calls the journal from one thread of its own,
in order, so a result stored with its row never holds up the event loop; a lock keeps it safe all the same.

"Done" and "delivered" are separate facts: a finished job's result is stored with its ``done`` row in one
transaction and dropped only when the bot marks it delivered, so a crash or a send that fails in between leaves a
result that ``undelivered()`` hands back for another try (also after a restart). ``durable`` says whether this
journal outlives the machine: SQLite on a Heroku dyno's disk does not, so the bot must not promise a resume there.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_models.api import JobRequest, JobResult

from .job import Job

if TYPE_CHECKING:
    from .settings import JobSettings

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
    error_message TEXT,
    delivered_at REAL,
    delivery_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_model_finished ON jobs(model, finished_at);
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    image BLOB NOT NULL,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    seconds REAL NOT NULL,
    info TEXT NOT NULL
);
"""
_ADDED_COLUMNS = {"delivered_at": "REAL", "delivery_attempts": "INTEGER NOT NULL DEFAULT 0"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Journal:
    """The journal in a SQLite file; ``durable`` is decided by the configuration (the disk may be ephemeral)."""

    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS.items():  # journals written before delivery was tracked
            if column not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

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
               error_message: str | None = None, result: JobResult | None = None) -> None:
        """End a job; a ``done`` job's result is kept in the same transaction until it is marked delivered."""
        assert status in FINISHED, status
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if result is not None:
                    self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (job_id, result.image, result.mime, result.width, result.height,
                                      result.seconds, _dumps(result.info)))
                self._db.execute("UPDATE jobs SET status=?, finished_at=?, seconds=?, error_code=?, "
                                 "error_message=? WHERE id=?",
                                 (status, time.time(), seconds, error_code, error_message, job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delivered(self, job_id: str) -> None:
        """The user has the result (or will never get it): drop the stored copy."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE jobs SET delivered_at=? WHERE id=?", (time.time(), job_id))
            self._db.execute("DELETE FROM results WHERE id=?", (job_id,))
            self._db.execute("COMMIT")

    def delivery_failed(self, job_id: str) -> int:
        """Count one more failed delivery of a done job; returns the count so far."""
        rows = self._run("UPDATE jobs SET delivery_attempts=delivery_attempts+1 WHERE id=? "
                         "RETURNING delivery_attempts", (job_id,))
        return int(rows[0]["delivery_attempts"]) if rows else 0

    def prune(self, older_than_s: float, results_older_than_s: float | None = None) -> int:
        """Forget finished jobs older than this (the journal is not an archive), and undelivered results older than
        ``results_older_than_s`` (their job is marked delivered: nobody will get them any more)."""
        now = time.time()
        with self._lock:
            if results_older_than_s is not None:
                self._db.execute("UPDATE jobs SET delivered_at=? WHERE delivered_at IS NULL AND status='done' "
                                 "AND finished_at<?", (now, now - results_older_than_s))
                self._db.execute("DELETE FROM results WHERE id NOT IN "
                                 "(SELECT id FROM jobs WHERE status='done' AND delivered_at IS NULL)")
            cur = self._db.execute("DELETE FROM jobs WHERE status IN ('done','failed','cancelled') AND finished_at<?",
                                   (now - older_than_s,))
            return cur.rowcount

    # ---------------------------------------------------------------------------------------------- reads

    def status(self, job_id: str) -> str | None:
        rows = self._run("SELECT status FROM jobs WHERE id=?", (job_id,))
        return rows[0]["status"] if rows else None

    def unfinished(self) -> list[Job]:
        """Queued or running jobs, oldest first, rebuilt without their image bytes (``content=b""``, ``styles=[]``)."""
        rows = self._run("SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY created_at, queued_at")
        return [_job_from_row(row) for row in rows]

    def undelivered(self) -> list[tuple[Job, JobResult]]:
        """Done jobs whose result has not reached the user yet, oldest first, with the stored result."""
        rows = self._run("SELECT jobs.*, results.image, results.mime, results.width, results.height, "
                         "results.seconds AS result_seconds, results.info FROM jobs JOIN results USING (id) "
                         "WHERE jobs.status='done' AND jobs.delivered_at IS NULL ORDER BY jobs.finished_at")
        return [(_job_from_row(row), JobResult(image=row["image"], mime=row["mime"], width=row["width"],
                                               height=row["height"], seconds=row["result_seconds"],
                                               info=json.loads(row["info"]))) for row in rows]

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


def make_journal(settings: JobSettings) -> Journal:
    """Redis when REDIS_URL is set (durable, shared by bot replicas), else SQLite in DATA_DIR."""
    if settings.redis_url:
        from .redis_journal import RedisJournal

        return RedisJournal(settings)  # type: ignore[return-value]  (same methods)
    return Journal(settings.data_dir / "jobs.sqlite3", durable=settings.journal_durable)
