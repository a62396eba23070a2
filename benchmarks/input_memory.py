"""Peak RSS of ``python -m ml_models run johnson --preset mosaic`` per kind of input picture.

Usage: ``python -m benchmarks.input_memory [WEIGHTS_DIR [CHECKOUT ...]]`` (default ../shared/weights and this
checkout; name an older checkout too to compare in one run). Each case runs in a fresh process that reports its own
VmHWM at exit (``ru_maxrss`` would carry a forking parent's peak); the table gives the delta against an ordinary
1024 px JPEG per checkout, the issue's bar being +150 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
_WRAP = ("import atexit, os, runpy, sys\natexit.register(lambda: open(os.environ['PEAK_FILE'], 'w').write(next(\n"
         "    l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]))\n"
         "sys.argv = ['ml_models'] + sys.argv[1:]\nrunpy.run_module('ml_models', run_name='__main__')\n")


def _photo(side: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.dstack([x * 255, y * 255, (1 - x) * 200])
    return np.clip(base + rng.normal(0, 12, (side, side, 3)), 0, 255).astype(np.uint8)


def make_inputs(folder: Path) -> dict[str, Path]:
    rng, big = np.random.default_rng(0), 6000
    files = {"1024 px RGB JPEG (baseline)": ("base.jpg", Image.fromarray(_photo(1024, rng)), {"quality": 90}),
             "6000 px RGB JPEG": ("big.jpg", Image.fromarray(_photo(big, rng)), {"quality": 92}),
             "6000 px 16-bit grey PNG": ("grey16.png", Image.fromarray(
                 (np.add.outer(np.arange(big), np.arange(big)) * 5).astype(np.uint16)), {}),
             "6000 px palette PNG": ("pal.png", Image.fromarray(_photo(big, rng)[:, :, 0] // 16).convert("P"), {}),
             "6000 px float TIFF": ("float.tif", Image.fromarray(
                 np.linspace(0, 1, big * big, dtype=np.float32).reshape(big, big), "F"),
                 {"compression": "tiff_deflate"}),
             "6000 px RGBA PNG": ("rgba.png", Image.fromarray(np.dstack(
                 [_photo(big, rng), np.full((big, big), 200, np.uint8)])), {"compress_level": 1})}
    for name, im, opts in files.values():
        im.save(folder / name, **opts)
    return {label: folder / name for label, (name, _, _) in files.items()}


def peak_mb(content: Path, weights_dir: Path, folder: Path, repo: Path, runs: int = 3) -> float:
    """The median over ``runs`` fresh processes: one job's peak moves by tens of MiB from run to run."""
    env = {**os.environ, "PEAK_FILE": str(folder / "peak"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    peaks = []
    for _ in range(runs):
        subprocess.run([sys.executable, "-c", _WRAP, "run", "johnson", "--preset", "mosaic", "--content", str(content),
                        "--out", str(folder / "out.jpg"), "--weights-dir", str(weights_dir), "--device", "cpu"],
                       cwd=repo, env=env, check=True, capture_output=True)
        peaks.append(int((folder / "peak").read_text()) / 1024)
    return sorted(peaks)[runs // 2]


def main() -> None:
    weights_dir = Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "weights")
    repos = [Path(r).resolve() for r in sys.argv[2:]] or [REPO]
    with tempfile.TemporaryDirectory() as tmp:
        folder, inputs = Path(tmp), make_inputs(Path(tmp))
        rows = [(label, path.stat().st_size / 1e6, [peak_mb(path, weights_dir, folder, r) for r in repos])
                for label, path in inputs.items()]
    print(f"{'input':30} {'file MB':>8}" + "".join(f" {r.name + ' peak MiB':>22} {'delta':>6}" for r in repos))
    for label, size, peaks in rows:
        cells = zip(peaks, rows[0][2], strict=True)
        print(f"{label:30} {size:8.1f}" + "".join(f" {p:22.0f} {p - b:+6.0f}" for p, b in cells))


if __name__ == "__main__":
    main()
