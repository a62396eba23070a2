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

If pydantic's ``model_rebuild`` no longer takes the arguments this relies on, nothing is patched and the bot simply
uses more memory (:func:`installed` says which).
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel

_REQUIRED = {"force", "raise_errors", "_parent_namespace_depth", "_types_namespace"}
_namespace: dict[str, Any] = {}
_original: Any = None


def install() -> bool:
    """Patch ``BaseModel.model_rebuild`` for aiogram's models (idempotent); False where pydantic does not fit."""
    global _original
    if _original is not None:
        return True
    rebuild = BaseModel.model_rebuild
    if not _REQUIRED.issubset(inspect.signature(rebuild).parameters):
        return False
    _original = rebuild.__func__
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[method-assign,assignment]
    return True


def installed() -> bool:
    return _original is not None


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
