"""A clip as one job: the engine's entry point hands it to the video path, bytes in and MP4 bytes out, the work
folder gone on every path; the job layer counts it by its frames (queue estimate, time limit) and refuses what is
sure to fail before it takes a place in the queue."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from jobs import Done, Failed, Job, Progress, make_executor, preflight
from jobs.settings import JobSettings
from ml_models import engine, registry
from ml_models.api import Clip, JobRequest
from ml_models.errors import Cancelled
from ml_models.settings import EngineSettings
from ml_models.video import job as clip_job
from ml_models.video.errors import VideoError
from tests.conftest import WEIGHTS, need
from tests.engine_helpers import settings
from tests.video_helpers import pan_mp4, read_frames


@pytest.fixture
def work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "clips"
    monkeypatch.setattr(clip_job, "WORK_ROOT", root)
    return root


def clip_request(data: bytes, kind: str = "animation", model: str = "johnson", **clip) -> JobRequest:
    return JobRequest(model, data, preset="mosaic" if model == "johnson" else None,
                      clip=Clip(kind=kind, **{"seconds": 0.4, "width": 128, "height": 96, **clip}))


def test_a_clip_request_survives_the_broker_form() -> None:
    request = clip_request(b"mp4", kind="video_note", seconds=3.0, width=240, height=240, max_seconds=7.5)
    again = JobRequest.from_json(request.to_json(), b"mp4", [])
    assert again.clip == request.clip and again.clip.frames == 90
    assert JobRequest.from_json(JobRequest("johnson", b"x").to_json(), b"x", []).clip is None
    assert Clip(seconds=0).frames == 15 * 30  # a GIF sent as a file: its length is unknown, the limit counts


def test_a_clip_counts_by_its_frames_and_its_time_limit_grows_with_them() -> None:
    short = clip_request(b"x", seconds=1.0, width=320, height=240)
    long = clip_request(b"x", seconds=10.0, width=320, height=240)
    assert preflight.check(short, EngineSettings(), on_gpu=False) == 30 * 320 * 240
    assert preflight.check(long, EngineSettings(), on_gpu=False) == 300 * 320 * 240
    note = clip_request(b"x", kind="video_note", seconds=1.0, width=640, height=480)
    assert preflight.check(note, EngineSettings(), on_gpu=False) == 30 * 480 * 480  # cropped to a square
    photo = JobRequest("johnson", b"x", preset="mosaic")
    assert preflight.time_limit(photo) == registry.get("johnson").timeout_s
    assert preflight.time_limit(photo) < preflight.time_limit(short) < preflight.time_limit(long)
    assert preflight.time_limit(long, scale=2.0) == pytest.approx(2 * preflight.time_limit(long))
    base = registry.get("johnson").timeout_s
    assert preflight.time_limit(long, clip_cap=base + 60) == base + 60  # Celery: inside the visibility timeout
    assert preflight.time_limit(photo, clip_cap=10) == base  # a picture keeps its model's limit


@pytest.mark.parametrize(("request_", "code"), [
    (clip_request(b"x", model="gatys"), "video_model_unsupported"),
    (clip_request(b"x", model="upscale"), "video_model_unsupported"),
    (clip_request(b"x", seconds=20.0), "video_too_long"),
    (clip_request(b"x" * (20 * 1000 * 1000 + 1)), "video_too_large"),
])
def test_clips_sure_to_fail_are_refused_before_the_queue(request_: JobRequest, code: str) -> None:
    with pytest.raises(VideoError) as err:
        preflight.check(request_, EngineSettings(), on_gpu=False)
    assert err.value.code == code


def test_the_engine_runs_a_clip_and_leaves_nothing_behind(tmp_path: Path, work_root: Path) -> None:
    need(WEIGHTS / "johnson")
    data = pan_mp4(tmp_path / "in.mp4", frames=8, audio_seconds=0.3).read_bytes()
    seen: list[tuple[int, int]] = []
    result = engine.run(clip_request(data, kind="video"), settings(), progress=lambda d, t: seen.append((d, t)))
    assert result.mime == "video/mp4" and (result.width, result.height) == (128, 96)
    assert result.info["frames"] == 8 and result.info["has_audio"] and seen[-1] == (8, 8)
    (tmp_path / "out.mp4").write_bytes(result.image)
    frames, _, kinds = read_frames(tmp_path / "out.mp4")
    assert len(frames) == 8 and kinds == ["video", "audio"]
    assert list(work_root.iterdir()) == []


def test_a_bad_or_cancelled_clip_leaves_nothing_behind(tmp_path: Path, work_root: Path) -> None:
    need(WEIGHTS / "johnson")
    with pytest.raises(VideoError) as err:
        engine.run(clip_request(b"\x00\x00\x00\x20ftypisom" + bytes(200)), settings())
    assert err.value.code == "video_corrupt"
    with pytest.raises(VideoError) as err:
        engine.run(clip_request(b"RIFF....WAVEfmt " + bytes(64), kind="video"), settings())
    assert err.value.code in ("video_corrupt", "no_video_stream")
    data = pan_mp4(tmp_path / "in.mp4", frames=8).read_bytes()
    done: list[int] = []
    with pytest.raises(Cancelled):
        engine.run(clip_request(data), settings(), progress=lambda d, t: done.append(d),
                   cancelled=lambda: len(done) >= 2)
    assert list(work_root.iterdir()) == []


def test_folders_of_dead_workers_are_swept(work_root: Path) -> None:
    work_root.mkdir()
    dead = work_root / "999999999-abc"  # above pid_max: no such process
    mine = work_root / f"{os.getpid()}-xyz"
    dead.mkdir()
    mine.mkdir()
    (dead / "in.mp4").write_bytes(b"left by a killed worker")
    assert clip_job.sweep_orphans() == 1
    assert sorted(p.name for p in work_root.iterdir()) == [mine.name]


@pytest.mark.timeout(120)
async def test_a_clip_is_one_job_of_the_worker_pool(tmp_path: Path) -> None:
    need(WEIGHTS / "johnson")
    data = pan_mp4(tmp_path / "in.mp4", frames=10).read_bytes()
    jobs = JobSettings(data_dir=tmp_path / "data", workers=1, worker_threads=1,
                       engine=EngineSettings(device="cpu", weights_dir=WEIGHTS, styles_dir=WEIGHTS / "styles"))
    executor = make_executor(jobs)
    await executor.start()
    try:
        handle = await executor.submit(Job(clip_request(data, seconds=10 / 30), chat_id=1, user_id=1))

        async def events() -> list:
            return [event async for event in handle.events()]

        seen = await asyncio.wait_for(events(), 110)
    finally:
        await executor.stop()
    progress = [e for e in seen if isinstance(e, Progress)]
    assert not [e for e in seen if isinstance(e, Failed)], seen
    assert [(p.done, p.total) for p in progress][-1] == (10, 10) and len(progress) >= 5
    assert isinstance(seen[-1], Done) and seen[-1].result.mime == "video/mp4"
    assert seen[-1].result.info["frames"] == 10
