"""The temporal filter: each output frame leans on the previous output, moved along the input's optical flow.

Per-frame stylisation flickers: small changes of the input (noise, a pixel of motion) move the network's strokes.
Where the flow is reliable, the output is ``weight`` of the previous output warped onto this frame plus the rest of
the fresh stylisation, a running average that follows the motion; elsewhere (occlusions, the border a pan uncovers)
it is the fresh frame, and after a cut (most pixels unreliable) the filter starts over. No new weights are needed
and every frame keeps its own stylisation as the larger part of the recursion's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_models.video import flow as flowmod

CUT_FRACTION = 0.4  # fewer reliable pixels than this: a cut or a flow failure, start over


@dataclass
class Step:
    output: np.ndarray  # (H, W, 3) uint8
    flow: np.ndarray | None  # backward flow of the input frames, None for the first frame and after a cut
    mask: np.ndarray | None  # its reliable pixels
    cut: bool


class TemporalFilter:
    """Feed (input frame, stylised frame) pairs in order; get the steadied frames back, one per call."""

    def __init__(self, weight: float = 0.6) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"temporal weight must be in [0, 1), got {weight}")
        self.weight = float(weight)
        self._flow = flowmod.FlowEstimator()
        self._prev_gray: np.ndarray | None = None
        self._prev_input: np.ndarray | None = None
        self._prev_output: np.ndarray | None = None

    def step(self, frame: np.ndarray, stylised: np.ndarray) -> Step:
        current_gray = flowmod.gray(frame)
        result = Step(stylised, None, None, cut=self._prev_output is None)
        if self.weight > 0 and self._prev_output is not None and self._prev_output.shape == stylised.shape:
            backward = self._flow(self._prev_gray, current_gray)
            forward = self._flow(current_gray, self._prev_gray)
            mask = flowmod.reliable(backward, forward, frame, self._prev_input)
            if mask.mean() >= CUT_FRACTION:
                alpha = (self.weight * mask.astype(np.float32))[..., None]
                moved = flowmod.warp(self._prev_output, backward).astype(np.float32)
                fresh = stylised.astype(np.float32)
                out = np.clip(np.rint(fresh + alpha * (moved - fresh)), 0, 255).astype(np.uint8)
                result = Step(out, backward, mask, cut=False)
            else:
                result = Step(stylised, backward, mask, cut=True)
        self._prev_gray, self._prev_input, self._prev_output = current_gray, frame, result.output
        return result
