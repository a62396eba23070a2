"""Results larger than Telegram lets a bot send (50 MB per document) go out as a high-quality JPEG instead.

An x4 upscale of a big picture as PNG can pass 50 MB; sending it would fail after all the work was done. The bot
re-encodes it once (JPEG quality 92, lower only if still too large), in a thread, and says so in the caption.
"""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from ml_models.api import JobResult

DOCUMENT_LIMIT = 50 * 1024 * 1024
QUALITIES = (92, 85, 75)


def fit_for_telegram(result: JobResult, limit: int | None = None) -> tuple[JobResult, bool]:
    """The result, or a JPEG of it under ``limit`` bytes; the flag says whether it was re-encoded."""
    limit = DOCUMENT_LIMIT if limit is None else limit
    if len(result.image) <= limit:
        return result, False
    with Image.open(io.BytesIO(result.image)) as im:
        rgb = im.convert("RGB")
    data = result.image
    for quality in QUALITIES:
        buffer = io.BytesIO()
        rgb.save(buffer, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
        data = buffer.getvalue()
        if len(data) <= limit:
            break
    return replace(result, image=data, mime="image/jpeg"), True
