"""What crosses Redis between the bot and the Celery workers: JSON for the broker, image bytes under their own keys.

Celery accepts JSON only (pickle from a Redis that someone else can write to would run their code on the workers and
on the bot that holds the token). The photos do not go inside the JSON: they are stored raw in a Redis hash per job
and direction, ``jobs:blob:<job id>:in`` (``content``, ``style0``...) and ``jobs:blob:<job id>:out`` (``image``), with
a TTL so an abandoned job cannot leave them behind; base64 in the JSON measured several times slower and twice the
memory for a 20 MiB photo (``benchmarks/celery_payload.py``). Outcomes are ``{"status": "done" | "failed" |
"cancelled", ...}`` dicts. ``ssl_options`` is the TLS policy of every Redis connection (Celery, the bot's client,
the dialogue storage): the certificate is verified unless the operator says otherwise.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

from ml_models.api import JobRequest, JobResult
from ml_models.errors import EngineError, error_from_json

log = logging.getLogger("jobs.celery")

BLOB_TTL_S = 24 * 3600
"""How long images wait in Redis: a queued job's input must outlive the queue, a result the bot's next poll."""


def blob_key(job_id: str, direction: str) -> str:
    """``jobs:blob:<job id>:in`` or ``:out``."""
    return f"jobs:blob:{job_id}:{direction}"


def put_request(redis: Any, job_id: str, request: JobRequest) -> dict[str, Any]:
    """Store the request's images under the job's ``in`` key; returns the JSON half for the task message."""
    fields = {"content": request.content, **{f"style{i}": s for i, s in enumerate(request.styles)}}
    pipe = redis.pipeline()
    pipe.delete(blob_key(job_id, "in"))
    pipe.hset(blob_key(job_id, "in"), mapping=fields)
    pipe.expire(blob_key(job_id, "in"), BLOB_TTL_S)
    pipe.execute()
    return request.to_json()


def get_request(redis: Any, job_id: str, data: dict[str, Any]) -> JobRequest:
    """The request a task message describes, with its images from Redis; ``ValueError`` when they are gone."""
    fields = redis.hgetall(blob_key(job_id, "in"))
    if b"content" not in fields:
        raise ValueError(f"the input of job {job_id} is no longer in Redis (expired or deleted)")
    styles = [fields[f"style{i}".encode()] for i in range(int(data.get("styles", 0)))
              if f"style{i}".encode() in fields]
    return JobRequest.from_json(data, fields[b"content"], styles)


def done(redis: Any, job_id: str, result: JobResult) -> dict[str, Any]:
    """Store a result's image under the job's ``out`` key; returns the outcome for the result backend."""
    redis.set(blob_key(job_id, "out"), result.image, ex=BLOB_TTL_S)
    return {"status": "done", "result": result.to_json()}


def failed(error: EngineError) -> dict[str, Any]:
    return {"status": "failed", "error": error.to_json()}


CANCELLED: dict[str, Any] = {"status": "cancelled"}


def read_outcome(redis: Any, job_id: str, outcome: Any) -> tuple:
    """A stored outcome as ``("done", JobResult)``, ``("failed", EngineError)`` or ``("cancelled",)``.

    Reads the result image from Redis (a blocking call: run it off the event loop). Anything else is reported as
    ``("invalid", text)`` for the caller to fail the job with.
    """
    status = outcome.get("status") if isinstance(outcome, dict) else None
    if status == "done":
        image = redis.get(blob_key(job_id, "out"))
        if image is None:
            return ("invalid", f"the result image of job {job_id} is no longer in Redis")
        try:
            return ("done", JobResult.from_json(outcome.get("result"), image))
        except (ValueError, KeyError, TypeError) as exc:
            return ("invalid", f"unreadable result of job {job_id}: {exc}")
    if status == "failed" and isinstance(outcome.get("error"), dict):
        return ("failed", error_from_json(outcome["error"]))
    if status == "cancelled":
        return ("cancelled",)
    return ("invalid", f"unexpected task result {outcome!r}"[:300])


def forget(redis: Any, job_id: str) -> None:
    """Delete both of a job's images (after delivery, or when it ended without a result)."""
    redis.delete(blob_key(job_id, "in"), blob_key(job_id, "out"))


def ssl_options(redis_url: str | None, cert_reqs: str = "required", ca_cert: str | None = None
                ) -> dict[str, Any] | None:
    """TLS options for ``rediss://`` URLs: the certificate is verified unless ``cert_reqs`` (REDIS_SSL_CERT_REQS) is
    ``none``, the operator's explicit choice, which is logged as a warning.

    ``ca_cert`` (REDIS_CA_CERT) is the path of the provider's CA certificate (Heroku Redis and others sign with their
    own CA).
    """
    if not redis_url or not redis_url.startswith("rediss://"):
        return None
    if "ssl_cert_reqs=none" in redis_url.lower().replace("cert_none", "none"):
        log.warning("REDIS_URL turns TLS certificate checks off: anyone between this process and Redis can read and "
                    "change the jobs")
    if "ssl_cert_reqs" in redis_url:
        return None
    reqs = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(cert_reqs.strip().lower(), ssl.CERT_REQUIRED)
    options: dict[str, Any] = {"ssl_cert_reqs": reqs}
    if reqs == ssl.CERT_NONE:
        log.warning("REDIS_SSL_CERT_REQS=none: the Redis server's TLS certificate is not checked, so anyone between "
                    "this process and Redis can read and change the jobs; set REDIS_CA_CERT to the provider's CA "
                    "instead")
    if ca_cert:
        if not os.path.isfile(ca_cert):
            raise ValueError(f"REDIS_CA_CERT={ca_cert} is not a readable file")
        options["ssl_ca_certs"] = ca_cert
    return options
