"""The journal keeps "done" apart from "delivered", in SQLite and in Redis, and says whether it outlives a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobs.job import Job
from jobs.journal import Journal, make_journal
from jobs.settings import JobSettings
from ml_models.api import JobRequest, JobResult
from tests.redis_server import redis_server


def a_job(user_id: int = 7, **meta: object) -> Job:
    request = JobRequest(model="johnson", content=b"jpeg", preset="mosaic", options={"strength": 0.5})
    return Job(request=request, chat_id=user_id, user_id=user_id, language="ru", content_file_id="file-1",
               meta={"recipe": {"kind": "ready"}, **meta})


def a_result() -> JobResult:
    return JobResult(image=b"\x89PNG" + bytes(range(256)) * 10, mime="image/png", width=64, height=32, seconds=1.5,
                     info={"device": "cpu"})


@pytest.fixture
def redis_url(tmp_path: Path):
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def settings(request, tmp_path: Path) -> JobSettings:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return JobSettings(data_dir=tmp_path, redis_url=url, replica_id="web.1")
    return JobSettings(data_dir=tmp_path, replica_id="web.1")


def test_a_done_result_stays_until_delivered_and_survives_reopening(settings: JobSettings) -> None:
    journal = make_journal(settings)
    job, other = a_job(), a_job(8)
    journal.add(job, "local", pixels=4096)
    journal.add(other, "local")
    journal.started(job.id)
    journal.finish(job.id, "done", 1.5, result=a_result())
    journal.finish(other.id, "failed", None, "timeout", "too slow")
    journal.close()

    journal = make_journal(settings)  # a restart
    [(again, result)] = journal.undelivered()
    assert (again.id, again.chat_id, again.language, again.content_file_id) == (job.id, 7, "ru", "file-1")
    assert again.request.options == {"strength": 0.5} and again.meta["recipe"] == {"kind": "ready"}
    assert result == a_result()
    assert journal.delivery_failed(job.id) == 1 and journal.delivery_failed(job.id) == 2
    assert journal.unfinished() == []
    assert [m for m, _, _ in journal.history()] == ["johnson"]
    journal.delivered(job.id)
    assert journal.undelivered() == [] and journal.status(job.id) == "done"
    assert journal.counts()["done"] == 1 and journal.counts()["failed"] == 1
    journal.close()


def test_unfinished_jobs_carry_what_a_resume_needs(settings: JobSettings) -> None:
    journal = make_journal(settings)
    job = a_job(rid=3)
    journal.add(job, "local")
    journal.started(job.id)
    journal.close()
    journal = make_journal(settings)
    [again] = journal.unfinished()
    assert (again.id, again.request.preset, again.meta["rid"], again.style_file_ids) == (job.id, "mosaic", 3, [])
    journal.add(again, "local")  # resumed: queued again
    assert journal.status(job.id) == "queued"
    journal.close()


def test_undelivered_results_expire_after_the_result_ttl(settings: JobSettings) -> None:
    journal = make_journal(settings)
    job = a_job()
    journal.add(job, "local")
    journal.finish(job.id, "done", 1.0, result=a_result())
    journal.prune(90 * 24 * 3600, results_older_than_s=3600)
    assert len(journal.undelivered()) == 1
    journal.prune(90 * 24 * 3600, results_older_than_s=-1)  # everything is older than "in a second"
    assert journal.undelivered() == []
    journal.close()


def test_redis_journal_keeps_each_replicas_jobs_apart(redis_url: str, tmp_path: Path) -> None:
    """A restarting replica resumes its own jobs only; an undelivered result is claimed by one replica at a time."""
    one = make_journal(JobSettings(data_dir=tmp_path, redis_url=redis_url, replica_id="web.1"))
    two = make_journal(JobSettings(data_dir=tmp_path, redis_url=redis_url, replica_id="web.2"))
    job = a_job()
    one.add(job, "celery")
    assert [j.id for j in one.unfinished()] == [job.id] and two.unfinished() == []
    one.finish(job.id, "done", 1.0, result=a_result())
    assert two.undelivered() == []  # fresh and owned by web.1: web.1 sends it
    assert len(one.undelivered()) == 1 and one.undelivered() == []  # claimed by the first pass
    one.delivery_failed(job.id)  # the claim is released with the failure
    assert len(one.undelivered()) == 1
    one.close()
    two.close()


def test_durability_follows_the_configuration(tmp_path: Path, redis_url: str) -> None:
    assert JobSettings.from_env({}).journal_durable
    assert not JobSettings.from_env({"DYNO": "web.1"}).journal_durable  # Heroku wipes the disk at each restart
    assert JobSettings.from_env({"DYNO": "web.1", "JOURNAL_DURABLE": "yes"}).journal_durable
    assert not JobSettings.from_env({"JOURNAL_DURABLE": "no"}).journal_durable
    assert JobSettings.from_env({"DYNO": "web.1"}).replica_id == "web.1"
    assert JobSettings.from_env({}).result_ttl_s == 7 * 24 * 3600
    assert not make_journal(JobSettings(data_dir=tmp_path, journal_durable=False)).durable
    assert make_journal(JobSettings(data_dir=tmp_path, journal_durable=False, redis_url=redis_url)).durable


def test_an_old_sqlite_journal_gains_the_delivery_columns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL, "
               "language TEXT NOT NULL, model TEXT NOT NULL, preset TEXT, options TEXT NOT NULL, "
               "style_weights TEXT NOT NULL, output_format TEXT NOT NULL, content_file_id TEXT, "
               "style_file_ids TEXT NOT NULL, meta TEXT NOT NULL, status TEXT NOT NULL, executor TEXT NOT NULL, "
               "attempts INTEGER NOT NULL DEFAULT 1, pixels INTEGER, created_at REAL NOT NULL, queued_at REAL NOT "
               "NULL, started_at REAL, finished_at REAL, seconds REAL, error_code TEXT, error_message TEXT)")
    db.close()
    journal = Journal(path)
    job = a_job()
    journal.add(job, "local")
    journal.finish(job.id, "done", 1.0, result=a_result())
    assert [j.id for j, _ in journal.undelivered()] == [job.id]
    journal.close()
