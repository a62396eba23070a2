"""A clip as one Celery task: the clip's bytes travel through Redis beside the JSON request (its ``clip`` included),
a real ``celery worker`` runs the engine (Johnson, genuine weights) and the MP4 comes back; frames are progress and
the worker's temporary folder is empty afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobs import Done, Job, Progress, make_executor
from ml_models.api import Clip, JobRequest
from tests.celery_worker import start_celery_worker
from tests.conftest import WEIGHTS, need
from tests.test_celery import VISIBILITY_S, collect, executor_settings, queue_name, redis_url  # noqa: F401
from tests.video_helpers import pan_mp4, read_frames

pytestmark = pytest.mark.timeout(120)


def start_worker(redis: str, queue: str, logs: Path, temp: Path) -> subprocess.Popen:
    return start_celery_worker(redis, queue, logs / "worker.log", JOB_RUNNER="ml_models.engine:run",
                               CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_S), WEIGHTS_DIR=str(WEIGHTS), TMPDIR=str(temp))


async def test_a_clip_runs_as_one_celery_task(redis_url, queue_name, tmp_path):  # noqa: F811
    need(WEIGHTS / "johnson")
    temp = tmp_path / "tmp"
    temp.mkdir()
    worker = start_worker(redis_url, queue_name, tmp_path, temp)
    executor = make_executor(executor_settings(redis_url, queue_name, tmp_path / "data"))
    await executor.start()
    try:
        data = pan_mp4(tmp_path / "in.mp4", frames=12, audio_seconds=0.3).read_bytes()
        request = JobRequest("johnson", data, preset="mosaic",
                             clip=Clip(kind="video", seconds=0.4, width=128, height=96))
        events = await collect(await executor.submit(Job(request, chat_id=7, user_id=7)), 90)
    finally:
        await executor.stop()
        worker.terminate()
        worker.wait(10)
    assert isinstance(events[-1], Done), (events[-1], (tmp_path / "worker.log").read_text()[-3000:])
    result = events[-1].result
    assert result.mime == "video/mp4" and result.info["frames"] == 12 and result.info["kind"] == "video"
    assert all(p.total == 12 for p in events if isinstance(p, Progress))
    (tmp_path / "out.mp4").write_bytes(result.image)
    frames, _, kinds = read_frames(tmp_path / "out.mp4")
    assert len(frames) == 12 and kinds == ["video", "audio"]
    assert [p for p in temp.rglob("*") if p.is_file()] == []
