"""Optical flow between input frames, where it can be trusted, and warping along it (OpenCV's DIS).

Flows here are *backward*: ``flow[y, x] = (dx, dy)`` says that pixel (x, y) of frame t was at (x + dx, y + dy) in
frame t-1, which is what warping frame t-1 onto frame t needs. A pixel is reliable when the forward flow brings it
back where it started (the forward-backward check of Sundaram et al. and Ruder et al.), it stays inside the frame,
and its colour matches the warped previous frame; occlusions, cuts and flow failures fail at least one of these.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

PHOTOMETRIC_MAX = 24.0  # 0..255: a larger colour change along the flow is a new surface, not the same one moved
ROUND_TRIP_RELATIVE, ROUND_TRIP_PX2 = 0.01, 1.0  # round trip: |b + f|^2 <= rel (|b|^2 + |f|^2) + px2 (1 px: DIS fast)


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow; one instance per clip, reused across frames. The fast preset: a tenth of the medium one's
    time at 480p and as good for the filter on the test clips (the reliability checks catch its failures)."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow that maps each pixel of gray ``target`` to its place in gray ``source``, (H, W, 2) float32."""
        return self._dis.calc(np.ascontiguousarray(target), np.ascontiguousarray(source), None)


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (frame t-1) sampled at x + flow(x): frame t-1 moved onto frame t (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray, current: np.ndarray | None = None,
             previous: np.ndarray | None = None) -> np.ndarray:
    """Boolean (H, W): where the backward flow passes the forward-backward, inside-the-frame and colour checks.

    ``forward`` maps frame t-1 to frame t; ``current``/``previous`` are the input frames (gray or RGB: the check
    then uses the largest channel difference) for the colour check, skipped when absent.
    """
    h, w = backward.shape[:2]
    xs, ys = _grid(h, w)
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    fwd_there = cv2.remap(forward, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bx, by, fx, fy = backward[..., 0], backward[..., 1], fwd_there[..., 0], fwd_there[..., 1]
    round_trip = (bx + fx) ** 2 + (by + fy) ** 2
    scale = bx * bx + by * by + fx * fx + fy * fy
    ok = inside & (round_trip <= ROUND_TRIP_RELATIVE * scale + ROUND_TRIP_PX2)
    if current is not None and previous is not None:
        moved = cv2.remap(previous, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = cv2.absdiff(current, moved)
        ok &= (diff.max(axis=-1) if diff.ndim == 3 else diff) <= PHOTOMETRIC_MAX
    return ok
