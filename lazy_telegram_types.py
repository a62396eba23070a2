"""Build aiogram's Telegram type validators on first use instead of at import: the bot process 179 -> 76 MiB RSS.

``aiogram.types`` ends by calling ``model_rebuild()`` on each of its ~450 pydantic models, which forces every
validator and serializer to be built at import (aiogram declares ``defer_build=True``, but an explicit rebuild
overrides it). Each complete model then inlines full copies of the models it nests, so importing aiogram costs
~150 MiB of pydantic-core structures, of which the bot uses a handful (``Update``, the messages and keyboards it
sends, the few methods it calls). Deferred, the first ``Update`` builds one compact schema with shared definitions.

Importing this module, before anything imports aiogram, turns those import-time rebuilds into a note of the
namespace they carry (the names of all Telegram types, needed because aiogram imports them only under
``TYPE_CHECKING``); when pydantic later builds a model on first use and calls ``model_rebuild()`` without a
namespace, the note supplies it. Nothing else changes: a model validates exactly as before, only later.

The patch leans on private details of both libraries, so it is applied only to the release series in
:data:`TESTED` (``requirements.txt`` bounds both to them). With any other aiogram or pydantic, or a ``model_rebuild``
that no longer takes the arguments this relies on, nothing is patched: validation is eager as aiogram intends, the
bot uses more memory, and one warning says why (:func:`installed` and :func:`reason` tell which).
"""

from __future__ import annotations

import inspect
import logging
from importlib import metadata
from typing import Any

from pydantic import BaseModel

TESTED = {"aiogram": ("3.31",), "pydantic": ("2.13",)}  # major.minor series the deferral was tested against
_REQUIRED = {"force", "raise_errors", "_parent_namespace_depth", "_types_namespace"}
_namespace: dict[str, Any] = {}
_original: Any = None
_reason: str | None = None  # why validation is eager, once decided

log = logging.getLogger(__name__)


def untested_versions() -> list[str]:
    """The installed aiogram and pydantic releases outside :data:`TESTED`, as ``"name version"``."""
    found = []
    for name, series in TESTED.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "(not installed)"
        if ".".join(version.split(".")[:2]) not in series:
            found.append(f"{name} {version}")
    return found


def install() -> bool:
    """Patch ``BaseModel.model_rebuild`` for aiogram's models (idempotent); False, logged once, where it may not fit."""
    global _original, _reason
    if _original is not None:
        return True
    if _reason is not None:
        return False
    tested = ", ".join(f"{name} {'/'.join(series)}.x" for name, series in TESTED.items())
    if untested := untested_versions():
        _reason = f"{', '.join(untested)} not among the tested releases ({tested})"
    elif not _REQUIRED.issubset(inspect.signature(BaseModel.model_rebuild).parameters):
        _reason = "pydantic's model_rebuild no longer takes the arguments the deferral relies on"
    if _reason is not None:
        log.warning("aiogram's Telegram types are validated eagerly (more memory, same behaviour): %s", _reason)
        return False
    _original = BaseModel.model_rebuild.__func__
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[method-assign,assignment]
    return True


def installed() -> bool:
    return _original is not None


def reason() -> str | None:
    """Why the deferral is not installed (None when it is, or before :func:`install` ran)."""
    return _reason


def _model_rebuild(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                   _parent_namespace_depth: int = 2, _types_namespace: Any = None) -> bool | None:
    if cls.__module__.startswith("aiogram."):
        if _types_namespace is not None and not force and cls.model_config.get("defer_build"):
            # aiogram's import-time loop: remember the names, leave the model to be built when first used
            _namespace.update(_types_namespace)
            return None
        if _types_namespace is None and _namespace:
            _types_namespace = _namespace
    # one frame deeper than pydantic expects, so a parent-frame namespace lookup still finds the caller's frame
    return _original(cls, force=force, raise_errors=raise_errors,
                     _parent_namespace_depth=_parent_namespace_depth + 1, _types_namespace=_types_namespace)


install()
