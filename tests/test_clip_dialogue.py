"""Moving pictures in the dialogue, in process (no weights, no ../shared, no worker): where a clip is taken, what
the job carries, and every refusal said before anything is downloaded or queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.types import Animation, Document, Sticker, Update, Video, VideoNote

from tests.dialogue_harness import ALL_MODELS, Chat, Harness, Outcome

CLIP = b"\x00\x00\x00\x20ftypisom" + bytes(100)  # never decoded here: the worker reads clips


@pytest_asyncio.fixture
async def bot(tmp_path: Path):
    harness = Harness(tmp_path, models={**ALL_MODELS, "gatys": ()}, env={"VIDEO_MAX_SECONDS": "6"})
    yield harness
    await harness.close()


async def send(chat: Chat, **media: Any) -> None:
    await chat.h.feed(Update(update_id=next(chat.h._updates), message=chat._message(**media)))
    await chat.h.settle()


def animation(chat: Chat, seconds: int = 2, size: int | None = None) -> dict[str, Any]:
    file_id = chat.h.session.store(CLIP)
    return {"animation": Animation(file_id=file_id, file_unique_id="u" + file_id, width=160, height=120,
                                   duration=seconds, file_name="cat.gif.mp4", mime_type="video/mp4",
                                   file_size=size or len(CLIP)),
            "document": Document(file_id=file_id, file_unique_id="u" + file_id, file_name="cat.gif.mp4",
                                 mime_type="video/mp4", file_size=size or len(CLIP))}


def downloads(bot: Harness) -> int:
    return sum(1 for call in bot.session.calls if type(call).__name__ == "GetFile")


async def test_a_gif_at_the_ready_style_step_becomes_one_clip_job(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    bot.executor.outcomes.append(Outcome(hold=True))
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    assert "video note works too" in anna.texts()[-1]
    await send(anna, **animation(anna, seconds=2))
    job = bot.executor.jobs[-1]
    clip = job.request.clip
    assert job.request.content == CLIP and job.request.preset == "mosaic"
    assert (clip.kind, clip.seconds, clip.width, clip.height, clip.max_seconds) == ("animation", 2, 160, 120, 6)
    assert clip.suffix == ".mp4" and clip.frames == 60
    shown = " ".join(anna.texts())
    assert "Your clip is in the queue" in shown and "Frame 1 of 2" in shown  # frames as the progress


@pytest.mark.parametrize(("media", "answer"), [
    (lambda c: animation(c, seconds=9), "up to 6 seconds"),
    (lambda c: animation(c, size=25 * 1024 * 1024), "larger than 20 MB"),
])
async def test_too_long_or_too_large_is_said_before_downloading(bot: Harness, media: Any, answer: str) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Candy"), "Candy")
    before = downloads(bot)
    await send(anna, **media(anna))
    assert answer in anna.texts()[-1] and downloads(bot) == before and not bot.executor.jobs
    await send(anna, **animation(anna, seconds=3))  # the step still waits: a good clip goes through
    assert bot.executor.jobs[-1].request.clip.kind == "animation"


async def test_video_notes_and_videos_keep_their_kind_and_gatys_or_upscaling_say_no(bot: Harness) -> None:
    anna = bot.chat()
    file_id = bot.session.store(CLIP)
    note = VideoNote(file_id=file_id, file_unique_id="u" + file_id, length=240, duration=1, file_size=len(CLIP))
    await send(anna, video_note=note)  # before choosing a mode
    offer = anna.last_with("Ready styles")
    assert "Nice clip" in offer.text and offer.button("Upscale") is None
    await anna.press(offer, "My own style")
    await anna.press(anna.last_with("Detailed"), "Detailed")  # Gatys
    assert "Gatys and upscaling take still pictures" in anna.texts()[-1]
    await anna.press(anna.last_with("Quick"), "Quick")  # the buttons are still there: MicroAST
    await anna.send_photo()  # the style picture
    await anna.press(anna.last_with("Go"), "Go")
    assert bot.executor.jobs[-1].request.clip.kind == "video_note"
    assert bot.executor.jobs[-1].request.model == "microast"

    ben = bot.chat(43)
    await ben.say("/start")
    await ben.press(ben.last_with("Upscale"), "Upscale")
    video_id = bot.session.store(CLIP)
    video = Video(file_id=video_id, file_unique_id="u" + video_id, width=320, height=240, duration=2,
                  file_size=len(CLIP))
    await send(ben, video=video)
    assert "still pictures" in ben.texts()[-1] and not [j for j in bot.executor.jobs if j.user_id == 43]
    sticker = Sticker(file_id="s1", file_unique_id="us1", type="regular", width=512, height=512, is_animated=True,
                      is_video=False)
    await send(ben, sticker=sticker)
    assert "Animated stickers are not supported" in ben.texts()[-1]


def test_a_clip_result_redelivered_after_a_restart_keeps_its_kind() -> None:
    from dialogue import ImageRef, Recipe
    from jobs import Job
    from ml_models.api import Clip, JobRequest, JobResult
    from services.job_tracker import _clip_kind

    mp4 = JobResult(image=b"mp4", mime="video/mp4", width=96, height=96, seconds=1.0, info={"kind": "video_note"})
    journaled = Job(JobRequest("johnson", b""), chat_id=1, user_id=1)  # the journal rebuilds requests without clip
    note = Recipe(kind="ready", model="johnson", content=ImageRef(file_id="f", clip={"kind": "video_note"}))
    assert _clip_kind(journaled, note, mp4) == "video_note"
    assert _clip_kind(journaled, Recipe(kind="ready"), mp4) == "video_note"  # from the result's info
    fresh = Job(JobRequest("johnson", b"", clip=Clip(kind="video")), chat_id=1, user_id=1)
    assert _clip_kind(fresh, note, mp4) == "video"
    photo = JobResult(image=b"jpg", mime="image/jpeg", width=9, height=9, seconds=1.0)
    assert _clip_kind(fresh, note, photo) is None
