"""Every weight file verified: pinned sha256, a torch.hub name's sha256 prefix, or trust on first use in a lock.

Downloads go to a real HTTP server on loopback (``tests.test_weights``); the files are synthetic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import pytest

from ml_models import registry, weights
from ml_models.errors import CheckpointError
from ml_models.weights import DownloadError
from tests.conftest import REPO
from tests.test_weights import _get, _payload, _serve, server  # noqa: F401 - fixture


def test_first_download_is_locked_and_a_changed_file_is_refused(server, monkeypatch, tmp_path, caplog):  # noqa: F811
    first = _payload(30_000)
    entry = _serve(server, monkeypatch, "test/model.pth", first, sha=False, size=None)
    with caplog.at_level(logging.WARNING, "ml_models.weights"):
        _get(tmp_path, [entry.path])
    assert "plain-http source" in caplog.text and "trust on first use" in caplog.text
    lock = weights.read_lock(tmp_path / "w")
    assert lock[entry.path]["sha256"] == hashlib.sha256(first).hexdigest()
    assert weights.trust(entry, lock) == "locked"

    (tmp_path / "w" / entry.path).unlink()
    server.files[entry.path] = _payload(30_000, seed=1)  # upstream (or a man in the middle) changed it
    with pytest.raises(DownloadError, match="recorded in weights.lock.json"):
        _get(tmp_path, [entry.path])
    assert not (tmp_path / "w" / entry.path).exists()

    monkeypatch.setenv("WEIGHTS_VERIFY", "off")  # the operator's escape hatch, refused for plain http
    with pytest.raises(DownloadError, match="plain http"):
        _get(tmp_path, [entry.path])


def test_sha256_prefix_in_the_file_name_is_a_pin(server, monkeypatch, tmp_path):  # noqa: F811
    data = _payload(20_000)
    prefix = hashlib.sha256(data).hexdigest()[:8]
    good = _serve(server, monkeypatch, f"test/net-{prefix}.pth", data, sha=False, size=None)
    assert weights.sha256_prefix(good) == prefix and weights.trust(good) == "pinned"
    _get(tmp_path, [good.path])
    assert weights.read_lock(tmp_path / "w") == {}  # pinned: nothing to record
    bad = _serve(server, monkeypatch, "test/net-00000000.pth", data, sha=False, size=None)
    with pytest.raises(DownloadError, match="starting with 00000000"):
        _get(tmp_path, [bad.path])
    assert weights.sha256_prefix(registry.MANIFEST["esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"]) == "ff704c30"


def test_loading_checks_the_lock_and_records_the_first_use(monkeypatch, tmp_path):
    wd = tmp_path / "w"
    path = wd / "adain" / "decoder.pth"  # unpinned upstream
    path.parent.mkdir(parents=True)
    path.write_bytes(b"first bytes")
    weights.check_load([path], wd)
    assert weights.read_lock(wd)["adain/decoder.pth"]["sha256"] == hashlib.sha256(b"first bytes").hexdigest()
    path.write_bytes(b"swapped bytes")  # a different size and mtime: checked again
    with pytest.raises(CheckpointError, match="differs from"):
        weights.check_load([path], wd)
    monkeypatch.setenv("WEIGHTS_VERIFY", "off")
    weights.check_load([path], wd)


def test_list_shows_pinned_locked_and_unverified(tmp_path):
    wd = tmp_path / "w"
    (wd / "adain").mkdir(parents=True)
    (wd / "adain" / "decoder.pth").write_bytes(b"d")
    (wd / "adain" / "vgg_normalised.pth").write_bytes(b"v")
    weights.check_load([wd / "adain" / "decoder.pth"], wd)
    rows = {r.path: r for r in weights.status(wd)}
    assert rows["adain/decoder.pth"].trust == "locked" and rows["adain/decoder.pth"].verified is True
    assert rows["adain/vgg_normalised.pth"].trust == "unverified" and rows["adain/vgg_normalised.pth"].verified is None
    assert rows["johnson/mosaic_nc16.pth"].trust == "pinned"
    out = subprocess.run([sys.executable, "-m", "ml_models", "list", "--weights-dir", str(wd)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    lines = {line.split()[-1]: line.split() for line in out.stdout.splitlines() if line.startswith("  ")}
    assert lines["adain/decoder.pth"][:2] == ["verified", "locked"], out.stdout
    assert lines["adain/vgg_normalised.pth"][:2] == ["present", "unverified"]


def test_manifest_says_how_each_file_is_verified():
    data = json.loads((REPO / "weights" / "manifest.json").read_text(encoding="utf-8"))
    by_path = {f["path"]: f for f in data["files"]}
    assert by_path["esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"]["verified_by"] == "sha256"
    assert by_path["cyclegan/style_monet.pth"]["verified_by"] == "lock"
    assert all(f["verified_by"] in ("sha256", "lock") for f in data["files"])


def test_a_converted_file_is_locked_as_made_here_and_made_again_freely(server, monkeypatch, tmp_path):  # noqa: F811
    from ml_models.registry import WeightFile

    source = _serve(server, monkeypatch, "test/source.pth", _payload(5000), kind="archive")
    derived = WeightFile("test/derived.pth", None, None, None, "converted", "MIT", derived_from=source.path)
    monkeypatch.setitem(registry.MANIFEST, derived.path, derived)
    outputs = [b"made by one torch", b"made by another torch"]
    monkeypatch.setitem(weights._CONVERTERS, derived.path, lambda src, dst: dst.write_bytes(outputs.pop(0)))
    _get(tmp_path, [derived.path])
    lock = weights.read_lock(tmp_path / "w")
    assert lock[derived.path]["sha256"] == hashlib.sha256(b"made by one torch").hexdigest()
    (tmp_path / "w" / derived.path).unlink()
    _get(tmp_path, [derived.path])  # a new conversion is from the pinned source: it replaces the entry
    lock = weights.read_lock(tmp_path / "w")
    assert lock[derived.path]["sha256"] == hashlib.sha256(b"made by another torch").hexdigest()
    weights.check_load([tmp_path / "w" / derived.path], tmp_path / "w")
