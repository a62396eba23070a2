"""Every dialogue flow in process: the real routers over a recording Bot API session and a stub executor.

Needs no weights, no ../shared and no network, so it runs in any checkout (see tests/dialogue_harness.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
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
    await anna.press(anna.last_with("Quick"), "Quick")
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
    await anna.press(anna.last_with("Quick"), "Quick")
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
        await anna.send_photo(jpeg(color=(20 * number, 0, 0)))
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
        await anna.send_photo(jpeg(color=(20 * number, 0, 0)))
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


# ------------------------------------------------------------------------------------------------ albums


async def test_an_album_before_a_mode_gets_one_question(bot: Harness) -> None:
    anna = bot.chat()
    await anna.send_album([jpeg(color=(60 * i, 0, 0)) for i in range(3)])
    said = anna.said()
    questions = [s for s in said if s.method == "SendMessage"]
    assert len(questions) == 1 and "these 3 photos" in questions[0].text


async def test_an_album_in_a_ready_style_is_one_request_with_one_status_message(bot: Harness) -> None:
    anna = bot.chat()
    await anna.send_album([jpeg(color=(60 * i, 0, 0)) for i in range(3)])
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    said = anna.said()
    assert [j.request.preset for j in bot.executor.jobs] == ["mosaic"] * 3
    assert len({j.request.content for j in bot.executor.jobs}) == 3  # each photo, not the last one thrice
    results = [s for s in said if s.method == "SendPhoto" and s.markup]
    assert len(results) == 3
    statuses = [s for s in said if s.method == "SendMessage" and "queue" in s.text]
    assert len(statuses) == 1, [s.text for s in said]


async def test_an_album_at_the_ready_photo_step_runs_every_photo(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Candy"), "Candy")
    await anna.send_album([jpeg(color=(0, 60 * i, 0)) for i in range(2)])
    assert len(bot.executor.jobs) == 2
    assert len([s for s in anna.said() if s.method == "SendPhoto" and s.markup]) == 2


async def test_an_album_of_two_at_the_own_style_photo_step_is_photo_and_style(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("Quick"), "Quick")
    photo, style = jpeg(color=(10, 10, 10)), jpeg(color=(200, 200, 200))
    await anna.send_album([photo, style])
    await anna.press(anna.last_with("Go"), "Go")
    job = bot.executor.jobs[0]
    assert job.request.content == photo and job.request.styles == [style]
    assert any("the second one is the style" in t for t in anna.texts())


async def test_an_album_of_four_for_own_style_says_which_are_used(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("Finer"), "Finer")
    await anna.send_album([jpeg(color=(60 * i, 60 * i, 60 * i)) for i in range(4)])
    assert any("the other 2 are left out" in t for t in anna.texts())
    assert anna.last_with("Go")


async def test_cancel_stops_the_rest_of_an_album(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    bot.executor.outcomes.append(Outcome(hold=True))
    await anna.send_album([jpeg(color=(60 * i, 9, 9)) for i in range(3)])
    await anna.press(anna.last_with("Photo"), "Photo")
    assert len(bot.executor.jobs) == 1
    await anna.say("/cancel")
    assert len(bot.executor.jobs) == 1 and any("rest of the album" in t for t in anna.texts())


# ------------------------------------------------------------------------------------------------ fewer taps


async def test_one_algorithm_installed_means_no_algorithm_screen(tmp_path: Path) -> None:
    harness = Harness(tmp_path, models={"microast": ()})
    anna = harness.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    said = anna.said()
    assert not any(s.button("Quick") for s in said)
    assert any("Send me the photo" in s.text for s in said)
    await harness.close()


async def test_one_upscaler_installed_means_no_variant_screen(tmp_path: Path) -> None:
    harness = Harness(tmp_path, models={"upscale": ("general",)})
    anna = harness.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo()
    assert [j.request.preset for j in harness.executor.jobs] == ["general"]
    await harness.close()


async def test_moving_between_menus_edits_the_menu_message(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    menu = anna.last_with("My own style")
    anna.said()
    await anna.press(menu, "My own style")
    said = anna.said()
    assert not [s for s in said if s.method == "SendMessage"]
    edits = [s for s in said if s.method == "EditMessageText"]
    assert edits and edits[0].message_id == menu.message_id and edits[0].button("Quick")
    await anna.press(anna.last_with("Quick"), "Quick")
    assert [s.method for s in anna.said() if s.method.startswith(("Send", "Edit"))] == ["EditMessageText"]


async def test_the_gallery_album_goes_out_once_per_dialogue(bot: Harness) -> None:
    from ml_models import registry

    for style in list(registry.GALLERY.values())[:3]:
        path = bot.settings.engine.styles_dir / style.file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(color=(90, 30, 30)))
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("Quick"), "Quick")
    await anna.send_photo()
    await anna.press(anna.last_with("gallery"), "gallery")
    first = registry.GALLERY[list(registry.GALLERY)[0]]
    await anna.press(anna.last_with(f"1. {first.title_en}"), first.title_en)
    await anna.press(anna.last_with("second style"), "second style")
    await anna.press(anna.last_with("gallery"), "gallery")
    albums = [s for s in anna.said(new=False) if s.method == "SendMediaGroup"]
    assert len(albums) == 1


async def test_result_buttons_come_in_two_columns(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    await anna.send_photo()
    result = next(s for s in anna.said() if s.method == "SendPhoto" and s.markup)
    rows = result.markup.inline_keyboard
    assert max(len(row) for row in rows) == 2 and len(rows) <= 3


async def test_busy_answer_offers_try_again_with_the_same_photo(bot: Harness) -> None:
    from jobs import QueueBusy

    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    bot.executor.refuse.append(QueueBusy(21, "queue_full"))
    photo = jpeg(color=(12, 200, 90))
    await anna.send_photo(photo)
    assert not bot.executor.jobs
    await anna.press(anna.last_with("Try again"), "Try again")
    assert [(j.request.preset, j.request.content) for j in bot.executor.jobs] == [("mosaic", photo)]


# ------------------------------------------------------------------------------------------------ plain words


async def test_the_greeting_lists_only_installed_modes(tmp_path: Path) -> None:
    harness = Harness(tmp_path, models={"johnson": ("candy",)})
    anna = harness.chat()
    await anna.say("/start")
    greeting = anna.said()[-1].text
    assert "Ready styles" in greeting and "My own style" not in greeting and "Upscale" not in greeting
    await harness.close()


async def test_algorithms_are_offered_by_speed_with_the_job_layers_estimate(bot: Harness) -> None:
    bot.executor.estimate = lambda model, pixels: {"microast": 0.8, "adain": 42.0}[model]
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    screen = anna.last_with("Quick")
    assert screen.buttons()[:2] == ["⚡ Quick · about 1 s", "🎨 Finer · about 40 s"]
    for jargon in ("MicroAST", "AdaIN", "VGG", "network"):
        assert jargon not in screen.text + " ".join(screen.buttons())
    await anna.press(screen, "Quick")
    await anna.send_photo()
    await anna.send_photo(jpeg(color=(0, 0, 250)))
    options = anna.last_with("Go")
    assert "MicroAST" not in options.text and "Quick" in options.text
    await anna.say("/help")
    assert "MicroAST" in anna.texts()[-1]


async def test_blend_buttons_say_the_mix(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("Finer"), "Finer")
    await anna.send_album([jpeg(color=(200, 0, 0)), jpeg(color=(0, 200, 0))])
    await anna.press(anna.last_with("second style"), "second style")
    await anna.send_photo(jpeg(color=(0, 0, 200)))
    options = anna.last_with("Go")
    assert "Mix 50/50" in " ".join(options.buttons()) and "2nd" not in " ".join(options.buttons())


# ------------------------------------------------------------------------------------------------ status and busy


async def test_the_status_of_a_running_job_shows_the_time_left(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    bot.executor.outcomes.append(Outcome(hold=True, eta_s=30.0))
    await anna.send_photo()
    edits = [s.text for s in anna.said() if s.method == "EditMessageText"]
    assert edits and "Working" in edits[-1] and "Ready in about" in edits[-1], edits


def test_the_countdown_follows_the_estimate_then_the_pace() -> None:
    from services.countdown import Countdown

    now = [100.0]
    countdown = Countdown(30.0, clock=lambda: now[0])
    now[0] += 10
    assert countdown.left() == 20.0
    assert countdown.left(done=1, total=4) == 30.0  # a quarter in 10 s: three quarters take 30 s
    assert Countdown(None).left() is None


async def test_a_long_wait_is_explained_with_the_wait(bot: Harness) -> None:
    from jobs import QueueBusy

    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    bot.executor.refuse.append(QueueBusy(40, "long_wait", wait_s=300.0))
    await anna.send_photo()
    assert "would wait about 5 min" in anna.last_with("Try again").text


# ------------------------------------------------------------------------------------------------ big pictures


async def test_a_big_picture_is_never_shrunk_silently_before_upscaling(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo(jpeg((4032, 3024)))
    await anna.press(anna.last_with("Photo"), "Photo")
    screen = anna.last_with("(x2)")
    assert "4032×3024" in screen.text and not bot.executor.jobs
    assert screen.buttons()[:2] == ["4032×3024 → 4096×3072 (x1)", "4032×3024 → 8192×6144 (x2)"]
    bot.executor.outcomes.append(Outcome(claimed=(8192, 6144)))
    await anna.press(screen, "(x2)")
    assert bot.executor.jobs[0].request.options == {"max_side": 2048}
    result = next(s for s in anna.said() if s.method == "SendDocument" and s.markup)
    assert "4032×3024 → 8192×6144" in result.text


async def test_a_small_picture_upscales_without_a_question(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo(jpeg((800, 600)))
    await anna.press(anna.last_with("Photo"), "Photo")
    assert len(bot.executor.jobs) == 1 and "max_side" not in bot.executor.jobs[0].request.options


def test_upscale_result_sizes_follow_the_engine() -> None:
    from handlers.upscale import result_sizes

    assert result_sizes(4032, 3024, 8192) == [(1024, 4096, 3072), (2048, 8192, 6144)]
    assert result_sizes(4032, 3024, 4096) == [(1024, 4096, 3072)]  # HD would give the same: no choice
    assert result_sizes(1500, 1000, 8192) == [(1024, 4096, 2732), (2048, 6000, 4000)]


async def test_a_result_over_the_document_limit_goes_out_as_a_jpeg(bot: Harness, monkeypatch) -> None:
    import io
    import os

    from PIL import Image

    from services import oversize

    noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    monkeypatch.setattr(oversize, "DOCUMENT_LIMIT", len(buf.getvalue()) // 2)
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Upscale"), "Upscale")
    await anna.send_photo()
    bot.executor.outcomes.append(Outcome(image=buf.getvalue(), size=(256, 256)))
    await anna.press(anna.last_with("Photo"), "Photo")
    result = next(s for s in anna.said() if s.method == "SendDocument" and s.markup)
    sent = result.call.document.data
    assert sent[:2] == b"\xff\xd8" and len(sent) <= oversize.DOCUMENT_LIMIT
    assert result.call.document.filename.endswith(".jpg") and "50 MB" in result.text


def heic(size: tuple[int, int] = (64, 48)) -> bytes:
    import io

    import pillow_heif
    from PIL import Image

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", size, (20, 160, 60))).save(out, quality=90)
    return out.getvalue()


async def _send_document(anna, data: bytes, name: str, mime: str) -> None:
    from aiogram.types import Document, Update

    file_id = anna.h.session.store(data)
    message = anna._message(document=Document(file_id=file_id, file_unique_id="u" + file_id, file_name=name,
                                              mime_type=mime, file_size=len(data)))
    await anna.h.feed(Update(update_id=next(anna.h._updates), message=message))
    await anna.h.settle()


async def test_an_iphone_heic_file_is_decoded_and_reaches_the_worker_as_jpeg(bot: Harness) -> None:
    pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    await _send_document(anna, heic(), "IMG_0001.HEIC", "image/heic")
    assert len(bot.executor.jobs) == 1
    content = bot.executor.jobs[0].request.content
    assert content[:2] == b"\xff\xd8"  # a JPEG: the workers never see HEIC
    assert list((bot.settings.data_dir / "inputs").glob("*.jpg"))  # kept for later jobs (restarts, retries)


async def test_a_heic_file_without_pillow_heif_gets_the_hint_to_send_a_photo(bot: Harness, monkeypatch) -> None:
    pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    from services import file_store

    data = heic()
    monkeypatch.setattr(file_store, "heif_readable", lambda: False)
    monkeypatch.setattr(file_store.Image, "OPEN", {k: v for k, v in file_store.Image.OPEN.items() if k != "HEIF"})
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    await _send_document(anna, data, "IMG_0002.HEIC", "image/heic")
    assert not bot.executor.jobs and any("send it as a photo" in t for t in anna.texts())


# ------------------------------------------------------------------------------------------------ first contact


async def test_the_description_and_short_description_are_set_in_both_languages(bot: Harness) -> None:
    import bot_init

    await bot_init.set_commands(bot.bot, bot.app.i18n)
    calls = {(type(c).__name__, c.language_code): c for c in bot.session.calls}
    for language in ("ru", "en", None):
        assert ("SetMyCommands", language) in calls
        assert calls[("SetMyDescription", language)].description
        assert calls[("SetMyShortDescription", language)].short_description
    assert "фото" in calls[("SetMyDescription", "ru")].description
    assert "photo" in calls[("SetMyShortDescription", "en")].short_description
    assert len(calls[("SetMyShortDescription", "ru")].short_description) <= 120


async def test_the_command_menu_follows_the_language_chosen_in_the_chat(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/language")
    await anna.press(anna.last_with("Русский"), "Русский")
    scoped = [c for c in bot.session.calls if type(c).__name__ == "SetMyCommands"]
    assert scoped and scoped[-1].scope.chat_id == anna.chat.id
    assert scoped[-1].commands[0].description == "Главное меню"


async def test_one_ready_style_installed_means_no_picker(tmp_path: Path) -> None:
    harness = Harness(tmp_path, models={"johnson": ("udnie",), "upscale": ("general",)})
    anna = harness.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    assert not [s for s in anna.said() if s.method == "SendMediaGroup" or s.button("Udnie")]
    await anna.send_photo()
    assert [j.request.preset for j in harness.executor.jobs] == ["udnie"]
    await harness.close()


async def test_a_photo_with_one_mode_installed_goes_straight_into_it(tmp_path: Path) -> None:
    harness = Harness(tmp_path, models={"upscale": ("general",)})
    anna = harness.chat()
    await anna.send_photo()
    assert [j.request.preset for j in harness.executor.jobs] == ["general"]
    assert not any("What shall I do" in t for t in anna.texts())
    await harness.close()


# ------------------------------------------------------------------------------------------------ the other flows


async def test_settings_as_file_makes_results_documents(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/settings")
    await anna.press(anna.last_with("Always send as file: off"), "Always send as file")
    assert anna.last_with("Always send as file: on")
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Candy"), "Candy")
    await anna.send_photo()
    assert any(s.method == "SendDocument" and s.markup for s in anna.said())


async def test_language_switch_changes_the_words(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/language")
    await anna.press(anna.last_with("Русский"), "Русский")
    assert anna.last_with("Свой стиль")
    await anna.say("/start")
    assert "Привет, Anna" in anna.said()[-1].text


async def test_a_sticker_at_the_photo_step_is_explained_and_the_step_stays(bot: Harness) -> None:
    from aiogram.types import Sticker, Update

    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Mosaic"), "Mosaic")
    sticker = Sticker(file_id="s1", file_unique_id="us1", type="regular", width=512, height=512, is_animated=False,
                      is_video=False)
    await bot.feed(Update(update_id=999, message=anna._message(sticker=sticker)))
    assert "Stickers" in anna.said()[-1].text
    await anna.send_photo()
    assert [j.request.preset for j in bot.executor.jobs] == ["mosaic"]


async def test_another_strength_and_another_style_under_a_result(bot: Harness) -> None:
    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("My own style"), "My own style")
    await anna.press(anna.last_with("Quick"), "Quick")
    await anna.send_album([jpeg(color=(200, 0, 0)), jpeg(color=(0, 200, 0))])
    await anna.press(anna.last_with("Go"), "Go")
    result = anna.last_with("Another strength")
    await anna.press(result, "Another strength")
    await anna.press(anna.last_with("25%"), "25%")
    assert bot.executor.jobs[-1].request.options["strength"] == 0.25
    await anna.press(result, "Another style")
    assert "style you like" in anna.said()[-1].text
    await anna.send_photo(jpeg(color=(0, 0, 200)))
    await anna.press(anna.last_with("Go"), "Go")
    assert bot.executor.jobs[-1].request.content == bot.executor.jobs[0].request.content


async def test_a_button_no_handler_takes_gets_a_notice_and_the_menu(bot: Harness) -> None:
    from aiogram.types import CallbackQuery, Update

    anna = bot.chat()
    query = CallbackQuery(id="q1", from_user=anna.user, chat_instance="ci", data="op:go",
                          message=anna._message(text="old"))
    await bot.feed(Update(update_id=998, callback_query=query))
    answers = [c for c in bot.session.calls if type(c).__name__ == "AnswerCallbackQuery"]
    assert answers and "old message" in (answers[-1].text or "")
    assert anna.last_with("My own style")


async def test_an_album_refused_as_busy_is_sent_again_by_try_again(bot: Harness) -> None:
    from jobs import QueueBusy

    anna = bot.chat()
    await anna.say("/start")
    await anna.press(anna.last_with("Ready styles"), "Ready styles")
    await anna.press(anna.last_with("Candy"), "Candy")
    bot.executor.refuse.append(QueueBusy(30, "long_wait", wait_s=200.0))
    album = [jpeg(color=(60 * i, 100, 0)) for i in range(3)]
    await anna.send_album(album)
    assert not bot.executor.jobs
    await anna.press(anna.last_with("Try again"), "Try again")
    assert [j.request.content for j in bot.executor.jobs] == album
