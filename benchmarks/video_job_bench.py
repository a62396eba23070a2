"""What the job layer adds to a clip: ``python -m benchmarks.video_job_bench`` prints a table (CPU named).

The same clip (854x480, 30 fps, Johnson mosaic) three ways in one run, each after a warm-up so the network is loaded:
``run_clip`` on files (the bare video path), ``engine.run`` on a ``JobRequest`` with ``clip`` (bytes to a private
folder and back), and a job of the local worker pool (the bytes over the worker's pipe, progress per frame, the
tracker's view). Rounds rotate the order of the three so the machine's load falls on each alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import SHARED_WEIGHTS, cpu_description  # noqa: E402
from jobs import Done, Job, JobSettings, make_executor  # noqa: E402
from ml_models import engine  # noqa: E402
from ml_models.api import Clip, JobRequest  # noqa: E402
from ml_models.settings import EngineSettings  # noqa: E402
from ml_models.video import synthetic  # noqa: E402
from ml_models.video.api import VideoLimits, VideoRequest  # noqa: E402
from ml_models.video.pipeline import run_clip  # noqa: E402
from tests.video_helpers import write_mp4  # noqa: E402

SIZE = (480, 854)
SETTINGS = EngineSettings(weights_dir=SHARED_WEIGHTS, device="cpu")


def make_clip(path: Path, frames: int) -> Path:
    h, w = SIZE
    return write_mp4(path, synthetic.pan(synthetic.texture(h + frames, w + 2 * frames), frames, SIZE).frames)


def request(data: bytes, frames: int) -> JobRequest:
    return JobRequest("johnson", data, preset="mosaic", options={"max_side": max(SIZE)},
                      clip=Clip(kind="animation", seconds=frames / 30, width=SIZE[1], height=SIZE[0]))


def direct(src: Path, folder: Path) -> float:
    started = time.perf_counter()
    run_clip(VideoRequest("johnson", preset="mosaic", kind="animation"), src, folder / "out.mp4", SETTINGS,
             limits=VideoLimits(max_side=max(SIZE)))
    return time.perf_counter() - started


def in_process(data: bytes, frames: int) -> float:
    started = time.perf_counter()
    engine.run(request(data, frames), SETTINGS)
    return time.perf_counter() - started


async def pooled(executor, data: bytes, frames: int, user: int) -> float:
    started = time.perf_counter()
    handle = await executor.submit(Job(request(data, frames), chat_id=user, user_id=user))
    last = None
    async for event in handle.events():
        last = event
    if not isinstance(last, Done):
        raise RuntimeError(f"pool job ended with {last}")
    return time.perf_counter() - started


async def main(frames: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = make_clip(folder / "in.mp4", frames)
        data = src.read_bytes()
        jobs = JobSettings(data_dir=folder / "data", workers=1, worker_threads=0, engine=SETTINGS)
        executor = make_executor(jobs)
        await executor.start()
        try:
            direct(src, folder)  # warm-ups: the network loaded here and in the worker
            await pooled(executor, data, frames, 0)
            times: dict[str, list[float]] = {"run_clip (files)": [], "engine.run (bytes)": [], "worker pool job": []}
            for n in range(rounds):
                runs = [("run_clip (files)", lambda: direct(src, folder)),
                        ("engine.run (bytes)", lambda: in_process(data, frames)),
                        ("worker pool job", None)]
                for name, run in runs[n % 3:] + runs[:n % 3]:  # each path takes each place in turn
                    times[name].append(await pooled(executor, data, frames, n + 1) if run is None else run())
        finally:
            await executor.stop()
    base = statistics.median(times["run_clip (files)"])
    cpu = cpu_description()
    print(f"CPU: {cpu['model']} ({cpu['logical_cpus']} logical); Johnson mosaic, {frames} frames "
          f"{SIZE[1]}x{SIZE[0]}, median of {rounds}")
    print("| path | seconds (median) | frames/s | vs run_clip |")
    print("|---|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.2f} | {frames / med:.2f} | {med / base:.3f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.frames, args.rounds))
