"""The temporal filter: each output frame leans on the previous output, moved along the input's optical flow.

Per-frame stylisation flickers: small changes of the input (noise, a pixel of motion) move the network's strokes.
Where the flow is reliable, the output is ``weight`` of the previous output warped onto this frame plus the rest of
the fresh stylisation, a running average that follows the motion; elsewhere (occlusions, the border a pan uncovers)
it is the fresh frame, and after a cut (most pixels unreliable) the filter starts over. No new weights are needed;
the weight is per model (``api.TEMPORAL_WEIGHTS``), as large as keeps each frame close to its own stylisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml_models.video import flow as flowmod

CUT_FRACTION = 0.4  # fewer reliable pixels than this: a cut or a flow failure, start over
FLOW_SIDE = 480  # flow and its checks run at most at this long side; the flow is smooth, the cost per pixel is not


@dataclass
class Step:
    output: np.ndarray  # (H, W, 3) uint8
    flow: np.ndarray | None  # backward flow of the input frames at the output's size; None for the first frame
    mask: np.ndarray | None  # its reliable pixels
    cut: bool  # the fresh frame was kept whole: the first frame, or too few reliable pixels


class TemporalFilter:
    """Feed (input frame, stylised frame) pairs in order; get the steadied frames back, one per call."""

    def __init__(self, weight: float = 0.6) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"temporal weight must be in [0, 1), got {weight}")
        self.weight = float(weight)
        self._flow = flowmod.FlowEstimator()
        self._prev_gray: np.ndarray | None = None
        self._prev_output: np.ndarray | None = None

    def step(self, frame: np.ndarray, stylised: np.ndarray) -> Step:
        current_gray = _shrunk(flowmod.gray(frame))
        result = Step(stylised, None, None, cut=self._prev_output is None)
        if self.weight > 0 and self._prev_output is not None and self._prev_output.shape == stylised.shape:
            backward = self._flow(self._prev_gray, current_gray)
            forward = self._flow(current_gray, self._prev_gray)
            mask = flowmod.reliable(backward, forward, current_gray, self._prev_gray)
            if backward.shape[:2] != stylised.shape[:2]:
                backward, mask = _enlarged(backward, mask, stylised.shape[:2])
            if mask.mean() >= CUT_FRACTION:
                moved = flowmod.warp(self._prev_output, backward)
                blended = cv2.addWeighted(moved, self.weight, stylised, 1.0 - self.weight, 0.0)
                out = np.where(mask[..., None], blended, stylised)
                result = Step(out, backward, mask, cut=False)
            else:
                result = Step(stylised, backward, mask, cut=True)
        self._prev_gray, self._prev_output = current_gray, result.output
        return result


def _shrunk(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape[:2]
    if max(h, w) <= FLOW_SIDE:
        return gray
    scale = FLOW_SIDE / max(h, w)
    return cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _enlarged(flow: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A flow and mask computed on a shrunk frame, at the frame's size (vectors scaled with it)."""
    h, w = shape
    big = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    big[..., 0] *= w / flow.shape[1]
    big[..., 1] *= h / flow.shape[0]
    return big, cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
