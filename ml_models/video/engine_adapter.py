"""The video path's one door into the engine: ``stylise_frames``, built on what ``ml_models.engine`` offers today.

Contract (the engine will offer the same function itself; then this module becomes an import): frames in as
(H, W, 3) uint8 arrays, stylised (H, W, 3) uint8 frames out in the same order and size; the network is loaded once
(the engine's cache); the style code is computed once for the whole clip, so every frame gets the same style
statistics; strength and colour preservation apply per frame as for photos. Frames go through the network
``FRAME_BATCH`` at a time, so at most that many are held.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

import numpy as np
import torch

from ml_models import device as dev
from ml_models import engine, images, registry
from ml_models.api import CancelledFn, JobRequest
from ml_models.errors import Cancelled
from ml_models.settings import EngineSettings

FRAME_BATCH = 1
"""Frames per forward pass; benchmarks/video_bench.py measures the choice (batches were no faster on the CPU)."""


def stylise_frames(request: JobRequest, frames: Iterable[np.ndarray], settings: EngineSettings | None = None,
                   cancelled: CancelledFn | None = None) -> Iterator[np.ndarray]:
    """Stylise ``frames`` lazily with ``request``'s model, preset, styles and options (its ``content`` is unused)."""
    settings = settings or EngineSettings.from_env()
    spec = registry.get(request.model)
    raw = dict(request.options)
    raw.pop("max_side", None)  # sizing is the pipeline's business
    options = spec.validate_options(raw)
    weights = engine._style_weights(request, spec)
    paths = registry.resolve_weights(spec.id, request.preset, settings.weights_dir)
    ctx = engine._context(settings)
    engine._for_model(ctx, spec)
    net = engine._network(spec.family, paths, ctx.device, ctx.dtype, ctx.channels_last)
    styles = [engine._to_tensor(images.fit(images.decode(s, settings.max_input_pixels).rgb, engine.STYLE_SIDE))
              for s in request.styles]
    forward = _forward(spec.family, net, styles, weights, options, ctx)
    source = iter(frames)
    while batch := list(islice(source, FRAME_BATCH)):
        if cancelled is not None and cancelled():
            raise Cancelled(message="cancelled between frames")
        rgbs = [np.ascontiguousarray(f[..., :3], dtype=np.uint8) for f in batch]
        out = forward(torch.cat([engine._to_tensor(r) for r in rgbs]))
        for i, rgb in enumerate(rgbs):
            yield engine._finish_style(spec.family, out[i:i + 1], rgb, options)


def _forward(family, net, styles, weights, options, ctx):
    """A function (N, 3, H, W) in [0, 1] -> (N, 3, H, W) in [0, 1], with the style code fixed for the clip."""
    if family == "microast":
        from ml_models.microast import blend_styles

        with dev.inference_context(ctx.device, ctx.dtype):
            codes = [net.encode_style(dev.to_device(s, ctx.device, ctx.channels_last)) for s in styles]
        code = codes[0] if len(codes) == 1 else blend_styles(codes, weights)

        def run(x: torch.Tensor) -> torch.Tensor:
            with dev.inference_context(ctx.device, ctx.dtype):
                return net.stylize_with(dev.to_device(x, ctx.device, ctx.channels_last), *code).float()
        return run

    def run_family(x: torch.Tensor) -> torch.Tensor:
        # AdaIN re-encodes the same style images each pass: the same statistics for every frame
        return engine._feed_forward(family, net, x, styles, weights, options, ctx).float()
    return run_family
