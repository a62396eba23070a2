"""run_clip end to end on clips written by the test: formats, audio, sizes, frame rate, and every refusal leaving
nothing behind on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_models.errors import Cancelled
from ml_models.video import container, synthetic
from ml_models.video.api import VideoLimits, VideoRequest
from ml_models.video.errors import VideoError
from ml_models.video.pipeline import run_clip
from tests.engine_helpers import settings
from tests.video_helpers import pan_mp4, read_frames, write_mp4

JOHNSON = VideoRequest("johnson", preset="mosaic")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_video_keeps_its_audio_rate_and_size(tmp_path: Path) -> None:
    src = pan_mp4(tmp_path / "in.mp4", frames=12, audio_seconds=0.4)
    seen = []
    result = run_clip(VideoRequest("johnson", preset="mosaic", kind="video"), src, tmp_path / "out.mp4",
                      settings(), progress=lambda done, total: seen.append((done, total)))
    frames, rate, kinds = read_frames(tmp_path / "out.mp4")
    assert (result.width, result.height, result.frames, result.has_audio) == (128, 96, 12, True)
    assert kinds == ["video", "audio"] and rate == pytest.approx(30) and len(frames) == 12
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == list(range(1, 13))
    originals, _, _ = read_frames(src)
    assert np.abs(frames[5].astype(int) - originals[5].astype(int)).mean() > 20  # stylised, not copied
    assert _files(tmp_path) == ["in.mp4", "out.mp4"]


def test_an_animation_has_no_sound_and_a_video_note_is_square(tmp_path: Path) -> None:
    src = pan_mp4(tmp_path / "in.mp4", frames=6, audio_seconds=0.3)
    run_clip(JOHNSON, src, tmp_path / "anim.mp4", settings())
    assert read_frames(tmp_path / "anim.mp4")[2] == ["video"]
    note = run_clip(VideoRequest("johnson", preset="mosaic", kind="video_note"), src, tmp_path / "note.mp4",
                    settings(), limits=VideoLimits(note_side=64))
    frames, _, kinds = read_frames(tmp_path / "note.mp4")
    assert (note.width, note.height) == (64, 64) and frames[0].shape == (64, 64, 3) and kinds == ["video"]


def test_gif_in_and_out_webm_out_and_animated_webp_in(tmp_path: Path) -> None:
    clip = synthetic.pan(synthetic.texture(150, 200), 5, (64, 80))
    images = [Image.fromarray(f) for f in clip.frames]
    images[0].save(tmp_path / "in.gif", save_all=True, append_images=images[1:], duration=100, loop=0)
    images[0].save(tmp_path / "in.webp", save_all=True, append_images=images[1:], duration=100, loop=0)
    gif = run_clip(JOHNSON, tmp_path / "in.gif", tmp_path / "out.gif", settings())
    assert (gif.frames, gif.fps, gif.mime) == (5, 10, "image/gif")
    with Image.open(tmp_path / "out.gif") as im:
        assert im.n_frames == 5 and im.size == (80, 64)
    webm = run_clip(JOHNSON, tmp_path / "in.webp", tmp_path / "out.webm", settings())
    frames, rate, _ = read_frames(tmp_path / "out.webm")
    assert (webm.frames, len(frames), rate, webm.mime) == (5, 5, 10, "video/webm")


def test_sixty_fps_becomes_thirty_and_the_model_size_applies(tmp_path: Path) -> None:
    src = pan_mp4(tmp_path / "in.mp4", frames=12, fps=60)
    result = run_clip(VideoRequest("johnson", preset="mosaic", options={"max_side": 64}), src,
                      tmp_path / "out.mp4", settings())
    frames, rate, _ = read_frames(tmp_path / "out.mp4")
    assert (result.frames, len(frames), rate, result.width, result.height) == (6, 6, 30, 64, 48)


def test_a_sideways_phone_clip_comes_out_upright(tmp_path: Path) -> None:
    frames = [np.zeros((32, 64, 3), np.uint8) for _ in range(3)]
    for f in frames:
        f[:, :16] = 255  # a white band on the left of the stored picture
    src = write_mp4(tmp_path / "in.mp4", frames, rotation=90)  # displayed turned 90 degrees counter-clockwise
    result = run_clip(VideoRequest("johnson", preset="mosaic", temporal=0.0, options={"strength": 0.0}), src,
                      tmp_path / "out.mp4", settings())
    out = read_frames(tmp_path / "out.mp4")[0][1]
    assert (result.width, result.height, out.shape) == (32, 64, (64, 32, 3))
    assert out[-16:].mean() > 200 and out[:40].mean() < 40  # the band is now at the bottom


def _refused(tmp_path: Path, src: Path, code: str, request: VideoRequest = JOHNSON, **kwargs) -> None:
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir(exist_ok=True)
    with pytest.raises(VideoError) as info:
        run_clip(request, src, out, settings(), **kwargs)
    assert info.value.code == code, info.value
    assert _files(out.parent) == []


def test_bad_input_is_refused_with_its_code_and_nothing_left_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    _refused(tmp_path, junk, "video_corrupt")
    truncated = pan_mp4(tmp_path / "whole.mp4", frames=10)
    (tmp_path / "cut.mp4").write_bytes(truncated.read_bytes()[:600])
    _refused(tmp_path, tmp_path / "cut.mp4", "video_corrupt")
    src = pan_mp4(tmp_path / "in.mp4", frames=20)
    _refused(tmp_path, src, "video_too_long", limits=VideoLimits(max_seconds=0.1))
    _refused(tmp_path, src, "video_too_large", limits=VideoLimits(max_bytes=100))
    _refused(tmp_path, src, "video_model_unsupported", request=VideoRequest("gatys", styles=[b"x"]))
    _refused(tmp_path, src, "video_model_unsupported", request=VideoRequest("upscale", preset="general"))


def test_no_video_stream_and_an_understated_duration(tmp_path: Path) -> None:
    import av

    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    _refused(tmp_path, sound, "no_video_stream")
    # a container that understates its length: the frames are counted while decoding
    src = write_mp4(tmp_path / "long.mp4", synthetic.pan(synthetic.texture(100, 140), 30, (32, 40)).frames)
    limits = VideoLimits(max_seconds=0.5)
    info = dataclasses.replace(container.probe(src, limits), duration=0.2)
    with pytest.raises(VideoError) as caught:
        list(container.frames(src, info, limits))
    assert caught.value.code == "video_too_long"


def test_cancel_between_frames_leaves_nothing(tmp_path: Path) -> None:
    src = write_mp4(tmp_path / "in.mp4", synthetic.pan(synthetic.texture(120, 160), 8, (48, 64)).frames)
    out = tmp_path / "out"
    out.mkdir()
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        run_clip(JOHNSON, src, out / "r.mp4", settings(), cancelled=lambda: next(calls) >= 3)
    assert _files(out) == []


def test_variable_gif_delays_are_resampled_to_a_constant_rate(tmp_path: Path) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [Image.new("RGB", (16, 16), c) for c in colours]
    limits = VideoLimits()
    for suffix in (".gif", ".webp"):
        path = tmp_path / f"vfr{suffix}"
        images[0].save(path, save_all=True, append_images=images[1:], duration=[100, 500, 100], loop=0)
        info = container.probe(path, limits)
        seen = [int(np.argmax(f[8, 8])) for f in container.frames(path, info, limits)]
        assert info.fps == pytest.approx(10) and seen == [0, 1, 1, 1, 1, 1, 2], (suffix, seen, info)
        # at most 30 fps: a 50 fps GIF (11 frames of 20 ms) loses frames but keeps its length and its last frame
        images[0].save(path, save_all=True, append_images=images[1:] * 5, duration=20, loop=0)
        info = container.probe(path, limits)
        seen = [int(np.argmax(f[8, 8])) for f in container.frames(path, info, limits)]
        assert info.fps == 30 and len(seen) == 7 and seen[-1] == 2, (suffix, seen, info)
