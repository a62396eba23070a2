"""Flicker table: ``python benchmarks/video_flicker.py`` prints E_warp of the input, of naive per-frame stylisation
and of the temporal filter's output, their ratio, and each output frame's correlation with its per-frame
stylisation, on the synthetic clips (what tests/test_video_steady.py asserts), for Johnson mosaic and MicroAST."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import CONTENT_DIR, SHARED_WEIGHTS, STYLE_DIR  # noqa: E402
from ml_models.api import JobRequest  # noqa: E402
from ml_models.engine import stylise_frames  # noqa: E402
from ml_models.settings import EngineSettings  # noqa: E402
from ml_models.video import flicker, synthetic  # noqa: E402
from ml_models.video.api import TEMPORAL_WEIGHTS  # noqa: E402
from ml_models.video.temporal import TemporalFilter  # noqa: E402


def photo(name: str, side: int) -> np.ndarray:
    image = Image.open(CONTENT_DIR / name).convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image).copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--weight", type=float, help="temporal weight for every model (default: the model's)")
    args = parser.parse_args()
    size, n = tuple(args.size), args.frames
    side = 2 * max(size)
    first, second = photo("chicago.jpg", side), photo("golden_gate.jpg", side)
    clips = {"pan": synthetic.pan(first, n, size), "object": synthetic.moving_object(first, n, size),
             "cut": synthetic.cut(first, second, n, size, at=n // 2)}
    requests = {"johnson": JobRequest("johnson", b"", preset="mosaic"),
                "microast": JobRequest("microast", b"", styles=[(STYLE_DIR / "mosaic.jpg").read_bytes()])}
    settings = EngineSettings(weights_dir=SHARED_WEIGHTS)
    print(f"{n} frames of {size[1]}x{size[0]}; E_warp = mean |out_t - warp(out_t-1)| (0..255) on exact-flow pixels")
    print(f"{'model':<9} {'clip':<7} {'weight':>6} {'input':>6} {'naive':>6} {'steady':>6} {'ratio':>6} "
          f"{'corr mean':>9} {'corr min':>8}")
    for model, request in requests.items():
        weight = TEMPORAL_WEIGHTS[model] if args.weight is None else args.weight
        for name, clip in clips.items():
            naive = list(stylise_frames(request, clip.frames, settings))
            steady = TemporalFilter(weight)
            out = [steady.step(f, s).output for f, s in zip(clip.frames, naive, strict=True)]
            e_in, e_naive, e_out = (flicker.e_warp(x, clip.flows, clip.masks) for x in (clip.frames, naive, out))
            corr = [flicker.correlation(a, b) for a, b in zip(out, naive, strict=True)]
            print(f"{model:<9} {name:<7} {weight:>6.2f} {e_in:>6.2f} {e_naive:>6.2f} {e_out:>6.2f} "
                  f"{e_out / e_naive:>6.3f} {np.mean(corr):>9.3f} {min(corr):>8.3f}")


if __name__ == "__main__":
    main()
