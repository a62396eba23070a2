"""Test clips made by code, with their exact backward flow and reliable pixels, to measure flicker against.

- ``pan``: a window sliding across a photo by whole pixels, with mild sensor noise: the flow is known exactly.
- ``moving_object``: a rigid patch crossing a still background; the pixels it uncovers are unreliable.
- ``cut``: a pan over one photo, then over another; no flow across the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Clip:
    frames: list[np.ndarray]  # (H, W, 3) uint8
    flows: list[np.ndarray | None]  # backward flow t -> t-1; None for the first frame and at a cut
    masks: list[np.ndarray | None]  # pixels where that flow is exact


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo stand-in: smooth colour blobs plus fine detail, (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float64)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    for scale in (2, 5, 13, 31):
        for c in range(3):
            (fx, fy), phase = rng.uniform(0.5, 1.5, 2) * scale * np.pi, rng.uniform(0, 2 * np.pi)
            out[..., c] += np.sin(fx * xs + phase) * np.cos(fy * ys + phase) * (60 / scale**0.5)
    return np.clip(out + 128, 0, 255).astype(np.uint8)


def _noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return frame.copy()
    return np.clip(frame + rng.normal(0.0, sigma, frame.shape), 0, 255).astype(np.uint8)


def _shift_mask(height: int, width: int, dx: int, dy: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs + dx >= 0) & (xs + dx < width) & (ys + dy >= 0) & (ys + dy < height)


def pan(photo: np.ndarray, frames: int, size: tuple[int, int], step: tuple[int, int] = (2, 1),
        noise: float = 2.0, seed: int = 0) -> Clip:
    """``frames`` windows of ``size`` = (height, width) moving by ``step`` = (dx, dy) pixels per frame."""
    h, w = size
    dx, dy = step
    need_h, need_w = h + abs(dy) * (frames - 1), w + abs(dx) * (frames - 1)
    if photo.shape[0] < need_h or photo.shape[1] < need_w:
        raise ValueError(f"photo {photo.shape[1]}x{photo.shape[0]} is too small for this pan ({need_w}x{need_h})")
    rng = np.random.default_rng(seed)
    x0, y0 = (0 if dx >= 0 else need_w - w), (0 if dy >= 0 else need_h - h)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    mask = _shift_mask(h, w, dx, dy)
    clip = Clip([], [], [])
    for t in range(frames):
        y, x = y0 + t * dy, x0 + t * dx
        clip.frames.append(_noisy(photo[y:y + h, x:x + w, :3], rng, noise))
        clip.flows.append(None if t == 0 else flow)
        clip.masks.append(None if t == 0 else mask)
    return clip


def moving_object(photo: np.ndarray, frames: int, size: tuple[int, int], velocity: tuple[int, int] = (3, 1),
                  noise: float = 2.0, seed: int = 0) -> Clip:
    """A still crop of ``photo`` with a square patch of its other corner crossing it at ``velocity`` px/frame."""
    h, w = size
    vx, vy = velocity
    side = max(8, min(h, w) // 3)
    if photo.shape[0] < h or photo.shape[1] < w:
        raise ValueError("photo too small for the moving object clip")
    background = photo[:h, :w, :3]
    patch = photo[photo.shape[0] - side:, photo.shape[1] - side:, :3]
    rng = np.random.default_rng(seed)
    clip = Clip([], [], [])
    prev_box = None
    for t in range(frames):
        x, y = 2 + t * vx, h // 3 + t * vy
        frame = background.copy()
        box = np.zeros((h, w), bool)
        ys, xs = slice(max(0, y), min(h, y + side)), slice(max(0, x), min(w, x + side))
        frame[ys, xs] = patch[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
        box[ys, xs] = True
        clip.frames.append(_noisy(frame, rng, noise))
        if prev_box is None:
            clip.flows.append(None)
            clip.masks.append(None)
        else:
            flow = np.zeros((h, w, 2), np.float32)
            flow[box] = (-vx, -vy)
            came_from_patch = box & _shift_mask(h, w, -vx, -vy) & np.roll(prev_box, (vy, vx), axis=(0, 1))
            clip.flows.append(flow)
            clip.masks.append(came_from_patch | (~box & ~prev_box))
        prev_box = box
    return clip


def cut(first: np.ndarray, second: np.ndarray, frames: int, size: tuple[int, int], at: int,
        step: tuple[int, int] = (2, 1), noise: float = 2.0) -> Clip:
    """A pan over ``first`` for ``at`` frames, then a pan over ``second``; frame ``at`` has no flow."""
    a = pan(first, at, size, step, noise, seed=1)
    b = pan(second, frames - at, size, step, noise, seed=2)
    return Clip(a.frames + b.frames, a.flows + b.flows, a.masks + b.masks)
