"""How long a job will take, learnt from the jobs that finished.

A model's cost grows with the pixels it processes, so the estimate is ``overhead + seconds_per_megapixel * MP`` per
model, an exponential moving average of what the workers measured (seeded from the journal at start, and from rough
defaults before any job ran). The queue ETA simulates the workers taking queued jobs in order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

# Rough CPU seconds per megapixel (after the engine's resize) on a few cores, and the speed-up of one GPU. They only
# matter until the first job of a model has finished; the measurements replace them.
CPU_SECONDS_PER_MP = {
    "microast": 2.0,
    "johnson": 4.0,
    "adain": 6.0,
    "cyclegan": 12.0,
    "upscale": 40.0,  # per input megapixel (the output has 16 times more)
    "gatys": 300.0,
}
GPU_SPEEDUP = 25.0
OVERHEAD_S = 0.5  # decode, encode and hand-over per job
DEFAULT_PIXELS = 1_000_000  # when the input size is unknown
ALPHA = 0.3  # weight of the newest measurement


class Estimator:
    def __init__(self, gpu: bool = False) -> None:
        scale = 1.0 / GPU_SPEEDUP if gpu else 1.0
        self._rate = {model: rate * scale for model, rate in CPU_SECONDS_PER_MP.items()}
        self._measured: dict[str, int] = {}
        self._default_rate = 10.0 * scale

    def estimate(self, model: str, pixels: int | None) -> float:
        mp = (pixels or DEFAULT_PIXELS) / 1e6
        return OVERHEAD_S + self._rate.get(model, self._default_rate) * mp

    def observe(self, model: str, pixels: int | None, seconds: float) -> None:
        mp = max((pixels or DEFAULT_PIXELS) / 1e6, 0.01)
        rate = max(seconds - OVERHEAD_S, 0.0) / mp
        if self._measured.get(model):
            rate = ALPHA * rate + (1 - ALPHA) * self._rate[model]
        self._rate[model] = rate
        self._measured[model] = self._measured.get(model, 0) + 1

    def seed(self, history: Iterable[tuple[str, int | None, float]]) -> None:
        """Replay finished jobs (oldest first) from the journal."""
        for model, pixels, seconds in history:
            self.observe(model, pixels, seconds)


def queue_finish_times(running_left: Sequence[float], queued: Sequence[float], workers: int) -> list[float]:
    """Seconds until each queued job finishes, when ``workers`` take them in order as they become free.

    ``running_left``: the estimated seconds left of each running job (each occupies one worker).
    """
    workers = max(workers, len(running_left), 1)
    free_at = sorted(list(running_left) + [0.0] * (workers - len(running_left)))
    heapq.heapify(free_at)
    finish = []
    for seconds in queued:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + seconds)
        finish.append(start + seconds)
    return finish
