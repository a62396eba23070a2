"""Every dialogue flow in process: the real routers over a recording Bot API session and a stub executor.

Needs no weights, no ../shared and no network, so it runs in any checkout (see tests/dialogue_harness.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio

from tests.dialogue_harness import Harness, Outcome, jpeg


@pytest_asyncio.fixture
async def bot(tmp_path: Path):
    harness = Harness(tmp_path)
    yield harness
    await harness.close()


async def test_ready_style_from_start_to_result(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    await anna.send_photo()
    sent = [s for s in anna.said() if s.method in ("SendPhoto", "SendDocument") and s.markup]
    assert len(sent) == 1 and bot.executor.jobs[0].request.preset == "mosaic"


async def test_own_style_from_start_to_result(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("MicroAST"), "MicroAST")
    await anna.send_photo(jpeg(color=(10, 200, 10)))
    await anna.send_photo(jpeg(color=(10, 10, 200)))
    await anna.press(anna.last_with("Go"), "Go")
    job = bot.executor.jobs[0]
    assert job.request.model == "microast" and len(job.request.styles) == 1
    assert any(s.method == "SendPhoto" and s.markup for s in anna.said())


async def test_upscale_from_start_to_result(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo()
    await anna.press(anna.last_with("Photo"), "Photo")
    assert bot.executor.jobs[0].request.preset == "general"
    assert any(s.method == "SendDocument" and s.markup for s in anna.said())


# ------------------------------------------------------------------------------------------------ defects of #21


async def test_a_picture_the_worker_refuses_is_asked_again_at_the_same_step_ready_style(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    bot.executor.outcomes.append(Outcome(code="truncated"))
    await anna.send_photo()
    assert any("send it again" in t for t in anna.texts())
    anna.said()
    await anna.send_photo(jpeg(color=(1, 2, 3)))
    assert not any("What shall I do" in s.text for s in anna.said())
    assert [j.request.preset for j in bot.executor.jobs] == ["mosaic", "mosaic"]


async def test_a_refused_picture_keeps_every_own_style_choice(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("MicroAST"), "MicroAST")
    await anna.send_photo(jpeg(color=(10, 200, 10)))
    await anna.send_photo(jpeg(color=(10, 10, 200)))
    await anna.press(anna.last_with("75%"), "75%")
    bot.executor.outcomes.append(Outcome(code="truncated"))
    await anna.press(anna.last_with("Go"), "Go")
    await anna.send_photo(jpeg(color=(50, 50, 50)))
    await anna.press(anna.last_with("Go"), "Go")
    first, second = bot.executor.jobs
    assert second.request.options["strength"] == 0.75 and second.request.styles == first.request.styles
    assert second.request.content != first.request.content


async def test_a_refused_picture_keeps_the_upscale_model(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo()
    bot.executor.outcomes.append(Outcome(code="not_image"))
    await anna.press(anna.last_with("Anime"), "Anime")
    await anna.send_photo(jpeg(color=(9, 9, 9)))
    assert [j.request.preset for j in bot.executor.jobs] == ["anime", "anime"]


async def test_cancel_under_a_menu_leaves_the_dialogue_but_not_the_running_job(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Candy"), "Candy")
    bot.executor.outcomes.append(Outcome(hold=True))
    await anna.send_photo()
    await anna.send_photo(jpeg(color=(5, 5, 5)))
    await anna.press(anna.last_with("Cancel"), "Cancel")  # under "What shall I do with it?"
    handle = next(iter(bot.executor.handles.values()))
    assert not handle.finished
    await anna.say("/cancel")
    assert handle.finished


async def test_buttons_under_an_older_result_act_on_that_result(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    for number, size in enumerate([(40, 30), (50, 30), (60, 30)]):
        await anna.press(anna.last_with("Ready styles"), "Ready styles")
        await anna.press(anna.last_with("Mosaic"), "Mosaic")
        bot.executor.outcomes.append(Outcome(size=size))
        await anna.send_photo(jpeg(color=(number, 0, 0)))
    results = [s for s in anna.said(new=False) if s.method == "SendPhoto" and s.markup]
    assert len(results) == 3
    await anna.press(results[0], "Send as file")
    document = [s for s in anna.said() if s.method == "SendDocument"][-1]
    assert Path(document.call.document.path).name.endswith("-1.jpg")
    await anna.press(results[0], "Upscale")
    await anna.press(anna.last_with("Photo"), "Photo")
    assert bot.executor.jobs[-1].request.content == bot.session.files[_file_of(bot, results[0])]


def _file_of(bot: Harness, said) -> str:
    return bot.session.returned[id(said.call)].photo[-1].file_id


async def test_a_result_older_than_the_last_ten_says_so_and_shows_the_menu(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    for number in range(11):
        await anna.press(anna.last_with("Ready styles"), "Ready styles")
        await anna.press(anna.last_with("Mosaic"), "Mosaic")
        await anna.send_photo(jpeg(color=(number, 0, 0)))
    results = [s for s in anna.said(new=False) if s.method == "SendPhoto" and s.markup]
    await anna.press(results[0], "Send as file")
    said = anna.said()
    assert not any(s.method == "SendDocument" for s in said)
    assert any("older than your last 10" in s.text and s.button("Ready styles") for s in said)
    await anna.press(results[1], "Send as file")
    assert any(s.method == "SendDocument" for s in anna.said())


def test_the_picture_steps_named_in_dialogue_are_the_handlers_states() -> None:
    import dialogue
    from handlers.states import OwnStyle, ReadyStyle, Upscale

    assert {"own": OwnStyle.photo.state, "ready": ReadyStyle.photo.state,
                                     "upscale": Upscale.photo.state} == dialogue.PICTURE_STEP


async def test_help_says_what_stops_a_job(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/help")
    assert "status message" in anna.texts()[-1] and "/cancel" in anna.texts()[-1]
