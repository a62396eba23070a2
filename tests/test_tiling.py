"""Tiled inference must be invisible: same pixels as one big forward pass for local networks, bounded tile sizes,
correct progress reports and cancellation between tiles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_models.errors import Cancelled
from ml_models.srvgg import SRVGGNetCompact
from ml_models.tiling import _axis, pad_to_multiple, tiled_rows

TILE, OVERLAP = 32, 16  # blend margin overlap // 4 = 4 input pixels


def _local_net(scale: int) -> nn.Module:
    """Three 3x3 convs (receptive radius 3 < margin 4), then a pixel shuffle for scale > 1."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                               nn.Conv2d(16, 3 * scale * scale, 3, padding=1)]
    if scale > 1:
        layers.append(nn.PixelShuffle(scale))
    return nn.Sequential(*layers).eval()


def tiled_forward(fn, x: torch.Tensor, scale: int, **kwargs) -> torch.Tensor:
    """The strips of ``tiled_rows`` stacked into the whole output."""
    return torch.cat([rows for _, rows in tiled_rows(fn, x, scale, **kwargs)], dim=-2)


def _recording(net: nn.Module, seen: list[tuple[int, int]]):
    def fn(tile: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(tile.shape[-2:]))
        return net(tile)
    return fn


@pytest.mark.parametrize("scale", [1, 4])
@pytest.mark.parametrize("size", [(20, 13), (32, 32), (33, 97), (101, 64), (77, 49)])
def test_tiled_equals_untiled(scale: int, size: tuple[int, int]) -> None:
    net = _local_net(scale)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(2))
    seen: list[tuple[int, int]] = []
    with torch.inference_mode():
        whole = net(x)
        tiled = tiled_forward(_recording(net, seen), x, scale, tile=TILE, overlap=OVERLAP)
    assert tiled.shape == whole.shape == (1, 3, size[0] * scale, size[1] * scale)
    assert (tiled - whole).abs().max().item() < 1e-4
    assert all(h <= TILE and w <= TILE for h, w in seen)  # memory is bounded by the tile, not the image
    if size[0] > TILE or size[1] > TILE:
        assert len(seen) > 1


def test_tiled_srvgg_matches_whole_image() -> None:
    """A real SR architecture: 4 convs (radius 4 = margin) with nearest-upsampled skip connection."""
    torch.manual_seed(3)
    net = SRVGGNetCompact(num_feat=8, num_conv=2).eval()
    x = torch.rand(1, 3, 45, 70)
    with torch.inference_mode():
        assert (tiled_forward(net, x, 4, tile=TILE, overlap=OVERLAP) - net(x)).abs().max().item() < 1e-4


def test_progress_reports_every_tile() -> None:
    calls: list[tuple[int, int]] = []
    x = torch.rand(1, 3, 70, 100)
    expected = len(_axis(70, TILE, OVERLAP)[0]) * len(_axis(100, TILE, OVERLAP)[0])
    tiled_forward(lambda t: t * 2, x, 1, tile=TILE, overlap=OVERLAP, progress=lambda d, t: calls.append((d, t)))
    assert expected == 4 * 6
    assert calls == [(i, expected) for i in range(1, expected + 1)]


def test_cancellation_stops_between_tiles() -> None:
    ran: list[int] = []
    polls = iter([False, False, True])

    def fn(t: torch.Tensor) -> torch.Tensor:
        ran.append(1)
        return t

    with pytest.raises(Cancelled) as err:
        tiled_forward(fn, torch.rand(1, 3, 100, 100), 1, tile=TILE, overlap=OVERLAP, cancelled=lambda: next(polls))
    assert len(ran) == 2 and err.value.code == "cancelled"


def test_tile_origins_keep_the_overlap_and_cover_the_image() -> None:
    for size in range(1, 300):
        starts, length = _axis(size, TILE, OVERLAP)
        assert starts[0] == 0 and starts[-1] + length == size and length <= TILE
        assert all(0 < b - a <= length - OVERLAP for a, b in zip(starts, starts[1:], strict=False))
    assert _axis(512, 256, 16) == ([0, 165, 330], 182)  # work shared evenly, not three full 256 px tiles


def test_bad_tile_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        tiled_forward(lambda t: t, torch.rand(1, 3, 8, 8), 1, tile=16, overlap=16)


def test_pad_to_multiple_reflects_and_reports_the_size() -> None:
    x = torch.arange(30.0).view(1, 1, 5, 6)
    padded, size = pad_to_multiple(x, 4)
    assert size == (5, 6) and padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., :5, :6], x) and torch.equal(padded[..., 5, :6], x[..., 3, :])
    tiny, _ = pad_to_multiple(torch.rand(1, 3, 2, 3), 8)  # too small to reflect: replicated instead
    assert tiny.shape[-2:] == (8, 8)


def test_rows_come_top_to_bottom_and_cover_the_output_once() -> None:
    net = _local_net(4)
    x = torch.rand(1, 3, 77, 49, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        strips = list(tiled_rows(net, x, 4, tile=TILE, overlap=OVERLAP))
        whole = net(x)
    assert len(strips) > 1
    tops = [top for top, _ in strips]
    heights = [rows.shape[-2] for _, rows in strips]
    assert tops[0] == 0 and all(a + h == b for a, h, b in zip(tops, heights, tops[1:], strict=False))
    assert tops[-1] + heights[-1] == 77 * 4
    assert (torch.cat([rows for _, rows in strips], dim=-2) - whole).abs().max().item() < 1e-4


_STRIP_MEMORY = r"""
import resource, sys
import numpy as np, torch
import torch.nn.functional as F
from ml_models.tiling import tiled_rows
torch.set_num_threads(1)
x = torch.randint(0, 256, (1, 3, 4096, 256)).float().div_(255)  # 8-bit levels, like a decoded photo
canvas = np.empty((16384, 1024, 3), dtype=np.uint8)
canvas.fill(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
up = lambda t: F.interpolate(t, scale_factor=4, mode="nearest")
for top, rows in tiled_rows(up, x, 4, tile=256, overlap=32):
    canvas[top:top + rows.shape[-2]] = rows[0].mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
expected = np.asarray(x[0].mul(255).round().to(torch.uint8).permute(1, 2, 0))
assert np.array_equal(canvas[::4, ::4], expected), "stitched pixels differ from the input"
print(grown)
"""


def test_streaming_rows_into_uint8_never_holds_the_float_output() -> None:
    """A 4096 x 256 input upscaled x4 is 192 MiB as float32 (the old whole-image stitching held that plus copies);
    the strips need one row of tiles, 256 x 4 output rows of 1024 px (12 MiB), and a few temporaries of that size,
    however tall the image is.

    glibc raises its mmap threshold after the first large free, after which freed 12 MiB temporaries stay in the heap
    and fragment it (peak RSS then varied 66-128 MiB run to run); a fixed threshold makes RSS measure what is held.
    The input holds 8-bit levels, so the round trip is exact whatever order the CPU's kernels sum the cross-fade in."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    proc = subprocess.run([sys.executable, "-c", _STRIP_MEMORY], capture_output=True, text=True, timeout=240,
                          cwd=Path(__file__).resolve().parents[1], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    grown_mib = float(proc.stdout.split()[-1])
    assert grown_mib < 96, f"peak RSS grew by {grown_mib:.0f} MiB while stitching"
