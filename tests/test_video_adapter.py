"""The engine adapter keeps the photo path's look: a frame through ``stylise_frames`` equals the same picture sent
as a photo job (same network, style code, strength and colour handling), for a clip of any length."""

from __future__ import annotations

import numpy as np
import pytest

from ml_models import engine
from ml_models.api import JobRequest
from ml_models.video import synthetic
from ml_models.video.engine_adapter import stylise_frames
from tests.engine_helpers import decode_result, png_bytes, request, settings
from tests.video_helpers import style_bytes


@pytest.mark.parametrize(("model", "kwargs"), [
    ("johnson", {"preset": "mosaic", "options": {"strength": 0.7}}),
    ("microast", {"styles": "candy.jpg", "options": {"preserve_colors": True}}),
])
def test_frames_match_photo_jobs(model: str, kwargs: dict) -> None:
    kwargs = dict(kwargs)
    if "styles" in kwargs:
        kwargs["styles"] = [style_bytes(kwargs["styles"])]
    frames = synthetic.pan(synthetic.texture(120, 140), 3, (72, 96)).frames
    clip = JobRequest(model, b"", **kwargs)
    out = list(stylise_frames(clip, iter(frames), settings()))
    assert len(out) == 3 and all(o.shape == (72, 96, 3) and o.dtype == np.uint8 for o in out)
    for frame, styled in zip(frames, out, strict=True):
        photo = decode_result(engine.run(request(model, png_bytes(frame), 96, **kwargs), settings()))
        assert np.abs(photo.astype(int) - styled.astype(int)).max() <= 1
