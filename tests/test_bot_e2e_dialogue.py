# ruff: noqa: F811 - the server fixture imported from tests.test_bot_e2e is taken as an argument
"""The dialogue fixes of issue #21 end to end: the real bot (``main.py``, real Johnson and Real-ESRGAN weights) driven
through the Bot API emulator. Albums, a file the worker refuses and the retry, ✖️ Cancel while a job runs, and the
buttons under an older result. Needs only ``../shared/weights/{johnson,esrgan}`` and the content photos.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from tests.conftest import IMAGES, WEIGHTS, need
from tests.test_bot_e2e import (
    FIRST_RESULT_TIMEOUT,
    BotProcess,
    Person,
    has,
    picture,
    server,  # noqa: F401 - the emulator fixture, shared with this module
    serving_bot,
    size_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")



@pytest.fixture(scope="module")
def shared_data() -> None:
    for path in (WEIGHTS / "johnson", WEIGHTS / "esrgan", IMAGES / "content"):
        need(path)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(shared_data, server, tmp_path_factory) -> BotProcess:
    async with serving_bot(server, tmp_path_factory.mktemp("bot"), PRELOAD="johnson") as process:
        yield process


@pytest.fixture(autouse=True)
def show_bot_log(request):
    yield
    process = request.node.funcargs.get("bot")
    if isinstance(process, BotProcess):
        print(process.log(60))


def enlarged(name: str, side: int) -> bytes:
    """A content photo resized to ``side`` px (larger than the file): a job that takes a while."""
    with Image.open(IMAGES / "content" / name) as im:
        im = im.convert("RGB").resize((side, round(side * im.height / im.width)), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def ready_style(person: Person, style: str) -> None:
    await person.say("/start")
    await person.press(await person.reply_with_button("Ready styles"), "Ready styles")
    await person.press(await person.reply_with_button(style), style)
    await person.reply(has("send me the photo"))


async def test_an_album_is_one_request_with_one_status_message(bot: BotProcess, server: Any) -> None:
    ada = Person(server, 2101, name="Ada")
    await ready_style(ada, "Mosaic")
    first, second = picture("chicago.jpg", 200), picture("sailboat.jpg", 160)
    await ada.user.send_album([first, second])
    results = [await ada.result(FIRST_RESULT_TIMEOUT)]
    results.append(await ada.reply(lambda m: m.kind == "photo" and m.buttons and m.message_id != results[0].message_id,
                                   timeout=60, since=0))
    assert sorted(ada.result_size(r) for r in results) == sorted([size_of(first), size_of(second)])
    statuses = [m for m in server.bot_messages(ada.chat, include_deleted=True)
                if m.kind == "text" and any("Cancel the job" in b.get("text", "") for b in m.buttons)]
    assert len(statuses) == 1, [m.plain_text for m in server.bot_messages(ada.chat)]


async def test_a_file_the_worker_refuses_is_asked_again_at_the_same_step(bot: BotProcess, server: Any) -> None:
    ben = Person(server, 2102, name="Ben")
    await ready_style(ben, "Candy")
    good = picture("lion.jpg", 200)
    # sent as a file, its header reads but the body is cut: the bot accepts it, the worker refuses it
    await ben.user.send_document(good[: len(good) // 3], "lion.jpg", "image/jpeg")
    await ben.reply(has("send it again"), timeout=FIRST_RESULT_TIMEOUT)
    await ben.user.send_photo(good)
    result = await ben.result()
    assert "Candy" in result.plain_text
    assert not [m for m in server.bot_messages(ben.chat) if "What shall I do" in m.plain_text]


async def test_cancel_under_a_menu_leaves_a_running_job_alone(bot: BotProcess, server: Any) -> None:
    cid = Person(server, 2103, name="Cid")
    await cid.say("/start")
    await cid.press(await cid.reply_with_button("Upscale"), "Upscale")
    await cid.user.send_photo(enlarged("golden_gate.jpg", 1024))  # x4 to 4096 px: long enough to act meanwhile
    await cid.press(await cid.reply_with_button("Photo"), "Photo")
    status = await cid.reply(has("queue"))
    await cid.reply(lambda m: m.message_id == status.message_id and "Working" in m.plain_text, timeout=90, since=0)
    await cid.user.send_photo(picture("avril.jpg", 128))
    offer = await cid.reply_with_button("Cancel")
    await cid.press(offer, "Cancel")
    result = await cid.result(timeout=120)  # the job went on: ✖️ under a menu leaves only that menu
    assert result.kind == "document" and cid.result_size(result) == (4096, 4096)
    assert not [m for m in server.bot_messages(cid.chat, include_deleted=True) if "cancelled" in m.plain_text]


async def test_buttons_under_an_older_result_act_on_it(bot: BotProcess, server: Any) -> None:
    dee = Person(server, 2104, name="Dee")
    older_photo, newer_photo = picture("wolf_gray.jpg", 200), picture("amber.jpg", 144)
    await ready_style(dee, "Udnie")
    await dee.user.send_photo(older_photo)
    older = await dee.result(FIRST_RESULT_TIMEOUT)
    await ready_style(dee, "Mosaic")
    await dee.user.send_photo(newer_photo)
    await dee.result()
    await dee.press(older, "Send as file")
    document = await dee.reply(lambda m: m.kind == "document")
    assert size_of(dee.server.file_bytes(document)) == size_of(older_photo)

