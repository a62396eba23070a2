"""The failures a clip can meet, each with a stable code the bot turns into a sentence in the user's language."""

from __future__ import annotations

from ml_models.errors import EngineError

CODES = ("video_corrupt", "no_video_stream", "video_unsupported", "video_too_long", "video_too_large",
         "video_model_unsupported")


class VideoError(EngineError):
    """A clip we cannot take: corrupt, without a picture, in an unknown codec, too long or too large, or a model that
    has no video path (Gatys optimises one picture for minutes; upscaling is for stills)."""

    default_code = "video_corrupt"
