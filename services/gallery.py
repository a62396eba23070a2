"""Thumbnail albums for choosing a style: gallery paintings and ready presets, numbered to match the buttons.

Telegram albums cannot carry buttons, so the bot sends the pictures as an album with a number drawn on each, then a
message whose buttons repeat the numbers with titles. Thumbnails are made once with Pillow (in a thread) and kept in
``DATA_DIR/thumbs``; after the first upload Telegram's ``file_id`` is reused, so later albums cost no upload at all.
Presets without a picture of their own (CycleGAN painters) get a titled tile instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot
from aiogram.types import FSInputFile, InputMediaPhoto
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

from ml_models import registry

log = logging.getLogger(__name__)

TILE_SIDE = 320
_VERSION = "2"  # bump when the drawing changes, so cached tiles are redrawn
_FONT_NAMES = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf")


@dataclass(frozen=True)
class Tile:
    """One picture of an album: where its thumbnail comes from and the number shown on it."""

    number: int
    source: Path | None  # a style picture, or None for a titled placeholder
    title: str
    key: str  # stable name for the cache file


class Gallery:
    def __init__(self, styles_dir: Path, cache_dir: Path) -> None:
        self.styles_dir = Path(styles_dir)
        self.cache_dir = Path(cache_dir)
        self._file_ids: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def styles(self) -> list[registry.GalleryStyle]:
        """Gallery styles whose picture is present in STYLES_DIR."""
        return registry.gallery_available(self.styles_dir)

    def style_path(self, style_id: str) -> Path | None:
        style = registry.GALLERY.get(style_id)
        if style is None:
            return None
        path = self.styles_dir / style.file.path
        return path if path.is_file() else None

    async def send_album(self, bot: Bot, chat_id: int, tiles: list[Tile]) -> None:
        """Send the tiles as albums of up to ten (a single tile as a plain photo)."""
        async with self._lock:  # two users opening the gallery at once must not draw the same file twice
            paths = [await asyncio.to_thread(self._render, tile) for tile in tiles]
        for start in range(0, len(paths), 10):
            chunk = paths[start:start + 10]
            if len(chunk) == 1:
                message = await bot.send_photo(chat_id, self._input(chunk[0]), disable_notification=True)
                self._remember(chunk[0], [message])
                continue
            messages = await bot.send_media_group(
                chat_id, [InputMediaPhoto(media=self._input(path)) for path in chunk], disable_notification=True)
            for path, message in zip(chunk, messages, strict=False):
                self._remember(path, [message])

    def _input(self, path: Path) -> str | FSInputFile:
        return self._file_ids.get(str(path)) or FSInputFile(path)

    def _remember(self, path: Path, messages: list) -> None:
        for message in messages:
            if message.photo:
                self._file_ids[str(path)] = message.photo[-1].file_id

    # ------------------------------------------------------------------------------------------------ drawing

    def _render(self, tile: Tile) -> Path:
        digest = hashlib.sha1(f"{tile.key}|{tile.title}|{tile.number}".encode()).hexdigest()[:12]
        out = self.cache_dir / f"{tile.key}-{digest}-v{_VERSION}.jpg"
        if out.is_file() and (tile.source is None or out.stat().st_mtime >= tile.source.stat().st_mtime):
            return out
        if tile.source is not None:
            try:
                with Image.open(tile.source) as im:
                    image = ImageOps.fit(ImageOps.exif_transpose(im).convert("RGB"), (TILE_SIDE, TILE_SIDE),
                                         Image.Resampling.LANCZOS)
            except Exception as exc:  # a damaged gallery file still gets a tile, with its title
                log.warning("cannot read gallery picture %s: %s", tile.source, exc)
                image = _placeholder(tile.title, tile.key)
        else:
            image = _placeholder(tile.title, tile.key)
        _badge(image, tile.number)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        image.save(tmp, "JPEG", quality=85)
        tmp.replace(out)
        return out


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in _FONT_NAMES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _placeholder(title: str, key: str) -> Image.Image:
    """A diagonal two-colour gradient picked from the key, with the title in the middle."""
    seed = hashlib.sha256(key.encode()).digest()
    top = (64 + seed[0] % 128, 64 + seed[1] % 128, 64 + seed[2] % 128)
    bottom = (seed[3] % 96, seed[4] % 96, seed[5] % 96)
    vertical = Image.linear_gradient("L").resize((TILE_SIDE, TILE_SIDE)).point(lambda v: v // 2)
    mask = ImageChops.add(vertical, vertical.transpose(Image.Transpose.ROTATE_90))
    image = Image.composite(Image.new("RGB", (TILE_SIDE, TILE_SIDE), bottom),
                            Image.new("RGB", (TILE_SIDE, TILE_SIDE), top), mask)
    draw = ImageDraw.Draw(image)
    font = _font(34)
    lines = _wrap(draw, title, font, TILE_SIDE - 40)
    heights = [draw.textbbox((0, 0), line, font=font)[3] for line in lines]
    y = (TILE_SIDE - sum(heights) - 8 * (len(lines) - 1)) / 2
    for line, h in zip(lines, heights, strict=True):
        width = draw.textlength(line, font=font)
        draw.text(((TILE_SIDE - width) / 2, y), line, font=font, fill="white", stroke_width=2, stroke_fill="black")
        y += h + 8
    return image


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [text]


def _badge(image: Image.Image, number: int) -> None:
    """The number in a white disc in the top-left corner, matching the button with the same number."""
    draw = ImageDraw.Draw(image)
    radius = 28
    draw.ellipse((10, 10, 10 + 2 * radius, 10 + 2 * radius), fill="white", outline="black", width=2)
    font = _font(30)
    text = str(number)
    box = draw.textbbox((0, 0), text, font=font)
    draw.text((10 + radius - (box[2] + box[0]) / 2, 10 + radius - (box[3] + box[1]) / 2), text, font=font,
              fill="black")
