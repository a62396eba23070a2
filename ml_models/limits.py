"""Image limits the bot checks before a job exists, kept free of numpy and Pillow.

The bot process imports these to refuse a photo or choose sendPhoto vs sendDocument; importing ``images`` for them
would load numpy (14 MiB of RSS) into a process that never touches a pixel array.
"""

from __future__ import annotations

MAX_ASPECT = 20.0
"""Telegram refuses photos with a longer ratio, and such strips are almost never photos anyway."""

TELEGRAM_PHOTO_MAX_BYTES = 10 * 1000 * 1000
TELEGRAM_PHOTO_MAX_SIDES = 10_000
TELEGRAM_PHOTO_MAX_RATIO = 20.0


def telegram_photo_ok(width: int, height: int, nbytes: int) -> bool:
    """Whether Telegram accepts these bytes as a photo (else the bot sends a document).

    Bot API limits for sendPhoto: at most 10 MB, width + height at most 10000, side ratio at most 20.
    """
    if width <= 0 or height <= 0 or nbytes <= 0:
        return False
    return (nbytes <= TELEGRAM_PHOTO_MAX_BYTES and width + height <= TELEGRAM_PHOTO_MAX_SIDES
            and max(width, height) / min(width, height) <= TELEGRAM_PHOTO_MAX_RATIO)
