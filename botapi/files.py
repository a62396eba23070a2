"""The file store: every photo, document, sticker and video either side sent, addressed by file_id.

Telegram identifies a file by a ``file_id`` (reusable by the bot to send the file again), a stable
``file_unique_id`` and, after ``getFile``, a ``file_path`` under ``/file/bot<token>/``. Photos come as a list of
``PhotoSize`` — the emulator keeps the original bytes as the largest size and adds JPEG thumbnails the way the
client sees them. A file can also be *virtual* (size only, no bytes) to simulate uploads above the 20 MB
download limit without holding them in memory.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import mimetypes
import secrets
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import WRONG_FILE_ID, ApiError, bad_request

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
DOCUMENT_UPLOAD_LIMIT = 50 * 1024 * 1024
THUMB_SIDES = ((90, "s"), (320, "m"), (800, "x"))

_PREFIX = {"photo": "AgAC", "document": "BQAC", "sticker": "CAAC", "video": "BAAC", "thumbnail": "AAMC",
           "animation": "CgAC", "video_note": "DQAC"}
_FOLDER = {"photo": "photos", "document": "documents", "sticker": "stickers", "video": "videos",
           "thumbnail": "thumbnails", "animation": "animations", "video_note": "video_notes"}
CLIP_KINDS = ("animation", "video", "video_note")


@dataclass
class StoredFile:
    """One file. ``data`` is None for virtual (size-only) files."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int
    data: bytes | None
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    file_path: str | None = None
    photo_group: list[dict[str, Any]] | None = field(default=None, repr=False)  # the PhotoSize list it belongs to

    def photo_size(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size,
                "width": self.width, "height": self.height}


def image_size(data: bytes) -> tuple[int, int, str]:
    """(width, height, Pillow format) of an encoded image; 400 IMAGE_PROCESS_FAILED when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height, (img.format or "").upper()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc


def _thumbnail(data: bytes, side: int) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (side, side))
        img = img.convert("RGB")
        img.thumbnail((side, side))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=80)
        return out.getvalue(), img.width, img.height


class FileStore:
    """All files by file_id and by file_path."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, kind: str, data: bytes | None, *, size: int | None = None, mime_type: str | None = None,
            file_name: str | None = None, width: int | None = None, height: int | None = None) -> StoredFile:
        if data is not None:
            unique = hashlib.sha256(data).hexdigest()[:16]
            size = len(data)
        else:
            unique = secrets.token_hex(8)
        file_id = f"{_PREFIX.get(kind, 'CQAC')}{next(self._counter):06d}_{secrets.token_urlsafe(12)}"
        stored = StoredFile(file_id, f"AQAD{unique}", kind, int(size or 0), data, mime_type, file_name, width, height)
        self._by_id[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def require(self, file_id: str) -> StoredFile:
        stored = self._by_id.get(file_id)
        if stored is None:
            raise bad_request(WRONG_FILE_ID)
        return stored

    def add_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Store a photo and return its PhotoSize list, smallest first, the original last."""
        width, height, fmt = image_size(data)
        sizes: list[dict[str, Any]] = []
        members: list[StoredFile] = []
        for side, _letter in THUMB_SIDES:
            if max(width, height) > side * 1.25:
                thumb, tw, th = _thumbnail(data, side)
                stored = self.add("photo", thumb, mime_type="image/jpeg", width=tw, height=th)
                members.append(stored)
                sizes.append(stored.photo_size())
        original = self.add("photo", data, mime_type=Image.MIME.get(fmt, "image/jpeg"),
                            width=width, height=height)
        members.append(original)
        sizes.append(original.photo_size())
        for member in members:
            member.photo_group = sizes
        return sizes

    def add_document(self, data: bytes | None, file_name: str | None, mime_type: str | None, *,
                     size: int | None = None) -> dict[str, Any]:
        """Store a document and return its Document object (with a thumbnail for small enough images)."""
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = (mimetypes.guess_type(file_name or "")[0] if file_name else None) or mime_type
        stored = self.add("document", data, size=size, mime_type=mime_type or "application/octet-stream",
                          file_name=file_name)
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                    "file_size": stored.size, "mime_type": stored.mime_type}
        if file_name:
            document["file_name"] = file_name
        if data is not None and (mime_type or "").startswith("image/"):
            try:
                thumb, tw, th = _thumbnail(data, 320)
            except (UnidentifiedImageError, OSError, ValueError):
                pass
            else:
                stored_thumb = self.add("thumbnail", thumb, mime_type="image/jpeg", width=tw, height=th)
                document["thumbnail"] = stored_thumb.photo_size()
        return document

    def assign_path(self, stored: StoredFile) -> str:
        """getFile: give the file a download path (stable once assigned)."""
        if stored.data is None or stored.size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        if stored.file_path is None:
            ext = mimetypes.guess_extension(stored.mime_type or "") or ""
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1].lower()
            ext = {".jpe": ".jpg", ".jpeg": ".jpg"}.get(ext, ext)
            stored.file_path = f"{_FOLDER.get(stored.kind, 'files')}/file_{len(self._by_path)}{ext}"
            self._by_path[stored.file_path] = stored
        return stored.file_path

    def check_upload(self, kind: str, data: bytes) -> None:
        """Limits of bot uploads: 50 MB for any file; photos 10 MB, width + height <= 10000, ratio <= 20."""
        if len(data) > DOCUMENT_UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        if not data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if len(data) > PHOTO_UPLOAD_LIMIT:
                raise bad_request("PHOTO_SAVE_FILE_INVALID")
            width, height, _ = image_size(data)
            if width + height > 10_000 or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")



def clip_object(stored: StoredFile, kind: str, *, duration: int, width: int, height: int) -> dict[str, Any]:
    """The Bot API ``Animation``, ``Video`` or ``VideoNote`` object for a stored clip (the emulator does not decode
    clips: their size and duration are what the sender declared, as Telegram takes them from the client)."""
    item: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                            "duration": int(duration), "file_size": stored.size}
    if kind == "video_note":
        item["length"] = int(width)
        return item
    item.update(width=int(width), height=int(height), mime_type=stored.mime_type or "video/mp4")
    if stored.file_name:
        item["file_name"] = stored.file_name
    return item
