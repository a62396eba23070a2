"""Clip throughput and memory: ``python -m benchmarks.video_bench`` prints a table (CPU named).

1. The video path (``run_clip``: decode, stylise, temporal filter, encode) against single-image throughput (one
   ``engine.run`` photo job per frame, PNG in and out) on the same frames at the same size, in one run; and the
   video path without the temporal filter (its cost).
2. Wall time of a 5 s 480p 30 fps clip with Johnson and with MicroAST.
3. Peak RSS against clip length, each length in a fresh process (streaming: it should not grow).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import SHARED_WEIGHTS, STYLE_DIR, cpu_description, encode_png  # noqa: E402
from ml_models import engine  # noqa: E402
from ml_models.api import JobRequest  # noqa: E402
from ml_models.settings import EngineSettings  # noqa: E402
from ml_models.video import synthetic  # noqa: E402
from ml_models.video.api import VideoLimits, VideoRequest  # noqa: E402
from ml_models.video.pipeline import run_clip  # noqa: E402
from tests.video_helpers import read_frames, write_mp4  # noqa: E402

SIZE_480P = (480, 854)
SETTINGS = EngineSettings(weights_dir=SHARED_WEIGHTS)


def clip_frames(frames: int, size: tuple[int, int]) -> list:
    h, w = size
    return synthetic.pan(synthetic.texture(h + frames, w + 2 * frames), frames, size, step=(2, 1)).frames


def models() -> dict[str, VideoRequest]:
    style = (STYLE_DIR / "candy.jpg").read_bytes()
    return {"johnson": VideoRequest("johnson", preset="mosaic", kind="animation"),
            "microast": VideoRequest("microast", styles=[style], kind="animation")}


def video_seconds(request: VideoRequest, src: Path, folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = run_clip(request, src, folder / "out.mp4", SETTINGS, limits=VideoLimits(max_side=max(SIZE_480P)))
    return time.perf_counter() - started, result.frames


def photo_seconds(request: VideoRequest, frames: list) -> float:
    jobs = [JobRequest(request.model, encode_png(f), preset=request.preset, styles=request.styles,
                       options={"max_side": max(SIZE_480P)}, output_format="png") for f in frames]
    started = time.perf_counter()
    for job in jobs:
        engine.run(job, SETTINGS)
    return time.perf_counter() - started


def memory_child(src: str) -> None:
    """Runs in a fresh process on a clip the parent wrote (so the child never holds the clip's frames)."""
    run_clip(models()["johnson"], Path(src), Path(src).with_name("out.mp4"), SETTINGS,
             limits=VideoLimits(max_seconds=60))
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's high-water mark across exec
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1]
    print(int(status.split()[0]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames for the overhead comparison")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)
    print(f"CPU: {cpu_description().get('model', '?')}; torch threads: {__import__('torch').get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = clip_frames(args.frames, SIZE_480P)
        src = write_mp4(folder / "in.mp4", frames)
        decoded = read_frames(src)[0]  # what the video path stylises, after H.264
        print(f"\n1. {args.frames} frames of 854x480: one photo job per frame vs the video path, with and without "
              "the temporal filter (frames/s)")
        print(f"{'model':<9} {'photo':>7} {'video':>7} {'video/photo':>11} {'no filter':>9}")
        for name, request in models().items():
            video_seconds(request, src, folder)  # load the network and warm up
            photo = args.frames / photo_seconds(request, decoded)
            seconds, n = video_seconds(request, src, folder)
            plain = n / video_seconds(dataclasses.replace(request, temporal=0.0), src, folder)[0]
            video = n / seconds
            print(f"{name:<9} {photo:>7.2f} {video:>7.2f} {video / photo:>11.2f} {plain:>9.2f}")
        clip = write_mp4(folder / "five.mp4", clip_frames(150, SIZE_480P))
        print("\n2. a 5 s 854x480 30 fps clip (150 frames), wall time")
        for name, request in models().items():
            seconds, n = video_seconds(request, clip, folder)
            print(f"{name:<9} {seconds:6.1f} s  ({n / seconds:.2f} frames/s)")
    print("\n3. peak RSS (VmHWM) against clip length, Johnson at 320x180 (fresh process each)")
    for n in (30, 150, 450):
        with tempfile.TemporaryDirectory() as tmp:
            src = write_mp4(Path(tmp) / "in.mp4", clip_frames(n, (180, 320)))
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(src)], capture_output=True,
                                 text=True, check=True).stdout.split()[-1]
        print(f"{n:>4} frames ({n / 30:4.1f} s): {float(out):7.1f} MiB")


if __name__ == "__main__":
    main()
