"""Image geometry shared by the networks: padding to a stride multiple and tiled inference.

``tiled_rows`` keeps the network and the tiling apart (as Real-ESRGAN's ``RealESRGANer`` does): any function that
maps an NCHW tile to an NCHW tile ``scale`` times larger can run on an image of any size with bounded memory. Tiles
overlap; in each overlap the two outputs are cross-faded with linear weights that start a small margin inside the
overlap, so pixels that saw a tile border (zero/reflect padding) get weight 0 and there is no visible seam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from ml_models.errors import Cancelled


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad H and W at the bottom/right up to a multiple (reflection, or replication when the image is too small).

    Returns the padded tensor and the original (H, W) to crop back to.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def _axis(size: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """Tile origins and tile length along one axis: the fewest tiles of at most ``tile`` pixels that overlap their
    neighbours by at least ``overlap``, shrunk to share the work evenly (512 px with tile 256 -> 3 x 182, not 3 x 256).
    """
    if size <= tile:
        return [0], size
    n = -(-(size - overlap) // (tile - overlap))
    length = -(-(size + (n - 1) * overlap) // n)
    return [round(i * (size - length) / (n - 1)) for i in range(n)], length


def _ramp(length: int, before: int, after: int, margin: int) -> Tensor:
    """1-D blend weight of one tile: 0 for ``margin`` pixels at an inner edge, then linear up to 1.

    ``before``/``after`` are the overlaps with the previous/next tile (0 at the image border: weight 1 up to the edge).
    """
    pos = torch.arange(length, dtype=torch.float32) + 0.5
    weight = torch.ones(length)
    for overlap, dist in ((before, pos), (after, length - pos)):
        if overlap:
            width = max(overlap - 2 * margin, 1)
            weight = torch.minimum(weight, ((dist - margin) / width).clamp(0.0, 1.0))
    return weight


def _gap(starts: list[int], i: int, step: int, length: int) -> int:
    """Overlap (input pixels) between tile ``i`` and its neighbour ``i + step``; 0 when there is none."""
    j = i + step
    if not 0 <= j < len(starts):
        return 0
    lo, hi = sorted((starts[i], starts[j]))
    return max(lo + length - hi, 0)


def tiled_rows(fn: Callable[[Tensor], Tensor], x: Tensor, scale: int, tile: int = 256, overlap: int = 16,
               progress: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> Iterator[tuple[int, Tensor]]:
    """Run ``fn`` on overlapping crops (at most ``tile`` square) of ``x`` (NCHW) and yield the stitched output as
    finished horizontal strips ``(first output row, float32 strip)``, top to bottom.

    Only one row of tiles is held at a time (plus the overlap it shares with the next row), so a caller that writes
    each strip into a compact canvas (``uint8``) never holds the whole float32 output: a 2048 px input upscaled x4 is
    a 768 MiB float32 image but a 100 MiB strip. Exact (up to rounding) wherever ``fn``'s receptive radius is at most
    ``overlap // 4`` input pixels; wider nets still get a smooth cross-fade. ``progress(done, total)`` is called after
    every tile and ``cancelled()`` is polled before each one (raising ``Cancelled``).
    """
    if tile <= overlap or overlap < 0:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap}) >= 0")
    height, width = x.shape[-2:]
    (ys, th), (xs, tw) = _axis(height, tile, overlap), _axis(width, tile, overlap)
    total = len(ys) * len(xs)
    margin = overlap // 4 * scale
    ramps_y = [_ramp(th * scale, _gap(ys, i, -1, th) * scale, _gap(ys, i, 1, th) * scale, margin)
               for i in range(len(ys))]
    ramps_x = [_ramp(tw * scale, _gap(xs, i, -1, tw) * scale, _gap(xs, i, 1, tw) * scale, margin)
               for i in range(len(xs))]
    # The weights are separable and the tiles form a grid, so the sum of weights is an outer product.
    norm_y, norm_x = torch.zeros(height * scale), torch.zeros(width * scale)
    for y0, wy in zip(ys, ramps_y, strict=True):
        norm_y[y0 * scale:(y0 + th) * scale] += wy
    for x0, wx in zip(xs, ramps_x, strict=True):
        norm_x[x0 * scale:(x0 + tw) * scale] += wx
    carry: Tensor | None = None  # rows of the previous strip that the current tile row also covers
    done = 0
    for iy, y0 in enumerate(ys):
        top, bottom = y0 * scale, (y0 + th) * scale
        strip: Tensor | None = None
        for ix, x0 in enumerate(xs):
            if cancelled is not None and cancelled():
                raise Cancelled(message="cancelled between tiles", done=done, total=total)
            result = fn(x[..., y0:y0 + th, x0:x0 + tw])
            if result.shape[-2:] != (th * scale, tw * scale):
                raise ValueError(f"fn returned {tuple(result.shape[-2:])} for a {th}x{tw} tile at scale {scale}")
            if strip is None:
                strip = result.new_zeros((*result.shape[:-2], bottom - top, width * scale), dtype=torch.float32)
                if carry is not None:
                    strip[..., :carry.shape[-2], :] += carry
            weight = (ramps_y[iy][:, None] * ramps_x[ix][None, :]).to(strip.device)
            strip[..., x0 * scale:(x0 + tw) * scale].addcmul_(result.float(), weight)  # no strip-sized temporary
            done += 1
            if progress is not None:
                progress(done, total)
        assert strip is not None
        finished = (ys[iy + 1] * scale - top) if iy + 1 < len(ys) else bottom - top
        carry = strip[..., finished:, :].clone() if finished < bottom - top else None
        rows = strip[..., :finished, :]
        rows.div_(norm_y[top:top + finished, None].to(rows.device)).div_(norm_x.to(rows.device))
        yield top, rows

