"""``python -m ml_models run MODEL --content clip.mp4 --out out.mp4``: the CLI's clip path (``.mp4``, ``.webm`` or
``.gif`` out; anything FFmpeg reads, or an animated WebP, in). PyAV and OpenCV load only here, not for list/download."""

from __future__ import annotations

import argparse
import time

from ml_models.settings import EngineSettings
from ml_models.video.api import CLIP_SUFFIXES, VideoLimits, VideoRequest


def wants_clip(args: argparse.Namespace) -> bool:
    return args.out.suffix.lower() in CLIP_SUFFIXES


def run(args: argparse.Namespace, settings: EngineSettings) -> int:
    from ml_models.cli import _Bar, build_request
    from ml_models.video.pipeline import check_model, run_clip

    # the photo path's checks and option parsing; its content bytes are not used (the clip is streamed from disk)
    job = build_request(argparse.Namespace(**{**vars(args), "max_side": None}), settings)
    options = dict(job.options)
    if args.max_side:
        options["max_side"] = args.max_side
    kind = args.kind or ("animation" if args.out.suffix.lower() == ".gif" else "video")
    request = VideoRequest(model=job.model, preset=job.preset, styles=job.styles, style_weights=job.style_weights,
                           options=options, kind=kind)
    spec = check_model(request.model)
    label = f"{spec.id}/{request.preset}" if request.preset else spec.id
    bar = _Bar(label, True)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = run_clip(request, args.content, args.out, settings, progress=bar, limits=VideoLimits.from_env())
    finally:
        bar.close()
    sound = ", with sound" if result.has_audio else ""
    print(f"{label}: {result.width}x{result.height} {result.frames} frames at {result.fps:.3g} fps{sound} "
          f"{result.mime} in {time.perf_counter() - started:.2f} s "
          f"({result.frames / max(result.seconds, 1e-9):.2f} frames/s) -> {args.out}")
    return 0
