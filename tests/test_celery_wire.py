# ruff: noqa: F811 - pytest fixtures imported from tests.test_celery are redefined as arguments
"""Nothing from the broker is unpickled: Celery carries JSON, images travel under their own Redis keys.

A real redis-server and a real ``celery worker`` (fixtures from ``tests.test_celery``). A pickled task whose payload
would create a marker directory when unpickled is put on the worker's queue, and a pickled record in the result
backend is read by the bot's app: neither is unpickled, and a JSON job still goes through end to end.
"""

from __future__ import annotations

import os
import pickle
import time

import pytest
import redis
from celery import Celery

from jobs import Done, Failed, JobSettings, make_executor, wire
from jobs.celery_app import TASK_NAME, make_app
from ml_models.api import JobRequest, JobResult
from ml_models.errors import BadRequest, EngineError, error_from_json
from tests.test_celery import (  # noqa: F401 - fixtures
    _png,
    collect,
    executor_settings,
    make_job,
    queue_name,
    redis_url,
    workers,
)

pytestmark = pytest.mark.timeout(60)


class _Evil:
    """Unpickling this creates ``marker``: the proof that something was unpickled."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


async def test_pickled_task_is_refused_and_json_jobs_round_trip(redis_url, workers, queue_name, tmp_path):
    worker, _ = workers.start()
    marker = tmp_path / "unpickled"
    attacker = Celery("attacker", broker=redis_url, set_as_current=False)
    attacker.conf.update(task_serializer="pickle", accept_content=["pickle"])
    attacker.send_task(TASK_NAME, args=("evil-job", _Evil(marker)), queue=queue_name, serializer="pickle")
    attacker.close()

    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path))
    await executor.start()
    try:
        job = make_job(1, steps=2, step_s=0.01)
        job.request.styles = [b"style-bytes"]
        job.request.style_weights = [1.0]
        events = await collect(await executor.submit(job), 20)
    finally:
        await executor.stop()
    assert isinstance(events[-1], Done), events[-1]
    assert events[-1].result.image == b"sleepy:" + _png()[:8] and events[-1].result.info["pid"] == worker.pid
    log = (tmp_path / "worker0.log").read_text()
    assert "untrusted content of type pickle" in log, log[-2000:]
    assert not marker.exists()
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 5
    while client.exists(wire.blob_key(job.id, "in"), wire.blob_key(job.id, "out")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.exists(wire.blob_key(job.id, "in"), wire.blob_key(job.id, "out"))  # images deleted


def test_pickled_result_in_the_backend_is_not_unpickled(redis_url, tmp_path):
    marker = tmp_path / "unpickled"
    app = make_app(executor_settings(redis_url, "q", tmp_path))
    client = redis.Redis.from_url(redis_url)
    client.set("celery-task-meta-evil", pickle.dumps({"status": "SUCCESS", "result": _Evil(marker)}))
    with pytest.raises(Exception):  # noqa: B017 - whatever the JSON decoder says, it must not unpickle
        app.backend.get_task_meta("evil")
    assert not marker.exists()
    app.close()


def test_blobs_carry_the_images_with_a_ttl(redis_url):
    client = redis.Redis.from_url(redis_url)
    request = JobRequest("adain", b"\x00content\xff", styles=[b"s0", b"s1"], style_weights=[0.3, 0.7],
                         options={"strength": 0.5}, output_format="png")
    data = wire.put_request(client, "j1", request)
    assert 0 < client.ttl(wire.blob_key("j1", "in")) <= wire.BLOB_TTL_S
    assert b"content" not in repr(data).encode()
    assert wire.get_request(client, "j1", data) == request
    outcome = wire.done(client, "j1", JobResult(b"\x89PNG...", "image/png", 4, 3, 1.5, {"pid": 7}))
    assert wire.read_outcome(client, "j1", outcome) == ("done", JobResult(b"\x89PNG...", "image/png", 4, 3, 1.5,
                                                                          {"pid": 7}))
    wire.forget(client, "j1")
    assert wire.read_outcome(client, "j1", outcome)[0] == "invalid"
    with pytest.raises(ValueError):
        wire.get_request(client, "j1", data)


def test_errors_come_back_as_their_own_class_and_never_as_an_arbitrary_one():
    back = error_from_json(BadRequest(message="no", option="mode").to_json())
    assert type(back) is BadRequest and back.code == "bad_request" and back.details == {"option": "mode"}
    forged = error_from_json({"error": "Popen", "code": "x", "message": "m", "details": {}})
    assert type(forged) is EngineError and forged.code == "x"


def test_tls_is_verified_by_default_and_turning_it_off_is_logged(tmp_path, caplog):
    import ssl

    from jobs.celery_app import ssl_options

    assert ssl_options("redis://h:1/0") is None
    assert ssl_options("rediss://:pw@h:1/0") == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = JobSettings.from_env({"REDIS_URL": "rediss://h:1/0", "REDIS_CA_CERT": str(ca)})
    assert ssl_options(settings.redis_url, settings.redis_ssl_cert_reqs, settings.redis_ca_cert) == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(ca)}
    with pytest.raises(ValueError, match="REDIS_CA_CERT"):
        ssl_options("rediss://h:1/0", "required", str(tmp_path / "missing.pem"))
    with caplog.at_level("WARNING", "jobs.celery"):
        assert ssl_options("rediss://h:1/0", "none") == {"ssl_cert_reqs": ssl.CERT_NONE}
    assert "not checked" in caplog.text


async def test_celery_job_over_the_memory_limit_fails_as_too_large_and_the_worker_exits(
        redis_url, workers, queue_name, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKER_MEMORY_MB", "400")
    worker, _ = workers.start()
    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path))
    await executor.start()
    try:
        events = await collect(await executor.submit(make_job(1, steps=1, hold_mb=600)), 20)
    finally:
        await executor.stop()
    assert isinstance(events[-1], Failed) and events[-1].code == "too_large", events[-1]
    assert worker.wait(20) == 0  # a warm shutdown after the acknowledged task; its supervisor restarts it


async def test_dialogue_storage_on_rediss_uses_the_same_tls_policy(tmp_path):
    import ssl

    import bot_init
    from config import load_settings

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings({"BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345", "REDIS_URL": "rediss://h:1/0",
                              "REDIS_CA_CERT": str(ca), "DATA_DIR": str(tmp_path)}, dotenv_path=None)
    storage, _ = bot_init.build_storage(settings)
    kwargs = storage.redis.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == str(ca) and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    await storage.close()
