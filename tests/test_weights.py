"""Weight downloads against a real local HTTP server: verification, resume, retries, archives, skips, messages."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml_models import registry, weights
from ml_models.errors import EngineError, WeightsMissing
from ml_models.registry import WeightFile
from ml_models.weights import DownloadError
from tests.conftest import REPO


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` with Range support, plus scripted failures (HTTP 500, a dropped connection)."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        name = self.path.lstrip("/")
        srv.requests.append((name, self.headers.get("Range")))
        if srv.fail_500.get(name, 0) > 0:
            srv.fail_500[name] -= 1
            self.send_error(500, "scripted failure")
            return
        if name not in srv.files:
            self.send_error(404)
            return
        data = srv.files[name]
        start = 0
        wanted = self.headers.get("Range")
        if wanted and not srv.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        cut = srv.drop_after.pop(name, None)
        if cut is not None:  # promise the whole body, send part of it, hang up
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.fail_500, srv.drop_after, srv.ignore_range = {}, [], {}, {}, False
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _payload(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed + i // 251) % 256 for i in range(n))


def _serve(server, monkeypatch, path: str, data: bytes, *, sha: bool = True, size: int | None = -1,
           **extra) -> WeightFile:
    """Put ``data`` on the server and a manifest entry for it into the registry (undone after the test)."""
    server.files[path] = data
    entry = WeightFile(path, f"{server.url}/{path}", hashlib.sha256(data).hexdigest() if sha else None,
                       len(data) if size == -1 else size, "test server", "MIT", **extra)
    monkeypatch.setitem(registry.MANIFEST, path, entry)
    return entry


def _get(tmp_path: Path, targets, **kw) -> list[Path]:
    kw.setdefault("progress", False)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 10)
    return weights.download(targets, tmp_path / "w", tmp_path / "s", **kw)


def test_download_verifies_and_installs(server, monkeypatch, tmp_path):
    data = _payload(50_000)
    _serve(server, monkeypatch, "test/model.pth", data)
    paths = _get(tmp_path, ["test/model.pth"])
    assert paths == [tmp_path / "w" / "test/model.pth"]
    assert paths[0].read_bytes() == data
    assert not (tmp_path / "w" / "test/model.pth.part").exists()
    assert server.requests == [("test/model.pth", None)]


def test_corrupted_file_is_refused_and_removed(server, monkeypatch, tmp_path):
    entry = _serve(server, monkeypatch, "test/model.pth", _payload(20_000))
    monkeypatch.setitem(registry.MANIFEST, entry.path, replace(entry, sha256=hashlib.sha256(b"other").hexdigest()))
    with pytest.raises(DownloadError) as info:
        _get(tmp_path, ["test/model.pth"])
    assert info.value.code == "download_failed" and isinstance(info.value, EngineError)
    assert "sha256" in str(info.value) and "test/model.pth" in str(info.value)
    assert info.value.details["failed"] == ["test/model.pth"]
    assert not (tmp_path / "w" / "test/model.pth").exists()
    assert not (tmp_path / "w" / "test/model.pth.part").exists()


def test_exact_size_mismatch_is_refused(server, monkeypatch, tmp_path):
    _serve(server, monkeypatch, "test/model.pth", _payload(1000), sha=False, size=999)
    with pytest.raises(DownloadError, match="size 1000 bytes, expected 999"):
        _get(tmp_path, ["test/model.pth"])
    assert not (tmp_path / "w" / "test/model.pth").exists()


def test_approximate_size_only_warns(server, monkeypatch, tmp_path, caplog):
    _serve(server, monkeypatch, "test/model.pth", _payload(1000), sha=False, size=5000, approx_size=True)
    with caplog.at_level(logging.WARNING, logger="ml_models.weights"):
        paths = _get(tmp_path, ["test/model.pth"])
    assert paths[0].stat().st_size == 1000
    assert "about 5000 expected" in caplog.text


def test_resume_after_connection_drop(server, monkeypatch, tmp_path):
    data = _payload(300_000, seed=3)
    _serve(server, monkeypatch, "test/big.pth", data)
    server.drop_after["test/big.pth"] = 120_000
    paths = _get(tmp_path, ["test/big.pth"], retries=2, progress=True)  # the tqdm path too
    assert paths[0].read_bytes() == data
    assert [r[0] for r in server.requests] == ["test/big.pth", "test/big.pth"]
    assert server.requests[0][1] is None
    assert server.requests[1][1] == "bytes=120000-"  # the second request continued where the first stopped


def test_resume_from_part_left_by_an_earlier_run(server, monkeypatch, tmp_path):
    data = _payload(80_000, seed=5)
    _serve(server, monkeypatch, "test/big.pth", data)
    part = tmp_path / "w" / "test" / "big.pth.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:30_000])
    assert _get(tmp_path, ["test/big.pth"])[0].read_bytes() == data
    assert server.requests == [("test/big.pth", "bytes=30000-")]


def test_server_ignoring_range_restarts_cleanly(server, monkeypatch, tmp_path):
    data = _payload(40_000, seed=6)
    _serve(server, monkeypatch, "test/big.pth", data)
    server.ignore_range = True
    part = tmp_path / "w" / "test" / "big.pth.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage" * 100)
    assert _get(tmp_path, ["test/big.pth"])[0].read_bytes() == data


def test_retries_on_http_500(server, monkeypatch, tmp_path):
    data = _payload(10_000)
    _serve(server, monkeypatch, "test/model.pth", data)
    server.fail_500["test/model.pth"] = 2
    assert _get(tmp_path, ["test/model.pth"], retries=3)[0].read_bytes() == data
    assert len(server.requests) == 3


def test_gives_up_after_retries(server, monkeypatch, tmp_path):
    _serve(server, monkeypatch, "test/model.pth", _payload(100))
    server.fail_500["test/model.pth"] = 10
    with pytest.raises(DownloadError, match="after 3 attempts"):
        _get(tmp_path, ["test/model.pth"], retries=2)
    assert len(server.requests) == 3


def test_an_unresolvable_host_is_said_once_and_stops_the_download(monkeypatch, tmp_path, caplog):
    """Behind a firewall without DNS: one line naming the host, no retries, no wait for the other files."""
    import socket
    import time

    real = socket.getaddrinfo
    asked = []

    def resolver(host, *args, **kwargs):  # the machine's resolver, as it answers without DNS
        if host.endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    for name in ("a", "b", "c"):
        path = f"test/{name}.pth"
        monkeypatch.setitem(registry.MANIFEST, path, WeightFile(path, f"https://weights.invalid/{name}.pth", None,
                                                                100, "test", "MIT"))
    began = time.monotonic()
    with pytest.raises(DownloadError, match="cannot resolve weights.invalid"):
        _get(tmp_path, ["test/a.pth", "test/b.pth", "test/c.pth"], retries=3, backoff=1.0)
    assert time.monotonic() - began < 1.0 and asked == ["weights.invalid"]
    assert "retrying" not in caplog.text


def test_http_404_is_not_retried(server, monkeypatch, tmp_path):
    entry = _serve(server, monkeypatch, "test/model.pth", _payload(100))
    monkeypatch.setitem(registry.MANIFEST, entry.path, replace(entry, url=f"{server.url}/nothing"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        _get(tmp_path, ["test/model.pth"], retries=3)
    assert len(server.requests) == 1


def _johnson_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_extracts_archive_member_and_drops_the_archive(server, monkeypatch, tmp_path):
    candy, mosaic = _payload(3000, 1), _payload(3000, 2)
    archive = _johnson_zip({"saved_models/candy.pth": candy, "saved_models/mosaic.pth": mosaic})
    zip_entry = registry.MANIFEST["johnson/saved_models.zip"]
    server.files["saved_models.zip"] = archive
    monkeypatch.setitem(registry.MANIFEST, zip_entry.path, replace(zip_entry, url=f"{server.url}/saved_models.zip"))
    paths = _get(tmp_path, ["johnson:candy"])
    assert paths == [tmp_path / "w" / "johnson" / "candy.pth"]
    assert paths[0].read_bytes() == candy
    assert not (tmp_path / "w" / "johnson" / "saved_models.zip").exists()  # a source only: removed
    assert not (tmp_path / "w" / "johnson" / "mosaic.pth").exists()

    paths = _get(tmp_path, ["johnson:mosaic"], keep_sources=True)
    assert paths[0].read_bytes() == mosaic
    assert (tmp_path / "w" / "johnson" / "saved_models.zip").read_bytes() == archive


def test_missing_archive_member(server, monkeypatch, tmp_path):
    zip_entry = registry.MANIFEST["johnson/saved_models.zip"]
    server.files["saved_models.zip"] = _johnson_zip({"saved_models/udnie.pth": b"x"})
    monkeypatch.setitem(registry.MANIFEST, zip_entry.path, replace(zip_entry, url=f"{server.url}/saved_models.zip"))
    with pytest.raises(DownloadError, match="saved_models/candy.pth is not in saved_models.zip"):
        _get(tmp_path, ["johnson:candy"])


def test_derived_file_is_converted_and_its_source_removed(server, monkeypatch, tmp_path):
    source = _serve(server, monkeypatch, "test/source.pth", _payload(5000), kind="archive")
    derived = WeightFile("test/derived.pth", None, None, None, "converted", "MIT", derived_from=source.path)
    monkeypatch.setitem(registry.MANIFEST, derived.path, derived)
    calls = []

    def convert(src: Path, dst: Path) -> None:
        calls.append(src.name)
        dst.write_bytes(src.read_bytes()[:100])

    monkeypatch.setitem(weights._CONVERTERS, derived.path, convert)
    assert _get(tmp_path, [derived.path]) == [tmp_path / "w" / derived.path]
    assert calls == ["source.pth"]
    assert (tmp_path / "w" / derived.path).read_bytes() == _payload(5000)[:100]
    assert not (tmp_path / "w" / source.path).exists()
    server.requests.clear()
    _get(tmp_path, [derived.path])  # already converted: the 548 MB source is not fetched again
    assert server.requests == [] and calls == ["source.pth"]


def test_present_and_verified_file_is_skipped(server, monkeypatch, tmp_path):
    data = _payload(2000)
    _serve(server, monkeypatch, "test/model.pth", data)
    dest = tmp_path / "w" / "test" / "model.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(data)
    assert _get(tmp_path, ["test/model.pth"]) == [dest]
    assert server.requests == []


def test_present_but_wrong_file_is_replaced(server, monkeypatch, tmp_path):
    data = _payload(2000)
    _serve(server, monkeypatch, "test/model.pth", data)
    dest = tmp_path / "w" / "test" / "model.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"stale")
    assert _get(tmp_path, ["test/model.pth"])[0].read_bytes() == data
    assert len(server.requests) == 1


def test_gallery_goes_to_the_styles_dir(server, monkeypatch, tmp_path):
    data = _payload(700)
    style = registry.GALLERY["udnie"]
    server.files["udnie.jpg"] = data
    file = replace(style.file, url=f"{server.url}/udnie.jpg", sha256=hashlib.sha256(data).hexdigest(), size=700)
    monkeypatch.setitem(registry.GALLERY, "udnie", replace(style, file=file))
    monkeypatch.setattr(registry, "files_for", lambda target: [file])
    assert _get(tmp_path, ["gallery"]) == [tmp_path / "s" / "udnie.jpg"]


def test_file_without_url_says_where_to_put_it(tmp_path):
    with pytest.raises(DownloadError) as info:
        _get(tmp_path, ["esrgan/RRDB_ESRGAN_x4.pth"])
    text = str(info.value)
    assert "by hand" in text and str(tmp_path / "w" / "esrgan" / "RRDB_ESRGAN_x4.pth") in text
    assert info.value.details["failed"] == ["esrgan/RRDB_ESRGAN_x4.pth"]


def test_unknown_target_is_a_bad_request(tmp_path):
    with pytest.raises(EngineError) as info:
        _get(tmp_path, ["no_such_model"])
    assert info.value.code == "bad_request"


def test_targets_expand_with_sources_first():
    paths = [f.path for f in weights.expand_targets(["gatys", "johnson:candy", "johnson:candy"])]
    assert paths == ["vgg19/vgg19-dcbb9e9d.pth", "vgg19/vgg19-features.pth", "johnson/saved_models.zip",
                     "johnson/candy.pth"]
    everything = weights.expand_targets(["all"])
    assert {"microast/decoder_iter_160000.pth.tar", "starry_night.jpg"} <= {f.path for f in everything}
    assert all(f.url or f.archive or f.derived_from for f in everything)


def test_status_rows(tmp_path):
    data = b"not the real file"
    dest = tmp_path / "johnson" / "candy_nc16.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(data)
    rows = {r.path: r for r in weights.status(tmp_path)}
    assert set(registry.MANIFEST) <= set(rows) and "starry_night.jpg" in rows
    assert rows["johnson/candy_nc16.pth"].present and rows["johnson/candy_nc16.pth"].verified is False
    assert rows["johnson/candy_nc16.pth"].size == len(data)
    assert not rows["johnson/mosaic_nc16.pth"].present and rows["johnson/mosaic_nc16.pth"].verified is None
    assert not rows["esrgan/RRDB_ESRGAN_x4.pth"].fetchable and rows["johnson/candy.pth"].fetchable


def test_status_verifies_the_shared_weights():
    shared = REPO.parent / "shared" / "weights"
    if not (shared / "microast").is_dir():
        pytest.skip(f"test data not found: {shared}")
    rows = {r.path: r for r in weights.status(shared)}
    assert rows["microast/decoder_iter_160000.pth.tar"].verified is True
    assert rows["johnson/candy_nc16.pth"].verified is True


def test_committed_manifest_matches_the_registry():
    committed = REPO / "weights" / "manifest.json"
    assert committed.read_text(encoding="utf-8") == weights.manifest_text(), \
        "weights/manifest.json is stale: run python -m ml_models manifest"
    data = json.loads(committed.read_text(encoding="utf-8"))
    assert [f["path"] for f in data["files"]] == list(registry.MANIFEST)
    assert data["targets"]["johnson:candy"] == ["johnson/saved_models.zip", "johnson/candy.pth"]


def test_write_manifest(tmp_path):
    out = weights.write_manifest(tmp_path / "m.json")
    assert json.loads(out.read_text(encoding="utf-8")) == weights.manifest_dict()


def test_missing_weights_name_the_download_command(tmp_path):
    with pytest.raises(WeightsMissing) as info:
        registry.resolve_weights("johnson", "candy", tmp_path)
    assert "python -m ml_models download johnson:candy" in str(info.value)
    assert info.value.details["command"] == "python -m ml_models download johnson:candy"
    assert info.value.code == "weights_missing"


def test_weights_images_and_cli_import_without_torch():
    code = ("import sys, ml_models.weights, ml_models.images, ml_models.cli; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
