"""A clip as one job of the worker pool (or Celery): bytes in, bytes out, like a photo.

``engine.run`` hands a ``JobRequest`` whose ``clip`` is set to ``run_job``. The clip's bytes are written to a private
folder, ``pipeline.run_clip`` streams it to an H.264 MP4 there, and the MP4's bytes go back in the ``JobResult``.
The folder is removed on every path: success, failure and cancellation; a worker killed in the middle (a time
limit, a crash) leaves its folder behind under its pid, and the next clip job on the machine removes the folders
of processes that no longer exist.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ml_models.api import CancelledFn, JobRequest, JobResult, ProgressFn
from ml_models.errors import BadRequest
from ml_models.settings import EngineSettings
from ml_models.video.api import KINDS, VideoLimits, VideoRequest
from ml_models.video.errors import VideoError

WORK_ROOT = Path(tempfile.gettempdir()) / "stylebot-clips"
INPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".gif", ".webp", ".avi")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans(root: Path | None = None) -> int:
    """Remove work folders whose process is gone (named ``<pid>-<random>``); returns how many."""
    removed = 0
    for folder in (root or WORK_ROOT).glob("*-*"):
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def run_job(request: JobRequest, settings: EngineSettings | None = None, progress: ProgressFn | None = None,
            cancelled: CancelledFn | None = None) -> JobResult:
    """Stylise the clip in ``request.content``; the result's ``image`` holds the MP4 bytes."""
    from ml_models.video.pipeline import run_clip  # PyAV, OpenCV and torch: only where a clip is run

    clip = request.clip
    if clip is None:
        raise BadRequest(message="not a clip request")
    if clip.kind not in KINDS:
        raise VideoError("video_unsupported", f"kind {clip.kind!r} is not one of {', '.join(KINDS)}")
    if not request.content:
        raise VideoError("video_corrupt", "the clip is empty")
    suffix = clip.suffix.lower() if clip.suffix.lower() in INPUT_SUFFIXES else ".mp4"
    limits = VideoLimits(max_seconds=clip.max_seconds, max_fps=clip.max_fps)
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    sweep_orphans()
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=WORK_ROOT))
    try:
        src, dst = folder / f"in{suffix}", folder / "out.mp4"
        src.write_bytes(request.content)
        video = VideoRequest(model=request.model, preset=request.preset, styles=list(request.styles),
                             style_weights=list(request.style_weights), options=dict(request.options),
                             kind=clip.kind)
        result = run_clip(video, src, dst, settings, progress, cancelled, limits)
        data = dst.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info = {"kind": clip.kind, "frames": result.frames, "fps": round(result.fps, 3),
            "duration": round(result.duration, 3), "has_audio": result.has_audio, **result.info}
    return JobResult(image=data, mime=result.mime, width=result.width, height=result.height,
                     seconds=result.seconds, info=info)
