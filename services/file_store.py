"""Pictures coming in: which messages carry one, whether it can be fetched, and a cheap look at its header.

Bad input is answered the moment it arrives: the file size is checked before downloading (the Bot API serves at
most 20 MB) and Pillow reads only the header (format, size, animation), so a sticker, a PDF, a decompression bomb or a
panorama strip gets its explanation at once instead of after a trip through the job queue. Full decoding stays in
the worker, where ``ml_models.images`` refuses anything the header hid (a truncated JPEG body, for instance).
"""

from __future__ import annotations

import asyncio
import io
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Message
from PIL import Image, ImageOps, UnidentifiedImageError

from dialogue import ImageRef
from jobs.preflight import DURATION_SLACK  # seconds over VIDEO_MAX_SECONDS still taken (rounding)
from ml_models import registry
from ml_models.errors import ImageError
from ml_models.limits import MAX_ASPECT

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""getFile refuses bigger files for bots (without a local Bot API server)."""

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif",
                  ".avif", ".jfif", ".ppm", ".jp2", ".mpo"}
_DECODABLE = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "AVIF", "JPEG2000", "HEIF")
_HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc", b"ftypheim", b"ftypheis")
CONVERTED_KEEP_S = 2 * 24 * 3600  # converted HEIC copies older than this are removed
_STILL_MULTI_FRAME = {"MPO", "TIFF"}  # several frames that are not an animation (phone depth maps, TIFF pages)


class InputRejected(Exception):
    """The message's picture cannot be used; ``code`` selects the explanation (see ``texts.error_text``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    format: str


CLIP_SUFFIXES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
                 "image/gif": ".gif", "image/webp": ".webp"}


def carries_clip(message: Message) -> bool:
    """An animation (Telegram's GIFs), a video, a video note, or a document that is a video file.

    Animated GIF and WebP documents are recognised only after their header is read (``FileStore.receive``)."""
    if message.animation or message.video or message.video_note:
        return True
    document = message.document
    return bool(document and (document.mime_type or "").lower().startswith("video/"))


def carries_picture(message: Message) -> bool:
    """A photo or any document: documents are checked (and refused with a reason) when they are not images."""
    return bool(message.photo or message.document)


def probe(data: bytes, max_pixels: int) -> Header:
    """Read the image header only; raise ``ImageError`` with the same codes the engine uses."""
    if not data:
        raise ImageError("empty", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_decodable()) as im:
                width, height = im.size
                fmt = im.format or "unknown"
                animated = fmt not in _STILL_MULTI_FRAME and bool(getattr(im, "is_animated", False))
                if fmt == "PNG":
                    im.verify()  # walks the chunks and their CRCs without decoding: catches a cut-off upload
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("too_many_pixels", "decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageError(_other_format(data), "not a supported image") from None
    except Exception as exc:  # recognised, but the header (or a PNG chunk) is broken
        raise ImageError("truncated", str(exc)) from None
    if width <= 0 or height <= 0:
        raise ImageError("not_image", "no pixels")
    if width * height > max_pixels:
        raise ImageError("too_many_pixels", f"{width}x{height}")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError("bad_aspect", f"{width}x{height}")
    if animated:
        raise ImageError("animated", fmt)
    return Header(width, height, fmt)


def _animated_picture(data: bytes) -> dict[str, Any]:
    """The clip description of an animated GIF or WebP file, from its header (its frames decode in the worker)."""
    with Image.open(io.BytesIO(data)) as im:
        suffix = ".webp" if im.format == "WEBP" else ".gif"
        return {"kind": "animation", "suffix": suffix, "seconds": 0.0, "width": im.width, "height": im.height}


def _decodable() -> tuple[str, ...]:
    Image.init()  # registers every plugin; a format name Pillow lacks (AVIF on old builds) is left out
    return tuple(f for f in _DECODABLE if f in Image.OPEN)


def is_heif(data: bytes) -> bool:
    return data[4:12] in _HEIF_BRANDS


def heif_readable() -> bool:
    """Whether HEIC/HEIF can be decoded here: pillow-heif, registered with Pillow on first use (not at import, so
    the bot pays for it only when an iPhone file arrives)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    if "HEIF" not in Image.OPEN:
        pillow_heif.register_heif_opener()
    return True


def heif_to_jpeg(data: bytes) -> bytes:
    """An iPhone HEIC as a JPEG at high quality (orientation applied), which the workers decode like any photo."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def _other_format(data: bytes) -> str:
    """``unsupported`` for images Pillow knows but we do not decode (EPS, PSD, ...), ``not_image`` otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)):
                return "unsupported"
    except Exception:
        if is_heif(data):
            return "heic"  # an iPhone's "send as file", here without pillow-heif: it can be sent as a photo
        return "not_image"


class FileStore:
    """Bytes of recently received pictures (bounded LRU), so one dialogue downloads each photo once.

    A miss is not an error: the file is fetched again by ``file_id`` (Telegram keeps files for a long time), or read
    from the local result copy or the gallery folder.
    """

    def __init__(self, styles_dir: Path, limit_bytes: int = 96 * 1024 * 1024, downloads: int = 4,
                 converted_dir: Path | None = None) -> None:
        self.styles_dir = Path(styles_dir)
        self.converted_dir = Path(converted_dir) if converted_dir else None
        self.limit_bytes = limit_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        # At most ``downloads`` files in flight from Telegram, all users together: each may be 20 MB in RAM.
        self._downloads = asyncio.Semaphore(downloads)
        self.downloading = 0
        self.downloading_peak = 0

    def _remember(self, key: str, data: bytes) -> None:
        if key in self._items:
            self._size -= len(self._items.pop(key))
        if len(data) > self.limit_bytes:
            return
        self._items[key] = data
        self._size += len(data)
        while self._size > self.limit_bytes:
            _, old = self._items.popitem(last=False)
            self._size -= len(old)

    def _recall(self, key: str | None) -> bytes | None:
        if key and key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    async def receive(self, bot: Bot, message: Message, max_pixels: int, max_seconds: float | None = None
                      ) -> ImageRef:
        """The picture in ``message``, downloaded and checked; ``InputRejected`` says why it cannot be used.

        With ``max_seconds`` set, moving pictures are taken too (a reference with ``clip`` set): animations, videos,
        video notes, video files and animated GIF/WebP files, at most ``max_seconds`` long. Without it they are
        refused as ``animated``."""
        if carries_clip(message):
            if max_seconds is None:
                raise InputRejected("animated")
            return await self._receive_clip(bot, message, max_seconds)
        if message.photo:
            item = message.photo[-1]  # the largest size Telegram made
        elif message.document:
            item = message.document
            mime = (item.mime_type or "").lower()
            suffix = Path(item.file_name or "").suffix.lower()
            if not (mime.startswith("image/") or suffix in IMAGE_SUFFIXES):
                raise InputRejected("not_image_document")
        else:
            raise InputRejected("not_image")
        if item.file_size is not None and item.file_size > MAX_DOWNLOAD_BYTES:
            raise InputRejected("file_too_big")
        data = await self._download(bot, item.file_id)
        if is_heif(data):
            await asyncio.to_thread(heif_readable)  # lets Pillow open HEIC when pillow-heif is installed
        try:
            header = await asyncio.to_thread(probe, data, max_pixels)
        except ImageError as exc:
            if exc.code != "animated" or max_seconds is None or not message.document:
                raise InputRejected(exc.code) from None
            clip = await asyncio.to_thread(_animated_picture, data)  # a GIF or WebP sent as a file
            self._remember(item.file_unique_id, data)
            return ImageRef(file_id=item.file_id, unique_id=item.file_unique_id, clip=clip)
        if header.format == "HEIF":
            return await self._receive_heif(item.file_id, item.file_unique_id, data, header)
        ref = ImageRef(file_id=item.file_id, unique_id=item.file_unique_id, width=header.width, height=header.height)
        self._remember(item.file_unique_id, data)
        return ref

    async def _receive_clip(self, bot: Bot, message: Message, max_seconds: float) -> ImageRef:
        """A clip's size and duration are checked from what Telegram says before downloading; its frames are read
        only in the worker (the bot process never loads a video decoder)."""
        item: Any
        if message.animation:
            item, kind = message.animation, "animation"
        elif message.video_note:
            item, kind = message.video_note, "video_note"
        elif message.video:
            item, kind = message.video, "video"
        else:
            item, kind = message.document, "video"
        if item.file_size is not None and item.file_size > MAX_DOWNLOAD_BYTES:
            raise InputRejected("video_too_large")
        seconds = float(getattr(item, "duration", 0) or 0)
        if seconds > max_seconds + DURATION_SLACK:
            raise InputRejected("video_too_long")
        mime = (getattr(item, "mime_type", None) or "video/mp4").lower()
        suffix = Path(getattr(item, "file_name", None) or "").suffix.lower() or CLIP_SUFFIXES.get(mime, ".mp4")
        side = getattr(item, "length", None)  # video notes are squares
        width, height = (side, side) if side else (getattr(item, "width", 0) or 0, getattr(item, "height", 0) or 0)
        data = await self._download(bot, item.file_id, too_big="video_too_large")
        if not data:
            raise InputRejected("video_corrupt")
        self._remember(item.file_unique_id, data)
        return ImageRef(file_id=item.file_id, unique_id=item.file_unique_id,
                        clip={"kind": kind, "suffix": suffix, "seconds": seconds, "width": int(width),
                              "height": int(height)})

    async def _receive_heif(self, file_id: str, unique_id: str, data: bytes, header: Header) -> ImageRef:
        """Checked like any picture, then kept as a JPEG (in the cache and, when there is a folder for it, on disk so
        a later job still finds it); the workers never see HEIC."""
        try:
            jpeg = await asyncio.to_thread(heif_to_jpeg, data)
        except Exception:
            raise InputRejected("truncated") from None
        path = await asyncio.to_thread(self._keep_converted, unique_id, jpeg)
        self._remember(unique_id, jpeg)
        return ImageRef(file_id=file_id, unique_id=unique_id, path=str(path) if path else None, width=header.width,
                        height=header.height)

    def _keep_converted(self, unique_id: str, data: bytes) -> Path | None:
        if self.converted_dir is None:
            return None
        try:
            self.converted_dir.mkdir(parents=True, exist_ok=True)
            now = time.time()
            for old in self.converted_dir.glob("*.jpg"):
                if now - old.stat().st_mtime > CONVERTED_KEEP_S:
                    old.unlink(missing_ok=True)
            path = self.converted_dir / f"{unique_id}.jpg"
            path.write_bytes(data)
            return path
        except OSError:
            return None

    async def read(self, bot: Bot, ref: ImageRef) -> bytes:
        """The bytes behind a reference: cache, local copy, gallery file or a fresh download."""
        cached = self._recall(ref.unique_id)
        if cached is not None:
            return cached
        if ref.gallery:
            style = registry.GALLERY.get(ref.gallery)
            if style is None:
                raise InputRejected("input_expired")
            return await asyncio.to_thread((self.styles_dir / style.file.path).read_bytes)
        if ref.path and Path(ref.path).is_file():
            return await asyncio.to_thread(Path(ref.path).read_bytes)
        if not ref.file_id:
            raise InputRejected("input_expired")
        data = await self._download(bot, ref.file_id)
        if ref.unique_id:
            self._remember(ref.unique_id, data)
        return data

    async def _download(self, bot: Bot, file_id: str, too_big: str = "file_too_big") -> bytes:
        async with self._downloads:
            self.downloading += 1
            self.downloading_peak = max(self.downloading_peak, self.downloading)
            try:
                return await self._fetch(bot, file_id, too_big)
            finally:
                self.downloading -= 1

    @staticmethod
    async def _fetch(bot: Bot, file_id: str, too_big: str = "file_too_big") -> bytes:
        try:
            file = await bot.get_file(file_id)
            if file.file_size is not None and file.file_size > MAX_DOWNLOAD_BYTES:
                raise InputRejected(too_big)
            if not file.file_path:
                raise InputRejected("download_failed")
            buffer = io.BytesIO()
            await bot.download_file(file.file_path, destination=buffer, timeout=120)
        except TelegramBadRequest as exc:
            raise InputRejected(too_big if "too big" in str(exc).lower() else "download_failed") from None
        except (TimeoutError, TelegramAPIError, aiohttp.ClientError, OSError):
            raise InputRejected("download_failed") from None
        return buffer.getvalue()
