"""Hostile pictures cost bounded memory: ``images.decode(max_side=...)`` reduces while decoding.

The peak is measured in a fresh subprocess (``VmHWM``), since Pillow's and numpy's buffers are outside tracemalloc.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
from PIL import Image

from ml_models import images
from tests.conftest import REPO

SIDE = 6000

_CHILD = """
import json, sys
from ml_models import images
def hwm():  # peak RSS in KiB (ru_maxrss would carry the parent's peak over the fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # restart the peak here
before = hwm()
out = images.decode(data, 40_000_000, max_side=int(sys.argv[2]) or None)
peak = hwm()
print(json.dumps({"mib": (peak - before) / 1024, "shape": out.rgb.shape, "source": out.source_size,
                  "corners": [out.rgb[0, 0].tolist(), out.rgb[-1, -1].tolist()], "mid": out.rgb[0, 100].tolist()}))
"""


def _grey16_png(path) -> None:
    values = np.zeros((SIDE, SIDE), dtype=np.uint16)
    values[:, SIDE // 2:] = 65535
    values[:, :SIDE // 2] = 32896  # 128 * 257
    values[:100, :100] = 0
    Image.fromarray(values).save(path, "PNG", compress_level=1)


def _decode_in_child(path, max_side: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(max_side)], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_16bit_6000px_png_decodes_within_a_memory_bound(tmp_path):
    path = tmp_path / "grey16.png"
    _grey16_png(path)
    got = _decode_in_child(path, 1024)
    # Pillow's own 16-bit picture is 69 MiB; converting it whole to float64 (the old way) took over 500 MiB more
    assert got["mib"] < 69 + 45, got
    assert got["shape"] == [1200, 1200, 3] and got["source"] == [SIDE, SIDE]
    assert got["corners"] == [[0, 0, 0], [255, 255, 255]] and got["mid"] == [128, 128, 128]


def test_reduction_keeps_at_least_the_side_asked_for_and_the_orientation():
    im = Image.fromarray(np.dstack([np.full((900, 3000), c, np.uint8) for c in (200, 30, 60)]))
    im.paste((0, 0, 255), (0, 0, 300, 90))  # a blue block at the top left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=exif)
    out = images.decode(buf.getvalue(), 40_000_000, max_side=700)
    assert out.source_size == (900, 3000)
    assert out.rgb.shape[0] >= 700 and out.rgb.shape[0] < 3000 and out.rgb.shape[0] / out.rgb.shape[1] > 3.2
    assert out.rgb[5, -5, 2] > 200 and out.rgb[-5, 5, 0] > 180  # blue went to the top right


def test_palette_and_float_pictures_are_reduced_in_their_colours():
    pal = Image.new("P", (2000, 1000))
    pal.putpalette([10, 20, 30, 250, 240, 230] + [0] * 762)
    pal.paste(1, (1000, 0, 2000, 1000))
    out = images.decode(_png(pal), 40_000_000, max_side=500)
    assert out.rgb.shape == (250, 500, 3)
    assert out.rgb[0, 0].tolist() == [10, 20, 30] and out.rgb[0, -1].tolist() == [250, 240, 230]
    values = np.full((1000, 1000), 0.5, np.float32)
    buf = io.BytesIO()
    Image.fromarray(values, "F").save(buf, "TIFF")
    out = images.decode(buf.getvalue(), 40_000_000, max_side=300)
    assert out.rgb.shape == (334, 334, 3) and out.rgb.min() == out.rgb.max() == 128 and out.high_bit_depth


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
