"""Typed errors that cross process boundaries.

Every failure a user can see carries a stable ``code``: the bot turns it into a message in the user's language, the
CLI prints the English text. The classes stay picklable (worker processes and Celery send them back to the bot), so
all state lives in ``args``.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error the engine reports on purpose."""

    default_code = "engine_error"

    def __init__(self, code: str | None = None, message: str = "", **details: Any) -> None:
        super().__init__(code or self.default_code, message, details)

    @property
    def code(self) -> str:
        return self.args[0]

    @property
    def message(self) -> str:
        return self.args[1]

    @property
    def details(self) -> dict[str, Any]:
        return self.args[2]

    def __str__(self) -> str:
        return self.message or self.code

    def __reduce__(self):  # keep subclasses and details intact through pickle
        return (_rebuild, (type(self), self.code, self.message, self.details))


def _rebuild(cls: type[EngineError], code: str, message: str, details: dict[str, Any]) -> EngineError:
    return cls(code, message, **details)


class ImageError(EngineError):
    """The input bytes are not an image we can safely process.

    Codes: ``empty``, ``not_image``, ``truncated``, ``animated``, ``too_many_pixels``, ``bad_aspect``, ``unsupported``.
    """

    default_code = "not_image"


class WeightsMissing(EngineError):
    """A model's weight files are absent; ``details["command"]`` says how to fetch them."""

    default_code = "weights_missing"


class CheckpointError(EngineError):
    """A weight file exists but does not match the layout its model expects."""

    default_code = "bad_checkpoint"


class Cancelled(EngineError):
    """The job was cancelled between two steps or tiles."""

    default_code = "cancelled"


class BadRequest(EngineError):
    """Unknown model, preset or option, or an option out of its range."""

    default_code = "bad_request"


class TooLarge(EngineError):
    """The input exceeds the model's pixel budget for the device it would run on."""

    default_code = "too_large"
