"""The README gallery generator (``scripts/make_gallery.py``, run by ``make gallery``).

The end-to-end test runs the script as a program, the way ``make gallery`` does (its own ``sys.path`` set-up,
argument parsing, torch loaded only after the cheap checks), on the fast rows at a tiny cell size with the genuine
weights and photos from ``../shared``, with a tiny before/after clip. The clip test renders a few frames in-process and
reads the GIF back. The other tests cover the parts that need neither torch nor the shared data: refusing unknown rows,
skipping families whose weights are absent, and keeping the PNG and the GIF under their size budgets.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from tests.conftest import IMAGES, REPO, WEIGHTS, need

SCRIPT = REPO / "scripts" / "make_gallery.py"


def _load_script() -> ModuleType:
    name = "make_gallery_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gallery() -> ModuleType:
    return _load_script()


def _cell(image: Image.Image, gallery: ModuleType, row: int, column: int, cell: int) -> np.ndarray:
    return np.asarray(image.crop(gallery.cell_box(row, column, cell)), dtype=np.float32)


def test_fast_rows_render_a_labelled_gallery(tmp_path: Path, gallery: ModuleType) -> None:
    for path in ("microast/decoder_iter_160000.pth.tar", "johnson/mosaic_nc16.pth", "johnson/candy_nc16.pth"):
        need(WEIGHTS / path)
    need(IMAGES / "content")
    out = tmp_path / "gallery.png"
    cell = 64
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", str(cell), "--rows", "microast,johnson", "--out", str(out),
         "--weights-dir", str(WEIGHTS), "--images-dir", str(IMAGES), "--clip-height", "48", "--clip-frames", "3"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and out.stat().st_size > 0
    assert "wrote" in proc.stdout and "3 rows" in proc.stdout, proc.stdout
    with Image.open(tmp_path / "clip.gif") as clip:  # written next to --out, never into docs/ from a test
        assert clip.format == "GIF" and clip.n_frames == 3

    with Image.open(out) as im:
        assert im.format == "PNG"
        image = im.convert("RGB")
    rows = 3  # MicroAST, Johnson mosaic, Johnson candy
    assert image.size == gallery.canvas_size(rows, cell)
    # Independent of the layout helpers: three rows of 64-pixel cells plus a label strip each, three columns.
    assert rows * cell < image.height < rows * (cell + 60) + 20
    assert 3 * cell < image.width < 3 * cell + 40

    for row in range(rows):
        photo = _cell(image, gallery, row, 0, cell)
        style = _cell(image, gallery, row, 1, cell)
        result = _cell(image, gallery, row, 2, cell)
        for what, pixels in (("photo", photo), ("style", style), ("result", result)):
            assert pixels.std() > 10, f"row {row} {what} cell is blank"
        assert np.abs(result - photo).mean() > 8, f"row {row}: the result looks like the unstylised photo"
        left, top, right, _ = gallery.cell_box(row, 0, cell)
        label = np.asarray(image.crop((0, top - gallery.label_height(cell), image.width, top)).convert("L"))
        assert (label < 100).sum() > 20, f"row {row} has no readable label"


def test_unknown_rows_are_refused_before_loading_torch(capsys: pytest.CaptureFixture[str], gallery: ModuleType,
                                                       tmp_path: Path) -> None:
    assert gallery.main(["--rows", "microast,picasso", "--out", str(tmp_path / "g.png")]) == 2
    assert "picasso" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_families_without_weights_are_skipped_and_named(capsys: pytest.CaptureFixture[str], gallery: ModuleType,
                                                        tmp_path: Path) -> None:
    need(IMAGES / "content")
    empty = tmp_path / "weights"
    empty.mkdir()
    code = gallery.main(["--weights-dir", str(empty), "--images-dir", str(IMAGES), "--rows", "adain,johnson",
                         "--out", str(tmp_path / "g.png")])
    captured = capsys.readouterr()
    assert code == 2
    for skipped in ("skip adain", "skip johnson:mosaic", "skip johnson:candy"):
        assert skipped in captured.out
    assert "no selected family has weights present" in captured.err
    assert not (tmp_path / "g.png").exists()


def test_png_is_reduced_to_a_palette_when_over_budget(gallery: ModuleType) -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    full, how_full = gallery.encode_png(image, 10_000_000)
    assert how_full == "rgb"
    budget = len(full) // 2
    small, how_small = gallery.encode_png(image, budget)
    assert how_small.startswith("palette") and len(small) <= budget
    with Image.open(io.BytesIO(small)) as im:
        assert im.mode == "P" and im.size == (300, 200)


def _halves(frame: Image.Image, height: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """The picture part of a clip frame split at the middle, without the gap and the caption strip."""
    pixels = np.asarray(frame.convert("RGB"), dtype=np.float32)[:height]
    half = (frame.width - gap) // 2
    return pixels[:, :half], pixels[:, half + gap:]


def test_clip_gif_shows_the_pan_left_and_the_stylised_pan_right(gallery: ModuleType) -> None:
    need(WEIGHTS / "johnson" / "mosaic_nc16.pth")
    need(IMAGES / "content" / gallery.CLIP_CONTENT)
    import dataclasses

    from ml_models import engine
    from ml_models.settings import EngineSettings

    settings = dataclasses.replace(EngineSettings.from_env(), weights_dir=WEIGHTS)
    height, count = 48, 4
    frames = gallery.render_clip(engine, settings, IMAGES, height, count)
    data, _ = gallery.encode_gif(frames, 10, 1_000_000)

    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF" and gif.is_animated and gif.n_frames == count
        assert gif.info["duration"] == 100 and gif.info["loop"] == 0
        gap = gallery.clip_gap(height)
        assert gif.width == 2 * (4 * height // 3) + gap and gif.height > height
        shown = []
        for n in range(count):
            gif.seek(n)
            shown.append(_halves(gif, height, gap))
    for n, (left, right) in enumerate(shown):
        assert left.shape == right.shape
        assert left.std() > 10 and right.std() > 10, f"frame {n}: a blank half"
        assert np.abs(right - left).mean() > 12, f"frame {n}: the right half looks like the unstylised input"
    first, last = shown[0][0], shown[-1][0]
    assert np.abs(last - first).mean() > 3, "the input half does not move: no pan"


def test_gif_drops_colours_until_it_fits(gallery: ModuleType) -> None:
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8), "RGB") for _ in range(3)]
    full, how_full = gallery.encode_gif(frames, 10, 10_000_000)
    assert how_full == "256 colours, dithered"
    budget = len(full) - 1
    small, how_small = gallery.encode_gif(frames, 10, budget)
    assert how_small != how_full and len(small) <= budget
    with Image.open(io.BytesIO(small)) as gif:
        assert gif.n_frames == 3 and gif.size == (60, 40)
