"""The bot's cheap look at incoming pictures, and the job status message's edit throttling."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import pytest
from PIL import Image

from dialogue import ImageRef, LastResult, Prefs, Recipe
from ml_models.errors import ImageError
from services.file_store import probe
from services.job_tracker import StatusMessage


def encoded(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **kw) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 100, 50) if mode == "RGB" else 128).save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size, with one tiny IDAT: enough for Pillow to read the size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_probe_accepts_stills(fmt: str) -> None:
    header = probe(encoded(fmt), max_pixels=10_000)
    assert (header.width, header.height) == (64, 48)


def codes(data: bytes, max_pixels: int = 40_000_000) -> str:
    with pytest.raises(ImageError) as info:
        probe(data, max_pixels)
    return info.value.code


def test_probe_refusals_carry_the_engine_codes() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    png = encoded("PNG", (100, 100))
    assert codes(b"") == "empty"
    assert codes(b"%PDF-1.7 not a picture at all") == "not_image"
    assert codes(gif.getvalue()) == "animated"
    assert codes(encoded("PNG", (2100, 100))) == "bad_aspect"
    assert codes(encoded("PNG", (300, 300)), max_pixels=50_000) == "too_many_pixels"
    assert codes(png_header_only(30_000, 30_000)) == "too_many_pixels"  # a bomb: refused from the header alone
    assert codes(png[: len(png) // 2]) == "truncated"
    # a HEIC header with no picture: "heic" (send it as a photo) without pillow-heif, a damaged file with it
    assert codes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") in {"heic", "truncated"}
    assert probe(encoded("GIF"), 10_000).format == "GIF"  # a single-frame GIF is a still


def test_fsm_records_round_trip_as_json() -> None:
    import json

    recipe = Recipe(kind="own", model="microast", content=ImageRef(file_id="A", unique_id="a"),
                    styles=[ImageRef(gallery="mosaic"), ImageRef(file_id="B", unique_id="b")], weights=[0.7, 0.3],
                    options={"strength": 0.5, "size": "hd"})
    assert Recipe.load(json.loads(json.dumps(recipe.dump()))) == recipe
    last = LastResult(rid=3, recipe=recipe, path="/tmp/x.jpg", file_id="F", mime="image/jpeg", sent_as_document=False)
    assert LastResult.load(json.loads(json.dumps(last.dump()))) == last
    assert Prefs.load({"size": "giant", "as_file": 1}) == Prefs(size="standard", as_file=True)
    assert Recipe.load(None) is None and LastResult.load({}) is None


class FakeBot:
    def __init__(self) -> None:
        self.edits: list[tuple[float, str]] = []
        self.deleted = False

    async def edit_message_text(self, text: str, **kw) -> None:
        self.edits.append((asyncio.get_running_loop().time(), text))

    async def delete_message(self, **kw) -> None:
        self.deleted = True


async def test_status_edits_are_throttled_and_keep_the_newest_text() -> None:
    bot = FakeBot()
    status = StatusMessage(bot, chat_id=1, message_id=2, text="queued", interval=0.2)  # type: ignore[arg-type]
    for step in range(20):  # twenty progress events within ~0.1 s
        await status.show(f"step {step}")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.35)
    texts = [text for _, text in bot.edits]
    assert texts[-1] == "step 19"  # the newest text wins
    assert len(texts) <= 2  # at most one edit per interval
    times = [t for t, _ in bot.edits]
    assert all(b - a >= 0.19 for a, b in zip(times, times[1:], strict=False))
    await status.show("step 19")  # unchanged text: no edit
    await asyncio.sleep(0.25)
    assert len(bot.edits) == len(texts)
    await status.finish(None)
    assert bot.deleted
