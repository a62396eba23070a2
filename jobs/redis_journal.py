"""The journal in Redis: what a Heroku dyno's wiped disk and a second bot replica both need.

Same methods as the SQLite ``Journal``. Each job is a hash with what a resume needs (the Telegram ``file_id``s of its
pictures, options, recipe) and its timings; sorted sets index the unfinished jobs and the done-but-undelivered
ones, whose results sit under their own key until delivered (at most ``RESULT_TTL``). A job belongs to the replica
that accepted it (``REPLICA_ID``, else Heroku's ``DYNO`` name, else the host name), so a restarting replica resumes
its own jobs and never takes over a running neighbour's. Undelivered results are claimed with ``SET NX`` so two
replicas never send the same one twice. Calls are synchronous; the scheduler makes them from its journal thread.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from typing import Any

from ml_models.api import JobRequest, JobResult

from .job import Job
from .journal import FINISHED
from .settings import JobSettings

log = logging.getLogger("jobs.journal")

PREFIX = "artbot:journal"
HISTORY = 500  # latest successful (model, pixels, seconds) kept for the ETA and the medians
FINISHED_KEEP_S = 7 * 24 * 3600  # a finished job's hash expires after this
CLAIM_S = 300  # a replica that claimed an undelivered result has this long to send it
ORPHAN_AFTER_S = 120  # another replica's undelivered result is taken over after this long


def _k(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


def connect(settings: JobSettings) -> Any:
    """A Redis client for REDIS_URL with the job queue's TLS policy (``wire.ssl_options``: verified by default,
    REDIS_CA_CERT, REDIS_SSL_CERT_REQS); redis is imported only when used."""
    import redis

    from .wire import ssl_options

    options = ssl_options(settings.redis_url, settings.redis_ssl_cert_reqs, settings.redis_ca_cert) or {}
    return redis.Redis.from_url(settings.redis_url or "", socket_timeout=10, socket_connect_timeout=10, **options)


class RedisJournal:
    durable = True

    def __init__(self, settings: JobSettings, client: Any = None) -> None:
        self.settings = settings
        self.owner = settings.replica_id
        self.result_ttl_s = int(settings.result_ttl_s)
        self._r = client if client is not None else connect(settings)

    def close(self) -> None:
        self._r.close()

    # ---------------------------------------------------------------------------------------------- writes

    def add(self, job: Job, executor: str, pixels: int | None = None) -> None:
        r = job.request
        now = time.time()
        record = {
            "job": json.dumps({"chat_id": job.chat_id, "user_id": job.user_id, "language": job.language,
                               "model": r.model, "preset": r.preset, "options": r.options,
                               "style_weights": r.style_weights, "output_format": r.output_format,
                               "content_file_id": job.content_file_id, "style_file_ids": job.style_file_ids,
                               "meta": job.meta, "created_at": job.created_at}, ensure_ascii=False, default=str),
            "status": "queued", "executor": executor, "queued_at": now, "owner": self.owner,
        }
        if pixels is not None:
            record["pixels"] = pixels
        pipe = self._r.pipeline()
        pipe.hset(_k("job", job.id), mapping=record)
        pipe.hsetnx(_k("job", job.id), "attempts", 0)
        pipe.hincrby(_k("job", job.id), "attempts", 1)
        pipe.hdel(_k("job", job.id), "started_at")
        pipe.persist(_k("job", job.id))
        pipe.zadd(_k("unfinished"), {job.id: job.created_at})
        pipe.execute()

    def started(self, job_id: str) -> None:
        self._r.hset(_k("job", job_id), mapping={"status": "running", "started_at": time.time()})

    def finish(self, job_id: str, status: str, seconds: float | None = None, error_code: str | None = None,
               error_message: str | None = None, result: JobResult | None = None) -> None:
        assert status in FINISHED, status
        now = time.time()
        fields: dict[str, Any] = {"status": status, "finished_at": now}
        if seconds is not None:
            fields["seconds"] = seconds
        if error_code is not None:
            fields.update(error_code=error_code, error_message=error_message or "")
        pipe = self._r.pipeline()  # MULTI/EXEC: the result and the "done" are written together
        if result is not None:
            pipe.hset(_k("result", job_id), mapping={
                "image": result.image, "mime": result.mime, "width": result.width, "height": result.height,
                "seconds": result.seconds, "info": json.dumps(result.info, default=str)})
            pipe.expire(_k("result", job_id), self.result_ttl_s)
            pipe.zadd(_k("undelivered"), {job_id: now})
        pipe.hset(_k("job", job_id), mapping=fields)
        pipe.expire(_k("job", job_id), max(FINISHED_KEEP_S, self.result_ttl_s))
        pipe.zrem(_k("unfinished"), job_id)
        pipe.hincrby(_k("counts"), status, 1)
        pipe.execute()
        if status == "done" and seconds is not None:
            model, pixels = self._r.hmget(_k("job", job_id), "job", "pixels")
            if model is not None:
                entry = [json.loads(model)["model"], int(pixels) if pixels else None, seconds]
                self._r.lpush(_k("history"), json.dumps(entry))
                self._r.ltrim(_k("history"), 0, HISTORY - 1)

    def delivered(self, job_id: str) -> None:
        pipe = self._r.pipeline()
        pipe.zrem(_k("undelivered"), job_id)
        pipe.delete(_k("result", job_id), _k("claim", job_id))
        pipe.hset(_k("job", job_id), "delivered_at", time.time())
        pipe.execute()

    def delivery_failed(self, job_id: str) -> int:
        self._r.delete(_k("claim", job_id))
        return int(self._r.hincrby(_k("job", job_id), "delivery_attempts", 1))

    def prune(self, older_than_s: float, results_older_than_s: float | None = None) -> int:
        """Finished hashes expire by themselves; drop index entries whose job or result is gone."""
        removed = 0
        for name, kind in (("unfinished", "job"), ("undelivered", "result")):
            for raw in self._r.zrange(_k(name), 0, -1):
                job_id = raw.decode()
                if not self._r.exists(_k(kind, job_id)):
                    self._r.zrem(_k(name), job_id)
                    removed += 1
        if results_older_than_s is not None:
            removed += self._r.zremrangebyscore(_k("undelivered"), 0, time.time() - results_older_than_s)
        return removed

    # ---------------------------------------------------------------------------------------------- reads

    def status(self, job_id: str) -> str | None:
        value = self._r.hget(_k("job", job_id), "status")
        return value.decode() if value is not None else None

    def unfinished(self) -> list[Job]:
        """This replica's queued or running jobs, oldest first, without their image bytes."""
        jobs = []
        for raw in self._r.zrange(_k("unfinished"), 0, -1):
            job_id = raw.decode()
            record = self._r.hgetall(_k("job", job_id))
            if not record or record.get(b"owner", b"").decode() != self.owner:
                continue
            if record.get(b"status", b"").decode() not in ("queued", "running"):
                continue
            jobs.append(_job_from_record(job_id, record))
        return jobs

    def undelivered(self) -> list[tuple[Job, JobResult]]:
        """Done, not delivered: this replica's, or another's left for ``ORPHAN_AFTER_S``; each claimed first."""
        now = time.time()
        found = []
        for raw, finished_at in self._r.zrange(_k("undelivered"), 0, -1, withscores=True):
            job_id = raw.decode()
            record = self._r.hgetall(_k("job", job_id))
            if not record:
                self._r.zrem(_k("undelivered"), job_id)
                continue
            mine = record.get(b"owner", b"").decode() == self.owner
            if not mine and now - finished_at < ORPHAN_AFTER_S:
                continue
            if not self._r.set(_k("claim", job_id), self.owner, nx=True, ex=CLAIM_S):
                continue
            stored = self._r.hgetall(_k("result", job_id))  # the image is read only once the result is claimed
            if not stored:  # expired (RESULT_TTL)
                self._r.zrem(_k("undelivered"), job_id)
                self._r.delete(_k("claim", job_id))
                continue
            result = JobResult(image=stored[b"image"], mime=stored[b"mime"].decode(), width=int(stored[b"width"]),
                               height=int(stored[b"height"]), seconds=float(stored[b"seconds"]),
                               info=json.loads(stored[b"info"]))
            found.append((_job_from_record(job_id, record), result))
        return found

    def counts(self) -> dict[str, int]:
        counts = {k.decode(): int(v) for k, v in self._r.hgetall(_k("counts")).items()}
        counts["queued"] = int(self._r.zcard(_k("unfinished")))
        return counts

    def history(self, limit: int = HISTORY) -> list[tuple[str, int | None, float]]:
        rows = [json.loads(raw) for raw in self._r.lrange(_k("history"), 0, limit - 1)]
        return [(model, pixels, seconds) for model, pixels, seconds in reversed(rows)]

    def medians(self, per_model: int = 200) -> dict[str, float]:
        by_model: dict[str, list[float]] = {}
        for model, _pixels, seconds in reversed(self.history()):
            samples = by_model.setdefault(model, [])
            if len(samples) < per_model:
                samples.append(seconds)
        return {model: round(statistics.median(values), 3) for model, values in by_model.items()}


def _job_from_record(job_id: str, record: dict[bytes, bytes]) -> Job:
    data = json.loads(record[b"job"])
    request = JobRequest(model=data["model"], content=b"", preset=data["preset"], styles=[],
                         style_weights=data["style_weights"], options=data["options"],
                         output_format=data["output_format"])
    return Job(request=request, chat_id=data["chat_id"], user_id=data["user_id"], language=data["language"],
               content_file_id=data["content_file_id"], style_file_ids=data["style_file_ids"], meta=data["meta"],
               id=job_id, created_at=data["created_at"])
