"""What the bot remembers about a user between messages, kept in FSM data as plain JSON-able dicts.

A dialogue step stores a *draft* recipe (model, photo, styles, options); a finished job leaves the *last* recipe and
its result, which the after-result buttons reuse. Photos are remembered by Telegram ``file_id`` only, never by bytes,
so the data stays small enough for Redis and survives a restart. Preferences and the chosen language outlive
``/cancel`` and ``/start``; the draft does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey

KEEP_ON_RESET = ("locale", "prefs", "last", "rid_seq", "results")

RESULTS_KEPT = 10
"""Results whose buttons keep working: the newest ten per user (older buttons get one line and the menu)."""

RESEND_CODES = frozenset({"empty", "not_image", "truncated", "animated", "too_many_pixels", "bad_aspect",
                          "unsupported", "download_failed", "input_expired", "file_too_big", "not_image_document",
                          "heic"})
"""Refusals that ask the user to send the picture again: the dialogue goes back to the picture step for them."""

PICTURE_STEP = {"own": "OwnStyle:photo", "ready": "ReadyStyle:photo", "upscale": "Upscale:photo"}
"""The state (``handlers.states``) that waits for the photo of each mode; a test checks the names match."""


@dataclass
class ImageRef:
    """A picture by reference: a Telegram file, a local copy of our own result, or a gallery style."""

    file_id: str | None = None
    unique_id: str | None = None
    path: str | None = None  # local copy (a result we produced), read before downloading
    gallery: str | None = None  # registry.GALLERY id: read from STYLES_DIR
    width: int | None = None  # from the header, when the bot has read it (for sizes said before the job)
    height: int | None = None
    clip: dict[str, Any] | None = None  # a moving picture: kind, suffix, seconds, width, height (ml_models.api.Clip)

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> ImageRef | None:
        if not raw:
            return None
        return cls(**{k: raw.get(k) for k in ("file_id", "unique_id", "path", "gallery", "width", "height", "clip")})

    @property
    def is_clip(self) -> bool:
        return bool(self.clip)

    def dump(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Recipe:
    """Everything needed to (re)run a job, by reference. ``kind`` is the menu mode: own | ready | upscale."""

    kind: str
    model: str | None = None
    preset: str | None = None
    content: ImageRef | None = None
    styles: list[ImageRef] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)  # blend weights, same length as styles
    options: dict[str, Any] = field(default_factory=dict)
    batch: list[ImageRef] = field(default_factory=list)  # an album's other photos, processed the same way

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> Recipe | None:
        if not raw:
            return None
        return cls(
            kind=raw["kind"], model=raw.get("model"), preset=raw.get("preset"),
            content=ImageRef.load(raw.get("content")),
            styles=[ImageRef.load(s) for s in raw.get("styles", [])],
            weights=list(raw.get("weights", [])), options=dict(raw.get("options", {})),
            batch=[ImageRef.load(s) for s in raw.get("batch", [])],
        )

    def dump(self) -> dict[str, Any]:
        out = {
            "kind": self.kind, "model": self.model, "preset": self.preset,
            "content": self.content.dump() if self.content else None,
            "styles": [s.dump() for s in self.styles], "weights": list(self.weights), "options": dict(self.options),
        }
        if self.batch:
            out["batch"] = [s.dump() for s in self.batch]
        return out

    def pictures(self) -> list[Recipe]:
        """One recipe per photo: this one for an album's first photo, a copy for each of the others."""
        if not self.batch:
            return [self]
        out = []
        for content in [self.content, *self.batch]:
            single = Recipe.load(self.dump())
            assert single is not None
            single.content, single.batch = content, []
            out.append(single)
        return out


@dataclass
class Prefs:
    """The user's /settings."""

    size: str = "standard"  # standard | hd
    as_file: bool = False  # always send results as documents

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> Prefs:
        raw = raw or {}
        size = raw.get("size") if raw.get("size") in ("standard", "hd") else "standard"
        return cls(size=size, as_file=bool(raw.get("as_file", False)))


@dataclass
class LastResult:
    """The most recent result delivered to the user and the recipe that produced it."""

    rid: int
    recipe: Recipe
    path: str | None  # local copy of the encoded result (for "send as file" and "upscale this")
    file_id: str | None  # what Telegram stored when we sent it
    mime: str
    sent_as_document: bool
    width: int | None = None
    height: int | None = None

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> LastResult | None:
        if not raw:
            return None
        recipe = Recipe.load(raw.get("recipe"))
        if recipe is None:
            return None
        return cls(rid=int(raw["rid"]), recipe=recipe, path=raw.get("path"), file_id=raw.get("file_id"),
                   mime=raw.get("mime", "image/jpeg"), sent_as_document=bool(raw.get("sent_as_document")),
                   width=raw.get("width"), height=raw.get("height"))

    def dump(self) -> dict[str, Any]:
        out = asdict(self)
        out["recipe"] = self.recipe.dump()
        return out


async def reset(state: FSMContext) -> None:
    """Leave every dialogue step; keep the language, the settings and the last result."""
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({k: data[k] for k in KEEP_ON_RESET if k in data})


async def draft(state: FSMContext) -> Recipe | None:
    return Recipe.load((await state.get_data()).get("draft"))


async def save_draft(state: FSMContext, recipe: Recipe) -> None:
    await state.update_data(draft=recipe.dump())


async def first_time(state: FSMContext, what: str) -> bool:
    """True the first time ``what`` happens in this dialogue (``reset`` forgets it): an album is sent once."""
    data = await state.get_data()
    done = list(data.get("once", []))
    if what in done:
        return False
    await state.update_data(once=[*done, what])
    return True


async def prefs(state: FSMContext) -> Prefs:
    return Prefs.load((await state.get_data()).get("prefs"))


async def save_prefs(state: FSMContext, value: Prefs) -> None:
    await state.update_data(prefs=asdict(value))


async def last_result(state: FSMContext) -> LastResult | None:
    return LastResult.load((await state.get_data()).get("last"))


async def reopen_picture_step(storage: BaseStorage, key: StorageKey, recipe: Recipe) -> bool:
    """After a refusal that asks for the picture again: wait for it at the photo step with every choice kept.

    Used when the worker refuses a picture the bot had accepted (a JPEG cut off after its header): the dialogue had
    already ended, so without this the next photo would start over at "What shall I do with it?".
    """
    step = PICTURE_STEP.get(recipe.kind)
    if step is None:
        return False
    data = await storage.get_data(key)
    kept = {k: data[k] for k in KEEP_ON_RESET if k in data}
    retry = Recipe.load(recipe.dump())
    assert retry is not None
    retry.content = None
    kept["draft"] = retry.dump()
    await storage.set_data(key, kept)
    await storage.set_state(key, step)
    return True


def results(data: dict[str, Any]) -> dict[int, LastResult]:
    """The user's recent results by number (newest ``RESULTS_KEPT``), the newest one included."""
    out: dict[int, LastResult] = {}
    for raw in (data.get("results") or {}).values():
        item = LastResult.load(raw)
        if item is not None:
            out[item.rid] = item
    last = LastResult.load(data.get("last"))
    if last is not None:
        out.setdefault(last.rid, last)
    return out


def remember_result(data: dict[str, Any], result: LastResult) -> dict[str, Any]:
    """``data`` with ``result`` added to the recent results (oldest dropped) and made the last one if newest."""
    kept = results(data)
    kept[result.rid] = result
    newest = sorted(kept)[-RESULTS_KEPT:]
    data["results"] = {str(rid): kept[rid].dump() for rid in newest}
    current = LastResult.load(data.get("last"))
    if current is None or current.rid <= result.rid:  # results of two jobs may arrive out of order
        data["last"] = result.dump()
    return data


async def result_by_number(state: FSMContext, rid: int) -> LastResult | None:
    """One of the recent results, or None when it is older than the last ``RESULTS_KEPT``."""
    return results(await state.get_data()).get(rid)
