"""Optical flow between input frames, where it can be trusted, and warping along it (OpenCV's DIS).

Flows here are *backward*: ``flow[y, x] = (dx, dy)`` says that pixel (x, y) of frame t was at (x + dx, y + dy) in
frame t-1, which is what warping frame t-1 onto frame t needs. A pixel is reliable when the forward flow brings it
back where it started (the forward-backward check of Sundaram et al. and Ruder et al.), it stays inside the frame,
and its colour matches the warped previous frame; occlusions, cuts and flow failures fail at least one of these.
"""

from __future__ import annotations

import cv2
import numpy as np

PHOTOMETRIC_MAX = 24.0  # 0..255: a larger colour change along the flow is a new surface, not the same one moved


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow (fast preset with variational refinement); one instance per clip, reused across frames."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow that maps each pixel of gray ``target`` to its place in gray ``source``, (H, W, 2) float32."""
        return self._dis.calc(np.ascontiguousarray(target), np.ascontiguousarray(source), None)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (frame t-1) sampled at x + flow(x): frame t-1 moved onto frame t (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray, current: np.ndarray | None = None,
             previous: np.ndarray | None = None) -> np.ndarray:
    """Boolean (H, W): where the backward flow passes the forward-backward, inside-the-frame and colour checks.

    ``forward`` maps frame t-1 to frame t; ``current``/``previous`` are the input frames (RGB or gray) for the
    colour check, skipped when absent.
    """
    h, w = backward.shape[:2]
    xs, ys = _grid(h, w)
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    fwd_there = cv2.remap(forward, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((backward + fwd_there) ** 2, axis=-1)
    scale = np.sum(backward**2, axis=-1) + np.sum(fwd_there**2, axis=-1)
    ok = inside & (round_trip <= 0.01 * scale + 0.5)
    if current is not None and previous is not None:
        moved = warp(previous, backward).astype(np.float32)
        diff = np.abs(current.astype(np.float32) - moved)
        ok &= (diff.max(axis=-1) if diff.ndim == 3 else diff) <= PHOTOMETRIC_MAX
    return ok
