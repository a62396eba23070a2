"""``python -m ml_models``: list, manifest, download errors, request building, and one real run end to end."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_models import cli, images
from tests.conftest import IMAGES, REPO, WEIGHTS, need


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ml_models", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def test_list_names_present_and_missing_models():
    need(WEIGHTS / "johnson" / "mosaic_nc16.pth")
    proc = _cli("list", env={"WEIGHTS_DIR": "../shared/weights"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "preset mosaic" in out and "ready (johnson/mosaic_nc16.pth)" in out
    assert "microast" in out and "ready (microast/content_encoder_iter_160000.pth.tar" in out
    assert "MISSING: python -m ml_models download adain" in out
    assert "MISSING: python -m ml_models download cyclegan:monet" in out
    assert "strength=1 (float 0..1)" in out
    assert "verified" in out and "johnson/candy_nc16.pth" in out


def test_download_failure_prints_one_line_and_exits_2(tmp_path):
    proc = _cli("download", "esrgan/RRDB_ESRGAN_x4.pth", "--weights-dir", str(tmp_path), "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "by hand" in lines[0]


def test_unknown_download_target(tmp_path, capsys):
    assert cli.main(["download", "nonsense", "--weights-dir", str(tmp_path)]) == 2
    assert "unknown model 'nonsense'" in capsys.readouterr().err


def test_manifest_is_up_to_date(capsys):
    assert cli.main(["manifest", "--check"]) == 0


def test_manifest_check_detects_a_stale_file(tmp_path):
    stale = tmp_path / "manifest.json"
    stale.write_text("{}\n")
    assert cli.main(["manifest", "--check", "--out", str(stale)]) == 1
    assert cli.main(["manifest", "--out", str(stale)]) == 0
    assert cli.main(["manifest", "--check", "--out", str(stale)]) == 0


def _jpeg(path: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, "JPEG")
    return path


def _request(*argv: str):
    args = cli.build_parser().parse_args(["run", *argv])
    return cli.build_request(args, cli._settings(args))


def test_run_builds_the_request(tmp_path):
    photo = _jpeg(tmp_path / "p.jpg", 300, 100)
    style = _jpeg(tmp_path / "s.jpg", 50, 50)
    req = _request("microast", "--content", str(photo), "--style", str(style), "--style", str(style),
                   "--style-weight", "3", "--style-weight", "1", "--alpha", "0.5", "--preserve-colors",
                   "--size", "hd", "--max-side", "150", "--out", str(tmp_path / "o.png"))
    assert req.model == "microast" and req.preset is None and len(req.styles) == 2
    assert req.style_weights == [3.0, 1.0]
    assert req.options == {"strength": 0.5, "preserve_colors": True, "size": "hd", "max_side": 150}
    assert req.output_format == "png"
    shrunk = images.decode(req.content, 10_000_000)
    assert (shrunk.width, shrunk.height) == (150, 50)


def test_run_keeps_small_photos_as_sent_and_parses_options(tmp_path):
    photo = _jpeg(tmp_path / "p.jpg", 60, 40)
    req = _request("gatys", "--content", str(photo), "--style", str(photo), "--option", "quality=fast",
                   "--option", "steps=3", "--max-side", "512", "--out", str(tmp_path / "o.jpg"))
    assert req.content == photo.read_bytes()
    assert req.options == {"quality": "fast", "steps": 3, "max_side": 512} and req.output_format == "jpeg"


@pytest.mark.parametrize(("argv", "message"), [
    (["johnson", "--preset", "picasso"], "no preset 'picasso'"),
    (["microast"], "needs --style"),
    (["upscale", "--preset", "general", "--style", "x.jpg"], "takes no --style"),
    (["johnson", "--preset", "candy", "--option", "strength=7"], "outside [0.0, 1.0]"),
    (["johnson", "--preset", "candy", "--option", "nonsense"], "KEY=VALUE"),
    (["nope"], "unknown model 'nope'"),
])
def test_run_refuses_bad_arguments_with_one_line(tmp_path, capsys, argv, message):
    photo = _jpeg(tmp_path / "p.jpg", 40, 30)
    code = cli.main(["run", *argv, "--content", str(photo), "--out", str(tmp_path / "o.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_preset_models_default_to_their_first_preset_and_max_side_wins(tmp_path):
    photo = _jpeg(tmp_path / "p.jpg", 60, 40)
    assert _request("upscale", "--content", str(photo), "--out", str(tmp_path / "o.png")).preset == "general"
    assert _request("johnson", "--content", str(photo), "--out", str(tmp_path / "o.png")).preset == "candy"
    req = _request("upscale", "--content", str(photo), "--max-side", "2048", "--out", str(tmp_path / "o.png"))
    assert req.options["max_side"] == 2048  # not the standard size's 1024


def test_run_with_unreadable_photo(tmp_path, capsys):
    assert cli.main(["run", "johnson", "--preset", "candy", "--content", str(tmp_path / "missing.jpg"),
                     "--out", str(tmp_path / "o.jpg")]) == 2
    assert "cannot read photo" in capsys.readouterr().err


def test_run_rejects_a_broken_photo_before_the_engine(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    assert cli.main(["run", "johnson", "--preset", "candy", "--content", str(bad), "--max-side", "64",
                     "--out", str(tmp_path / "o.jpg")]) == 2
    assert "not an image" in capsys.readouterr().err


def test_run_johnson_mosaic_end_to_end(tmp_path):
    """The whole path: CLI -> JobRequest -> ml_models.engine.run -> a JPEG with the photo's aspect ratio."""
    need(WEIGHTS / "johnson" / "mosaic_nc16.pth")
    photo = need(IMAGES / "content" / "chicago.jpg")
    with Image.open(photo) as im:
        ratio = im.width / im.height
    out = tmp_path / "out.jpg"
    proc = _cli("run", "johnson", "--preset", "mosaic", "--content", str(photo), "--max-side", "128",
                "--device", "cpu", "--out", str(out), env={"WEIGHTS_DIR": "../shared/weights"}, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "johnson/mosaic" in proc.stdout and " s " in proc.stdout
    with Image.open(io.BytesIO(out.read_bytes())) as result:
        assert result.format == "JPEG"
        width, height = result.size
    assert max(width, height) == 128
    assert abs(width / height - ratio) / ratio < 0.02


def test_run_writes_the_engine_result_and_feeds_progress(tmp_path, monkeypatch, capsys):
    """The CLI side of the engine contract, with a stand-in engine module recording what it was given."""
    import types

    from ml_models.api import JobResult

    seen = {}

    def run(request, settings=None, progress=None, cancelled=None):
        seen.update(request=request, settings=settings)
        for step in range(1, 4):
            progress(step, 3)
        data, mime = images.encode(np.zeros((20, 30, 3), np.uint8), request.output_format)
        return JobResult(image=data, mime=mime, width=30, height=20, seconds=0.25,
                         info={"device": "cpu", "weights": "vgg19/x.pth", "internal": 1})

    monkeypatch.setitem(sys.modules, "ml_models.engine", types.SimpleNamespace(run=run))
    photo = _jpeg(tmp_path / "p.jpg", 30, 20)
    out = tmp_path / "sub" / "o.png"
    code = cli.main(["run", "gatys", "--content", str(photo), "--style", str(photo), "--device", "cpu",
                     "--precision", "fp32", "--weights-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert seen["settings"].device == "cpu" and seen["settings"].precision == "fp32"
    assert seen["settings"].weights_dir == tmp_path and seen["request"].output_format == "png"
    assert "gatys: 30x20 image/png in 0.25 s" in captured.out and "weights=vgg19/x.pth" in captured.out
    assert "internal" not in captured.out
    assert "3/3" in captured.err  # the tqdm bar reached the end
