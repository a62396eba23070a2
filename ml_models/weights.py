"""Fetching, checking and listing the weight files named in ``registry.MANIFEST``.

Weights are hundreds of megabytes from hosts that drop connections, so a download resumes from its ``.part`` file
with an HTTP Range request, retries with backoff, is verified (sha256 where pinned) before it is moved into place
atomically, and never leaves a half file under the final name. Files that ship inside an archive are extracted,
files derived by conversion (the features-only VGG-19) are converted. Only the stdlib is used (tqdm when present),
and torch is imported only inside the VGG conversion, so the bot and the CLI's ``list`` stay light.

Every file is verified: against its published sha256 (or the sha256 prefix a torch.hub-style name carries), else by
trust on first use: the first download's (or first use's) sha256 is recorded in ``WEIGHTS_DIR/weights.lock.json`` and
every later download or model load must match it. ``WEIGHTS_VERIFY=off`` skips the lock and the load-time check (the
operator's escape hatch when upstream really changed a file); plain-http sources are fetched only with the lock on.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment import Env

from . import registry
from .errors import CheckpointError, EngineError
from .registry import WeightFile
from .settings import DEFAULT_WEIGHTS_DIR

log = logging.getLogger(__name__)

MANIFEST_JSON = Path(__file__).resolve().parent.parent / "weights" / "manifest.json"
"""The committed, generated copy of the registry's manifest (``python -m ml_models manifest`` rewrites it)."""

DEFAULT_TARGETS = ("microast", "johnson", "upscale", "gallery")
"""What a fresh install needs: the fast arbitrary-style model, the preset styles, upscaling and the style gallery."""

_CHUNK = 1 << 16
_USER_AGENT = "artbot-weights/1.0 (+python urllib)"
_APPROX_TOLERANCE = 0.10
LOCK_NAME = "weights.lock.json"


class DownloadError(EngineError):
    """A weight file could not be fetched, verified, extracted or converted."""

    default_code = "download_failed"


class _Retryable(Exception):
    """A transient failure (connection drop, timeout, HTTP 5xx): try again, resuming from the ``.part`` file."""


# --------------------------------------------------------------------------------------------------- locations


def location(entry: WeightFile, weights_dir: Path, styles_dir: Path | None = None) -> Path:
    """Where a manifest file lives: style images in ``styles_dir``, everything else in ``weights_dir``."""
    if entry.kind == "style_image":
        return Path(styles_dir if styles_dir is not None else Path(weights_dir) / "styles") / entry.path
    return Path(weights_dir) / entry.path


def expand_targets(targets: Iterable[str | WeightFile]) -> list[WeightFile]:
    """Manifest files for download targets, sources before the files made from them, without duplicates.

    A target is ``model``, ``model:preset``, ``gallery``, ``all`` (every model and the gallery), a manifest path,
    or a ``WeightFile``.
    """
    out: list[WeightFile] = []
    for target in targets:
        if isinstance(target, WeightFile):
            found = [target]
        elif target == "all":
            found = [f for model_id in registry.MODELS for f in registry.files_for(model_id)]
            found += registry.files_for("gallery")
        else:
            found = registry.files_for(target)
        for entry in found:
            if all(e.path != entry.path or e.kind != entry.kind for e in out):
                out.append(entry)
    return out


# --------------------------------------------------------------------------------------------------- verification


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_prefix(entry: WeightFile) -> str | None:
    """The sha256 prefix a torch.hub-style file name carries (``name-<8+ hex>.pth``), or None."""
    for name in (Path(entry.path).name, Path((entry.url or "").split("?")[0]).name):
        match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z.]+$", name)
        if match:
            return match.group(1)
    return None


def trust(entry: WeightFile, lock: dict[str, Any] | None = None) -> str:
    """``pinned`` (published sha256 or a name's prefix), ``locked`` (first download's sha256 recorded) or
    ``unverified``."""
    if entry.sha256 or sha256_prefix(entry):
        return "pinned"
    return "locked" if lock is not None and entry.path in lock else "unverified"


def verification_on() -> bool:
    """``WEIGHTS_VERIFY`` (on unless ``off``), read through the one environment reader like every other variable."""
    return Env.load().choice("WEIGHTS_VERIFY", "on", ("on", "off")) == "on"


def read_lock(weights_dir: Path) -> dict[str, Any]:
    """Manifest path -> ``{"sha256", "size", "first_seen", "origin"}`` from ``WEIGHTS_DIR/weights.lock.json``."""
    path = Path(weights_dir) / LOCK_NAME
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("files", {}))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        raise DownloadError(message=f"{path} is unreadable ({exc}); fix or delete it (every unpinned file is then "
                                    "trusted again on first use)", path=str(path)) from None


def _record(weights_dir: Path, entry: WeightFile, digest: str, size: int, origin: str, replace: bool = False) -> None:
    """Add a file's first sha256 to the lock (read-modify-write under an flock: several workers may record);
    ``replace`` overwrites an entry (a file this machine has just made again from a verified source)."""
    try:
        _write_lock_entry(Path(weights_dir), entry, digest, size, origin, replace)
    except OSError as exc:  # a read-only weights volume: check only what is already locked
        log.warning("%s: cannot record its sha256 in %s (%s); it stays unverified", entry.path,
                    Path(weights_dir) / LOCK_NAME, exc)
        return
    log.warning("%s: no published checksum; sha256 %s recorded in %s (trust on first use)", entry.path, digest,
                Path(weights_dir) / LOCK_NAME)


def _write_lock_entry(weights_dir: Path, entry: WeightFile, digest: str, size: int, origin: str,
                      replace: bool) -> None:
    weights_dir.mkdir(parents=True, exist_ok=True)
    with open(weights_dir / (LOCK_NAME + ".lck"), "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        files = read_lock(weights_dir)
        if entry.path in files and not replace:
            return
        files[entry.path] = {"sha256": digest, "size": size, "origin": origin,
                             "first_seen": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        part = weights_dir / (LOCK_NAME + ".part")
        text = {"about": "sha256 of each weight file without a published checksum, recorded on first use; every "
                         "later download or load must match (python -m ml_models list)", "files": files}
        part.write_text(json.dumps(text, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(part, weights_dir / LOCK_NAME)


def _problem(entry: WeightFile, path: Path, weights_dir: Path | None = None,
             record_as: str | None = None) -> str | None:
    """Why ``path`` is not the expected file, or None. Approximate sizes only log a warning.

    Unpinned files are compared with the lock in ``weights_dir`` (when given and verification is on); with
    ``record_as`` (the origin) a file the lock does not know yet is recorded there.
    """
    size = path.stat().st_size
    if entry.size is not None and not entry.approx_size and size != entry.size:
        return f"size {size} bytes, expected {entry.size}"
    prefix = sha256_prefix(entry)
    if entry.sha256 or prefix:
        digest = sha256_of(path)
        if entry.sha256 and digest != entry.sha256:
            return f"sha256 {digest}, expected {entry.sha256}"
        if prefix and not digest.startswith(prefix):
            return f"sha256 {digest}, expected one starting with {prefix} (from its file name)"
    elif weights_dir is not None and verification_on():
        locked = read_lock(weights_dir).get(entry.path)
        if locked is not None or record_as is not None:
            digest = sha256_of(path)
            if locked is None:
                _record(weights_dir, entry, digest, size, record_as or "")
            elif digest != locked.get("sha256"):
                return (f"sha256 {digest} differs from {locked.get('sha256')} recorded in {LOCK_NAME} on "
                        f"{locked.get('first_seen')}; if upstream really changed the file, delete its entry there")
    if entry.size and entry.approx_size and abs(size - entry.size) > _APPROX_TOLERANCE * entry.size:
        log.warning("%s: %d bytes, about %d expected (no checksum is published; keeping it)", entry.path, size,
                    entry.size)
    return None


def verify(entry: WeightFile, path: Path, weights_dir: Path | None = None) -> bool | None:
    """True when the file matches its pinned sha256, its name's prefix, its exact size or its lock entry (looked up
    in ``weights_dir``), False when it does not, None when nothing is known (or the file is absent)."""
    if not Path(path).is_file():
        return None
    known = entry.sha256 or sha256_prefix(entry) or (entry.size is not None and not entry.approx_size)
    if not known and not (weights_dir is not None and verification_on() and entry.path in read_lock(weights_dir)):
        return None
    return _problem(entry, Path(path), weights_dir) is None


_loaded: dict[tuple[str, int, int], None] = {}


def check_load(paths: Iterable[Path], weights_dir: Path) -> None:
    """Before a model loads its files: each must match its pin or lock (recorded now when first used).

    Hashing happens once per file and process (keyed by size and mtime). Raises ``CheckpointError``.
    """
    if not verification_on():
        return
    for path in paths:
        path = Path(path)
        try:
            rel = path.resolve().relative_to(Path(weights_dir).resolve()).as_posix()
            stat = path.stat()
        except (ValueError, OSError):
            continue
        entry = registry.MANIFEST.get(rel)
        cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
        if entry is None or cache_key in _loaded:
            continue
        problem = _problem(entry, path, weights_dir, record_as=f"first use of {path}")
        if problem:
            raise CheckpointError(message=f"{rel} does not match its checksum ({problem}); run: python -m ml_models "
                                          f"download to fetch it again", path=rel, problem=problem)
        _loaded[cache_key] = None


# --------------------------------------------------------------------------------------------------- downloading


def download(targets: Iterable[str | WeightFile] = DEFAULT_TARGETS, weights_dir: Path = DEFAULT_WEIGHTS_DIR,
             styles_dir: Path | None = None, progress: bool = True, retries: int = 3, timeout: float = 60,
             keep_sources: bool = False, backoff: float = 1.0) -> list[Path]:
    """Make every file the targets need present and verified; returns their paths.

    Present files that verify are skipped. Archives and conversion sources that only serve to produce other files
    are fetched when one of those is missing and, unless ``keep_sources``, deleted afterwards if this call fetched
    them. Failures do not stop the other files; one ``DownloadError`` listing them all is raised at the end.
    """
    weights_dir = Path(weights_dir)
    plan = expand_targets(targets)
    dependents: dict[str, list[WeightFile]] = {}
    for entry in plan:
        if source := entry.archive or entry.derived_from:
            dependents.setdefault(source, []).append(entry)

    def where(entry: WeightFile) -> Path:
        return location(entry, weights_dir, styles_dir)

    checked: dict[Path, bool] = {}

    def usable(entry: WeightFile) -> bool:  # hashed once per call, even when asked for a source and its file
        path = where(entry)
        if path not in checked:
            checked[path] = _usable(entry, path, weights_dir)
        return checked[path]

    done: list[Path] = []
    failed: dict[str, str] = {}
    fetched_sources: list[Path] = []
    for entry in plan:
        dest = where(entry)
        users = dependents.get(entry.path, [])
        try:
            if users and all(usable(u) for u in users):
                continue  # only a means to files that are already in place
            if usable(entry):
                pinned = entry.sha256 or (entry.size is not None and not entry.approx_size)
                log.info("%s: present%s", entry.path, " and verified" if pinned else "")
            elif source := entry.archive or entry.derived_from:
                if source in failed:
                    raise DownloadError(message=f"{entry.path}: not produced because {source} failed",
                                        path=entry.path)
                source_path = where(registry.MANIFEST[source])
                if entry.archive:
                    _extract(entry, source_path, dest, weights_dir)
                else:
                    _convert(entry, source_path, dest, weights_dir)
            elif entry.url:
                _fetch(entry, dest, weights_dir, progress=progress, retries=retries, timeout=timeout,
                       backoff=backoff)
                if users:
                    fetched_sources.append(dest)
            else:
                raise DownloadError(
                    message=f"{entry.path} cannot be downloaded automatically ({entry.source}); fetch it by hand "
                            f"and place it at {dest}", path=entry.path, place_at=str(dest))
            if not users:
                done.append(dest)
        except DownloadError as exc:
            if exc.args[2].get("unresolved"):  # no DNS (offline, firewall): every other file would wait for it too
                raise
            failed[entry.path] = exc.message
    if not keep_sources:
        for path in fetched_sources:
            if path.exists():
                log.info("%s: removed (its files were produced; keep it with --keep-sources)", path.name)
                path.unlink()
    if failed:
        lines = list(failed.values())
        message = lines[0] if len(lines) == 1 else f"{len(lines)} files failed:\n" + "\n".join(lines)
        raise DownloadError(message=message, failed=sorted(failed), done=[str(p) for p in done])
    return done


def _usable(entry: WeightFile, path: Path, weights_dir: Path) -> bool:
    if not path.is_file():
        return False
    problem = _problem(entry, path, weights_dir, record_as=f"found in place at {path}")
    if problem:
        log.warning("%s: present but does not match (%s); fetching it again", entry.path, problem)
    return problem is None


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _fetch(entry: WeightFile, dest: Path, weights_dir: Path, *, progress: bool, retries: int, timeout: float,
           backoff: float) -> None:
    assert entry.url
    if entry.url.startswith("http://") and trust(entry) != "pinned":
        if not verification_on():
            raise DownloadError(message=f"{entry.path}: {entry.url} is plain http without a published checksum; it "
                                        "is fetched only with WEIGHTS_VERIFY on (its first sha256 is locked)",
                                path=entry.path, url=entry.url)
        log.warning("%s: plain-http source %s (no TLS, no published checksum): its sha256 is checked against "
                    "%s, or recorded there on this first download", entry.path, entry.url, LOCK_NAME)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part(dest)
    attempt = 0
    while True:
        try:
            _transfer(entry, part, progress=progress, timeout=timeout)
            break
        except _Retryable as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    message=f"{entry.path}: download from {entry.url} failed after {attempt} attempts ({exc}); "
                            f"run the command again to resume", path=entry.path, url=entry.url) from None
            delay = backoff * 2 ** (attempt - 1)
            log.warning("%s: %s; retrying in %.1f s (%d/%d)", entry.path, exc, delay, attempt, retries)
            time.sleep(delay)
    _install(entry, part, dest, weights_dir, origin=entry.url)


def _install(entry: WeightFile, part: Path, dest: Path, weights_dir: Path, origin: str) -> None:
    """Verify the finished ``.part`` (pin, or lock: recorded on a first download) and move it into place; a bad file
    is deleted, never installed."""
    problem = _problem(entry, part, weights_dir, record_as=origin)
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(message=f"{entry.path}: the file from {origin} is corrupted or changed upstream "
                                    f"({problem}); it was deleted", path=entry.path, problem=problem)
    os.replace(part, dest)
    _fsync_dir(dest.parent)
    log.info("%s: saved to %s", entry.path, dest)


def _transfer(entry: WeightFile, part: Path, *, progress: bool, timeout: float) -> None:
    """One HTTP attempt, appending to ``part`` when the server honours the Range request."""
    have = part.stat().st_size if part.exists() else 0
    exact = entry.size if entry.size is not None and not entry.approx_size else None
    if exact is not None and have >= exact:
        if have == exact:
            return  # a previous attempt finished the transfer but not the install
        part.unlink()
        have = 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(entry.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            total = _total_from_content_range(exc.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink(missing_ok=True)
            raise _Retryable("the server refused to resume; starting over") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(message=f"{entry.path}: HTTP {exc.code} {exc.reason} from {entry.url}",
                            path=entry.path, url=entry.url, status=exc.code) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if isinstance(getattr(exc, "reason", None), socket.gaierror):  # retrying will not make a name resolve
            host = urllib.parse.urlsplit(entry.url).hostname
            raise DownloadError(message=f"cannot resolve {host}: this machine has no DNS or no internet (a "
                                        f"firewall?); copy the weight files by hand and point WEIGHTS_DIR at them",
                                path=entry.path, url=entry.url, unresolved=host) from None
        raise _Retryable(f"cannot connect: {getattr(exc, 'reason', exc)}") from None

    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if have and response.status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Retryable(f"the server resumed at byte {start}, not {have}; starting over")
            mode = "ab"
        else:
            have, mode = 0, "wb"  # a 200 answer to a Range request: the server sends everything again
        total = have + length if length is not None else exact
        bar = _progress_bar(entry.path, total, have, progress)
        try:
            with open(part, mode) as fh:
                try:
                    while chunk := response.read(_CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retryable(f"connection lost after {fh.tell()} bytes ({type(exc).__name__})") from None
                finally:
                    fh.flush()
                    os.fsync(fh.fileno())
        finally:
            bar.close()
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Retryable(f"connection closed after {got} of {total} bytes")


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+[\d*-]+/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(name: str, total: int | None, initial: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                dynamic_ncols=True, leave=True)


# --------------------------------------------------------------------------------------------------- archives and
# conversions


def _extract(entry: WeightFile, archive: Path, dest: Path, weights_dir: Path) -> None:
    if not archive.is_file():
        raise DownloadError(message=f"{entry.path}: its archive {archive} is missing", path=entry.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            member = entry.member if entry.member in names else next(
                (n for n in names if Path(n).name == Path(entry.member or entry.path).name), None)
            if member is None:
                raise DownloadError(message=f"{entry.path}: {entry.member} is not in {archive.name} "
                                            f"(it holds {', '.join(names[:10])})", path=entry.path)
            with zf.open(member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        part.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)  # unverifiable archives are fetched again next time
        raise DownloadError(message=f"{entry.path}: {archive.name} is not a readable zip archive ({exc}); "
                                    "it was deleted, run the command again", path=entry.path) from None
    _install(entry, part, dest, weights_dir, origin=archive.name)


def _convert_vgg19(src: Path, dst: Path) -> None:
    from .vgg import convert_torchvision_vgg19  # torch is imported here only

    convert_torchvision_vgg19(src, dst)


_CONVERTERS: dict[str, Callable[[Path, Path], Any]] = {
    "vgg19/vgg19-features.pth": _convert_vgg19,
}


def _convert(entry: WeightFile, source: Path, dest: Path, weights_dir: Path) -> None:
    converter = _CONVERTERS.get(entry.path)
    if converter is None:
        raise DownloadError(message=f"{entry.path}: no converter from {entry.derived_from} is known",
                            path=entry.path)
    if not source.is_file():
        raise DownloadError(message=f"{entry.path}: its source {source} is missing", path=entry.path)
    log.info("%s: converting from %s", entry.path, source.name)
    try:
        converter(source, dest)
    except EngineError as exc:
        raise DownloadError(message=f"{entry.path}: conversion from {source.name} failed: {exc}",
                            path=entry.path) from None
    if verification_on() and trust(entry) != "pinned":  # made here from a verified source: this is its first use
        _record(weights_dir, entry, sha256_of(dest), dest.stat().st_size, f"converted from {source.name}",
                replace=True)


# --------------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class FileStatus:
    """One row of ``python -m ml_models list``."""

    path: str  # manifest path
    kind: str  # weights | archive | style_image
    location: Path
    present: bool
    size: int | None  # bytes on disk
    expected_size: int | None
    approx_size: bool
    verified: bool | None  # True/False against the pin, exact size or lock, None when nothing is known
    trust: str  # pinned | locked | unverified (see ``trust``)
    fetchable: bool  # has a URL, or an archive / source that has one
    source: str
    licence: str


def status(weights_dir: Path, styles_dir: Path | None = None, check_hashes: bool = True) -> list[FileStatus]:
    """Every manifest file and gallery image, present or not. ``check_hashes=False`` skips reading big files."""
    rows = []
    entries = list(registry.MANIFEST.values()) + [s.file for s in registry.GALLERY.values()]
    lock = read_lock(weights_dir) if verification_on() else {}
    for entry in entries:
        path = location(entry, Path(weights_dir), styles_dir)
        present = path.is_file()
        if present and check_hashes:
            verified = verify(entry, path, weights_dir)
        elif present and entry.size is not None and not entry.approx_size:
            verified = path.stat().st_size == entry.size
        else:
            verified = None
        source = entry.archive or entry.derived_from
        rows.append(FileStatus(
            path=entry.path, kind=entry.kind, location=path, present=present,
            size=path.stat().st_size if present else None, expected_size=entry.size, approx_size=entry.approx_size,
            verified=verified, trust=trust(entry, lock),
            fetchable=bool(entry.url or (source and registry.MANIFEST[source].url)),
            source=entry.source, licence=entry.licence))
    return rows


# --------------------------------------------------------------------------------------------------- manifest.json


def _file_json(entry: WeightFile) -> dict[str, Any]:
    return {"path": entry.path, "url": entry.url, "sha256": entry.sha256, "sha256_prefix": sha256_prefix(entry),
            "verified_by": "sha256" if entry.sha256 or sha256_prefix(entry) else "lock", "size": entry.size,
            "approx_size": entry.approx_size, "kind": entry.kind, "archive": entry.archive, "member": entry.member,
            "derived_from": entry.derived_from, "source": entry.source, "licence": entry.licence}


def manifest_dict() -> dict[str, Any]:
    """The manifest as plain JSON data, generated from the registry so the two cannot disagree."""
    targets: dict[str, list[str]] = {}
    for spec in registry.MODELS.values():
        targets[spec.id] = [f.path for f in registry.files_for(spec.id)]
        for preset in spec.presets:
            targets[f"{spec.id}:{preset.id}"] = [f.path for f in registry.files_for(f"{spec.id}:{preset.id}")]
    targets["gallery"] = [f.path for f in registry.files_for("gallery")]
    return {
        "generated_by": "python -m ml_models manifest (from ml_models/registry.py; do not edit by hand)",
        "default_targets": list(DEFAULT_TARGETS),
        "files": [_file_json(f) for f in registry.MANIFEST.values()],
        "gallery": [{"id": s.id, "title_en": s.title_en, "title_ru": s.title_ru, **_file_json(s.file)}
                    for s in registry.GALLERY.values()],
        "targets": targets,
    }


def manifest_text() -> str:
    return json.dumps(manifest_dict(), indent=2, ensure_ascii=False) + "\n"


def write_manifest(path: Path = MANIFEST_JSON) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = _part(path)
    part.write_text(manifest_text(), encoding="utf-8")
    os.replace(part, path)
    return path
