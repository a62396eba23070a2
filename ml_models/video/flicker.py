"""Flicker as the warping error E_warp: how much output t differs from output t-1 moved along the flow.

E_warp = mean over frame pairs of the mean absolute difference (0..255 scale) between output t and output t-1
warped by the backward flow, over the pixels the flow says are reliable (Lai et al. 2018 use the squared error; the
absolute one is the stricter of the two for ratios below 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml_models.video.flow import warp


def pair_error(current: np.ndarray, previous: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    moved = warp(previous, flow).astype(np.float32)
    diff = np.abs(current.astype(np.float32) - moved).mean(axis=-1)
    return float(diff[mask].mean()) if mask.any() else 0.0


def e_warp(frames: Sequence[np.ndarray], flows: Sequence[np.ndarray | None],
           masks: Sequence[np.ndarray | None]) -> float:
    """``flows[t]``/``masks[t]`` relate frame t to t-1; entries that are None (first frame, cuts) are skipped."""
    errors = [pair_error(frames[t], frames[t - 1], flows[t], masks[t])
              for t in range(1, len(frames)) if flows[t] is not None and masks[t] is not None]
    return float(np.mean(errors)) if errors else 0.0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' pixel values: how much of the per-frame stylisation a frame keeps."""
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    x -= x.mean()
    y -= y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else 1.0
