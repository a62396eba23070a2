"""``python -m ml_models run`` with a clip: .mp4 in, .gif/.mp4 out; models without a video path refused in one line."""

from __future__ import annotations

from pathlib import Path

from ml_models import cli
from tests.conftest import IMAGES, WEIGHTS, need
from tests.video_helpers import pan_mp4, read_frames


def test_run_stylises_a_clip_into_a_gif_and_a_video_note(tmp_path: Path, capsys) -> None:
    need(WEIGHTS)
    src = pan_mp4(tmp_path / "clip.mp4", frames=6, audio_seconds=0.2)
    base = ["run", "johnson", "--preset", "mosaic", "--content", str(src), "--weights-dir", str(WEIGHTS)]
    assert cli.main([*base, "--out", str(tmp_path / "out.gif")]) == 0
    assert "6 frames at 30 fps" in capsys.readouterr().out
    assert len(read_frames(tmp_path / "out.gif")[0]) == 6
    assert cli.main([*base, "--kind", "video_note", "--out", str(tmp_path / "note.mp4")]) == 0
    frames, _, kinds = read_frames(tmp_path / "note.mp4")
    assert frames[0].shape == (96, 96, 3) and kinds == ["video"]


def test_run_refuses_gatys_on_a_clip(tmp_path: Path, capsys) -> None:
    src = pan_mp4(tmp_path / "clip.mp4", frames=3)
    style = need(IMAGES / "style" / "candy.jpg")
    assert cli.main(["run", "gatys", "--style", str(style), "--content", str(src), "--weights-dir", str(WEIGHTS),
                     "--out", str(tmp_path / "out.mp4")]) == 2
    assert "gatys has no video path" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
