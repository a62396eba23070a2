"""The README gallery generator (``scripts/make_gallery.py``, run by ``make gallery``).

The end-to-end test runs the script as a program, the way ``make gallery`` does (its own ``sys.path`` set-up,
argument parsing, torch loaded only after the cheap checks), on the fast rows at a tiny cell size with the genuine
weights and photos from ``../shared``. The other tests cover the parts that need neither torch nor the shared data:
refusing unknown rows, skipping families whose weights are absent, and keeping the PNG under its size budget.
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
         "--weights-dir", str(WEIGHTS), "--images-dir", str(IMAGES)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and out.stat().st_size > 0
    assert "wrote" in proc.stdout and "3 rows" in proc.stdout, proc.stdout

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
