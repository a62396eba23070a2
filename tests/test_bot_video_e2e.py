# ruff: noqa: F811 - the server fixture imported from tests.test_bot_e2e is taken as an argument
"""Moving pictures end to end: the real bot (``main.py``, real Johnson and MicroAST weights, a worker process) and
the Bot API emulator. A person sends a GIF (as Telegram's MP4 animation), a video with sound and a round video note;
each comes back as the same kind, stylised, with one status message counting frames; bad clips get a clear answer,
the chat stays usable and nothing is left in the workers' temporary folder. Clips are tiny (128x96, 10-12 frames)."""

from __future__ import annotations

import asyncio
import io
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from botapi.users import FAKE_MP4
from ml_models.video import synthetic
from tests.conftest import IMAGES, WEIGHTS, need
from tests.test_bot_e2e import (
    FIRST_RESULT_TIMEOUT,
    BotProcess,
    Person,
    has,
    picture,
    server,  # noqa: F401 - the emulator fixture, shared with this module
    serving_bot,
)
from tests.video_helpers import read_frames, write_mp4

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(400)]


def clip(tmp: Path, name: str, frames: int = 10, size: tuple[int, int] = (96, 128), audio: float = 0.0) -> bytes:
    """A pan of ``frames`` frames of ``size`` (height, width) at 30 fps, with ``audio`` seconds of silence."""
    height, width = size
    photo = synthetic.texture(height + frames, width + 2 * frames)
    return write_mp4(tmp / name, synthetic.pan(photo, frames, size).frames, audio_seconds=audio).read_bytes()


def sound_only(tmp: Path) -> bytes:
    """An MP4 with an AAC track and no picture."""
    path = tmp / "sound.mp4"
    with av.open(str(path), "w") as out:
        audio = out.add_stream("aac", rate=44100)
        for i in range(20):
            chunk = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts, chunk.time_base = 44100, i * 1024, Fraction(1, 44100)
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path.read_bytes()


def decoded(server: Any, message: Any, tmp: Path) -> tuple[list[np.ndarray], list[str]]:
    path = tmp / f"result-{message.message_id}.mp4"
    path.write_bytes(server.file_bytes(message))
    frames, _, kinds = read_frames(path)
    return frames, kinds


def status_texts(server: Any, chat: int) -> list[str]:
    """Every text any status message showed (they are deleted when the result comes; their edits are kept)."""
    out = []
    for message in server.bot_messages(chat, include_deleted=True):
        out += [h.get("text") or "" for h in message.history] + [message.text or ""]
    return out


@pytest.fixture(scope="module")
def shared_data() -> None:
    for path in (WEIGHTS / "johnson", WEIGHTS / "microast", IMAGES / "style"):
        need(path)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(shared_data, server, tmp_path_factory, tmp) -> Any:
    temp = tmp_path_factory.mktemp("worker-tmp")
    async with serving_bot(server, tmp_path_factory.mktemp("bot"), PRELOAD="johnson", STATUS_EDIT_INTERVAL="0",
                           VIDEO_MAX_SECONDS="5", TMPDIR=str(temp)) as process:
        process.temp = temp
        yield process
    leftovers = [p for p in temp.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers  # every clip's work folder was removed


@pytest.fixture(autouse=True)
def show_bot_log(request):
    yield
    process = request.node.funcargs.get("bot")
    if isinstance(process, BotProcess):
        print(process.log(80))


async def ready_style(person: Person, style: str = "Mosaic") -> None:
    await person.say("/start")
    await person.press(await person.reply_with_button("Ready styles"), "Ready styles")
    await person.press(await person.reply_with_button(style), style)
    await person.reply(has("video note works too"))


async def test_a_gif_comes_back_as_a_stylised_animation(bot: Any, server: Any, tmp: Path) -> None:
    ada = Person(server, 3001, name="Ada")
    await ready_style(ada)
    source = clip(tmp, "gif.mp4", frames=10)
    await ada.user.send_animation(source, width=128, height=96, duration=1)
    result = await ada.reply(lambda m: m.kind == "animation" and m.buttons, FIRST_RESULT_TIMEOUT)
    frames, kinds = decoded(server, result, tmp)
    assert len(frames) == 10 and frames[0].shape == (96, 128, 3) and kinds == ["video"]  # no sound
    originals, _, _ = read_frames(tmp / "gif.mp4")
    assert np.abs(frames[4].astype(int) - originals[4].astype(int)).mean() > 20  # stylised, not copied
    assert "Mosaic" in result.plain_text and "⏱" in result.plain_text
    labels = " ".join(b["text"] for b in result.buttons)
    assert "Another strength" in labels and "Another style" in labels
    assert "Upscale" not in labels and "Send as file" not in labels
    shown = status_texts(server, ada.chat)
    assert any("clip is in the queue" in t for t in shown)
    assert any("Frame 10 of 10" in t for t in shown)
    assert any("Frame" in t and "Ready in about" in t for t in shown)  # the time left from the pace
    call = server.calls_to("sendAnimation")[-1]
    assert call.params.get("width") == 128 and call.params.get("height") == 96

    await ada.press(result, "Another strength")  # the clip runs again from its file_id
    picker = await ada.reply(lambda m: m.message_id == result.message_id and m.button("50%"))
    await ada.press(picker, "50%")
    again = await ada.reply(lambda m: m.kind == "animation" and "strength 50%" in m.plain_text)
    assert len(decoded(server, again, tmp)[0]) == 10


async def test_a_video_keeps_its_sound_and_a_video_note_stays_round(bot: Any, server: Any, tmp: Path) -> None:
    ben = Person(server, 3002, name="Ben")
    await ready_style(ben, "Candy")
    await ben.user.send_video(clip(tmp, "video.mp4", frames=12, audio=0.4), width=128, height=96, duration=1)
    video = await ben.reply(lambda m: m.kind == "video" and m.buttons, FIRST_RESULT_TIMEOUT)
    frames, kinds = decoded(server, video, tmp)
    assert len(frames) == 12 and kinds == ["video", "audio"]

    # a video note with one's own style: MicroAST and an uploaded style picture
    await ben.say("/start")
    await ben.press(await ben.reply_with_button("My own style"), "My own style")
    await ben.press(await ben.reply_with_button("Quick"), "Quick")  # MicroAST
    await ben.reply(has("video note works too"))
    await ben.user.send_video_note(clip(tmp, "note.mp4", frames=10, size=(112, 112)), length=112, duration=1)
    await ben.reply_with_button("gallery")
    await ben.user.send_photo(picture("the_scream.jpg", 128, folder="style"))
    await ben.press(await ben.reply_with_button("Go"), "Go")
    note = await ben.reply(lambda m: m.kind == "video_note", FIRST_RESULT_TIMEOUT)
    frames, kinds = decoded(server, note, tmp)
    assert frames[0].shape == (112, 112, 3) and len(frames) == 10 and kinds == ["video"]
    assert note.media["video_note"]["length"] == 112 and note.buttons


async def test_a_clip_sent_first_and_the_models_that_cannot_take_it(bot: Any, server: Any, tmp: Path) -> None:
    cat = Person(server, 3003, name="Cat")
    await cat.user.send_animation(clip(tmp, "first.mp4", frames=8), width=128, height=96, duration=1)
    modes = await cat.reply(has("Nice clip"))
    labels = " ".join(b["text"] for b in modes.buttons)
    assert "Ready styles" in labels and "Upscale" not in labels
    await cat.press(modes, "My own style")
    algorithms = await cat.reply_with_button("Detailed")
    await cat.press(algorithms, "Detailed")  # Gatys
    assert "Gatys and upscaling take still pictures" in (await cat.reply(has("still pictures"))).plain_text
    await cat.press(algorithms, "Quick")  # the algorithm buttons still work: MicroAST
    await cat.reply_with_button("gallery")
    await cat.say("/cancel")
    await cat.reply_with_button("My own style")

    await cat.press(await cat.reply_with_button("Upscale"), "Upscale")
    await cat.reply(has("enlarge four times"))
    await cat.user.send_video(clip(tmp, "up.mp4", frames=8), width=128, height=96, duration=1)
    assert "still pictures" in (await cat.reply(has("still pictures"))).plain_text
    await cat.user.send_photo(picture("lion.jpg", 96))  # the step goes on with a photo
    await cat.reply_with_button("Anime")
    await cat.say("/cancel")
    await cat.reply_with_button("My own style")
    await cat.say("/help")
    assert "a video (up to 5 s, 20 MB)" in (await cat.reply(has("GIFs and videos"))).plain_text


async def test_bad_clips_get_clear_answers_and_the_chat_goes_on(bot: Any, server: Any, tmp: Path) -> None:
    dan = Person(server, 3004, name="Dan")
    await ready_style(dan)
    await dan.user.send_video(clip(tmp, "long.mp4", frames=8), width=128, height=96, duration=30)
    assert "up to 5 seconds" in (await dan.reply(has("too long"))).plain_text  # VIDEO_MAX_SECONDS=5
    await dan.user.send_video(FAKE_MP4, file_size=25 * 1024 * 1024, duration=3)
    assert "larger than 20 MB" in (await dan.reply(has("20 MB"))).plain_text
    await dan.user.send_sticker(animated=True)
    assert "Animated stickers are not supported" in (await dan.reply(has("stickers"))).plain_text

    await dan.user.send_animation(FAKE_MP4, duration=1)  # an MP4 header and nothing to play
    failed = await dan.reply(has("damaged"), FIRST_RESULT_TIMEOUT)
    assert failed.plain_text.startswith("❌") and failed.button("Menu")
    await ready_style(dan)
    await dan.user.send_video(sound_only(tmp), duration=1)
    assert "no picture" in (await dan.reply(has("no picture"), FIRST_RESULT_TIMEOUT)).plain_text

    too_long = clip(tmp, "really_long.mp4", frames=200)  # 6.7 s: Telegram said 1 s, the worker counts frames
    await ready_style(dan)
    await dan.user.send_animation(too_long, width=128, height=96, duration=1)
    assert "up to 5 seconds" in (await dan.reply(has("too long"), FIRST_RESULT_TIMEOUT)).plain_text

    ru = Person(server, 3005, language="ru", name="Дина")  # the same answers in Russian
    await ru.say("/start")
    await ru.press(await ru.reply_with_button("Готовые стили"), "Готовые стили")
    await ru.press(await ru.reply_with_button("Мозаика"), "Мозаика")
    await ru.reply(has("видеосообщение"))
    await ru.user.send_video(FAKE_MP4, duration=40)
    assert "до 5 секунд" in (await ru.reply(has("слишком длинный"))).plain_text
    await ru.user.send_animation(FAKE_MP4, duration=1)
    await ru.reply(has("повреждён"), FIRST_RESULT_TIMEOUT)


async def test_a_clip_can_be_cancelled_while_it_is_painted(bot: Any, server: Any, tmp: Path) -> None:
    eve = Person(server, 3006, name="Eve")
    await ready_style(eve, "Udnie")
    long = clip(tmp, "cancel.mp4", frames=150, size=(240, 320))  # 5 s
    await eve.user.send_video(long, width=320, height=240, duration=5)
    status = await eve.reply(has("Frame"), FIRST_RESULT_TIMEOUT)
    await eve.press(status, "Cancel the job")
    await eve.reply(has("cancelled"), 30)
    await asyncio.sleep(0.5)
    assert not [m for m in server.bot_messages(eve.chat) if m.kind == "video"]
    await ready_style(eve)  # the chat goes on
    await eve.say("/cancel")
    await eve.reply_with_button("My own style")
    os.sync()


async def test_animated_gif_and_webp_files_are_clips_and_a_still_gif_is_a_photo(bot: Any, server: Any,
                                                                                 tmp: Path) -> None:
    fay = Person(server, 3007, name="Fay")
    frames = synthetic.pan(synthetic.texture(120, 160), 6, (64, 96)).frames
    pictures = [Image.fromarray(f) for f in frames]
    for fmt, mime in (("GIF", "image/gif"), ("WEBP", "image/webp")):
        buffer = io.BytesIO()
        pictures[0].save(buffer, fmt, save_all=True, append_images=pictures[1:], duration=100, loop=0)
        await ready_style(fay)
        await fay.user.send_document(buffer.getvalue(), f"moving.{fmt.lower()}", mime)
        result = await fay.reply(lambda m: m.kind == "animation" and m.buttons, FIRST_RESULT_TIMEOUT)
        got, kinds = decoded(server, result, tmp)
        assert len(got) == 6 and got[0].shape == (64, 96, 3) and kinds == ["video"]  # 10 fps kept, no sound
    await ready_style(fay)  # a video sent as a file comes back as a video, its sound kept
    await fay.user.send_document(clip(tmp, "file.mp4", frames=8, audio=0.3), "holiday.mp4", "video/mp4")
    video = await fay.reply(lambda m: m.kind == "video" and m.buttons, FIRST_RESULT_TIMEOUT)
    assert decoded(server, video, tmp)[1] == ["video", "audio"]
    still = io.BytesIO()
    pictures[0].save(still, "GIF")
    await ready_style(fay)
    await fay.user.send_document(still.getvalue(), "still.gif", "image/gif")
    photo = await fay.reply(lambda m: m.kind == "photo" and m.buttons, FIRST_RESULT_TIMEOUT)
    assert "Mosaic" in photo.plain_text
