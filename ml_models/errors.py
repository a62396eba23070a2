"""Typed errors that cross process boundaries.

Every failure a user can see carries a stable ``code``: the bot turns it into a message in the user's language, the
CLI prints the English text. The classes stay picklable (local worker processes send them back through a pipe), so
all state lives in ``args``; Celery carries them as JSON (``to_json``/``error_from_json``), rebuilt only as a known
``EngineError`` subclass, never as whatever class the data names.
"""

from __future__ import annotations

import json
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

    def to_json(self) -> dict[str, Any]:
        """The class name, code, message and details (values JSON cannot hold become strings)."""
        details = json.loads(json.dumps(self.details, default=str))
        return {"error": type(self).__name__, "code": self.code, "message": self.message, "details": details}


def error_from_json(data: dict[str, Any]) -> EngineError:
    """The error ``to_json`` described: its class when it is a loaded ``EngineError`` subclass, else ``EngineError``."""
    known = {cls.__name__: cls for cls in _subclasses(EngineError)}
    cls = known.get(str(data.get("error")), EngineError)
    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    return cls(str(data.get("code") or cls.default_code), str(data.get("message", "")),
               **{str(k): v for k, v in details.items()})


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


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
