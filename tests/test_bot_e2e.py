"""The real bot (``main.py`` in a subprocess, real weights) driven through the Bot API emulator like a person would.

One bot process serves the whole module (starting workers and loading models costs seconds on two cores); each test
talks as a different user, so their dialogues never mix. Inputs are small (about 256 px) so every model answers
within seconds on a CPU. Every callback query the tests produce must be answered, checked after every press and
once more at the end.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image

from botapi.server import BotAPIServer
from tests.conftest import IMAGES, REPO, WEIGHTS, need

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
FIRST_RESULT_TIMEOUT = 180.0  # the first job starts a worker and loads torch on two cores
RESULT_TIMEOUT = 90.0
REPLY_TIMEOUT = 15.0


# ------------------------------------------------------------------------------------------------ pictures


def picture(name: str = "lion.jpg", side: int = 256, fmt: str = "JPEG", folder: str = "content") -> bytes:
    path = IMAGES / folder / name
    if not path.is_file():
        pytest.skip(f"test picture not found: {path}")
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, fmt, quality=92)
    return buf.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


# ------------------------------------------------------------------------------------------------ the bot process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    """``python main.py`` with a test environment; its log goes to a file that failures print."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    async def start(cls, server: Any, workdir: Path, **env: str) -> BotProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(workdir)),
            "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.base_url,
            "WEIGHTS_DIR": str(WEIGHTS), "STYLES_DIR": str(IMAGES / "style"), "DATA_DIR": str(workdir / "data"),
            "WORKERS": "1", "LOG_LEVEL": "INFO", "STATUS_EDIT_INTERVAL": "0.5", "DRAIN_SECONDS": "2",
            "ADMIN_IDS": "4242", **env,
        }
        log_path = workdir / "bot.log"
        log = log_path.open("wb")
        # cwd is the work folder: a developer's .env in the repository must not leak into the test bot
        proc = await asyncio.create_subprocess_exec(sys.executable, str(REPO / "main.py"), cwd=workdir,
                                                    env=environment, stdout=log, stderr=asyncio.subprocess.STDOUT)
        log.close()
        return cls(proc, log_path)

    def log(self, tail: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])

    async def stop(self, timeout: float = 40.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


@asynccontextmanager
async def serving_bot(server: Any, workdir: Path, **env: str) -> AsyncIterator[BotProcess]:
    """A started bot (commands set); on the way out: every callback answered, a clean exit, no traceback."""
    process = await BotProcess.start(server, workdir, **env)
    try:
        await server.wait_until(lambda: server.calls_to("setMyCommands") and server.calls_to("getMe"), 60)
    except TimeoutError:
        await process.stop()
        pytest.fail("the bot did not start:\n" + process.log())
    yield process
    unanswered = server.unanswered_callbacks()
    code = await process.stop()
    assert unanswered == [], f"callback queries left unanswered: {unanswered}"
    assert code == 0, process.log()
    log = process.log(400)
    assert "Traceback" not in log, log


# ------------------------------------------------------------------------------------------------ a person


class Person:
    """One emulated user and the conversation helpers the tests read like a dialogue."""

    def __init__(self, server: Any, user_id: int, language: str = "en", name: str = "Anna") -> None:
        self.server = server
        self.user = server.user(user_id, name, language_code=language)
        self.chat = self.user.chat_id

    async def say(self, text: str) -> None:
        await self.user.send_text(text)

    async def reply(self, predicate: Callable[[Any], Any] | None = None, timeout: float = REPLY_TIMEOUT,
                    since: int | None = None) -> Any:
        return await self.server.wait_for_message(self.chat, predicate, timeout, since=since)

    async def reply_with_button(self, text: str, timeout: float = REPLY_TIMEOUT) -> Any:
        return await self.reply(lambda m: m.button(text), timeout)

    async def press(self, message: Any, text: str) -> dict[str, Any]:
        """Press a button and insist that the callback is answered within two seconds."""
        callback_id = await self.user.press(message, text=text)
        started = time.monotonic()
        answer = await self.server.wait_answered(callback_id, timeout=2.0)
        assert time.monotonic() - started < 2.0
        return answer

    async def result(self, timeout: float = RESULT_TIMEOUT) -> Any:
        """The next result: a photo or document carrying buttons (gallery albums carry none)."""
        return await self.reply(lambda m: m.kind in ("photo", "document") and m.buttons, timeout)

    def result_size(self, message: Any) -> tuple[int, int]:
        return size_of(self.server.file_bytes(message))


def has(fragment: str) -> Callable[[Any], bool]:
    return lambda m: fragment.lower() in m.plain_text.lower()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def shared_data() -> None:
    for path in (WEIGHTS / "microast", WEIGHTS / "johnson", WEIGHTS / "esrgan", IMAGES / "style"):
        need(path)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server():
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(shared_data, server, tmp_path_factory) -> BotProcess:
    async with serving_bot(server, tmp_path_factory.mktemp("bot"), PRELOAD="microast,johnson,upscale") as process:
        yield process


@pytest.fixture(autouse=True)
def show_bot_log(request):
    """Print the bot's recent log after each test: pytest shows it only when the test failed."""
    yield
    process = request.node.funcargs.get("bot") or request.node.funcargs.get("webhook_bot")
    if isinstance(process, BotProcess):
        print(process.log(80))


# ------------------------------------------------------------------------------------------------ the dialogue


async def test_start_shows_the_menu_at_once(bot: BotProcess, server: Any) -> None:
    anna = Person(server, 1001)
    latencies = []
    for _ in range(3):
        started = time.monotonic()
        await anna.say("/start")
        menu = await anna.reply(lambda m: m.button("My own style"))
        latencies.append(time.monotonic() - started)
    print(f"/start reply latency: {', '.join(f'{t * 1000:.0f} ms' for t in latencies)}")
    assert "Hello, Anna" in menu.plain_text
    labels = [b["text"] for b in menu.buttons]
    assert any("Ready styles" in t for t in labels) and any("Upscale" in t for t in labels)
    assert min(latencies) < 1.0
    assert {c["command"] for c in server.commands()} == {"start", "help", "cancel", "language", "settings"}
    assert server.commands(language_code="ru")[0]["description"] == "Главное меню"


async def test_own_style_microast_with_an_uploaded_style(bot: BotProcess, server: Any) -> None:
    boris = Person(server, 1002, name="Boris")
    await boris.say("/start")
    menu = await boris.reply_with_button("My own style")
    await boris.press(menu, "My own style")
    algorithms = await boris.reply_with_button("Quick")
    assert "Detailed" in " ".join(b["text"] for b in algorithms.buttons)
    assert "Finer" not in " ".join(b["text"] for b in algorithms.buttons)  # its weights are absent: not offered
    await boris.press(algorithms, "Quick")
    await boris.reply(has("send me the photo"))
    content = picture("lion.jpg", 256)
    await boris.user.send_photo(content)
    await boris.reply_with_button("gallery")
    await boris.user.send_photo(picture("the_scream.jpg", 256, folder="style"))
    options = await boris.reply_with_button("Go")
    assert "Add a second style" in " ".join(b["text"] for b in options.buttons)  # MicroAST blends two styles
    await boris.press(options, "50%")
    options = await boris.reply(lambda m: m.message_id == options.message_id and "50%" in m.plain_text)
    await boris.press(options, "Keep colours")
    options = await boris.reply(lambda m: m.message_id == options.message_id and "colours kept" in m.plain_text)
    status_seen = asyncio.create_task(boris.reply(has("queue"), timeout=20))
    await boris.press(options, "Go")
    status = await status_seen
    result = await boris.result(FIRST_RESULT_TIMEOUT)
    assert result.kind == "photo"
    assert boris.result_size(result) == size_of(content)
    assert "MicroAST" in result.plain_text and "strength 50%" in result.plain_text
    assert "colours kept" in result.plain_text and "⏱" in result.plain_text
    assert server.message(boris.chat, status.message_id).deleted  # the one status message is gone
    labels = " ".join(b["text"] for b in result.buttons)
    for action in ("Another strength", "Another style", "Upscale this", "Send as file"):
        assert action in labels


async def test_own_style_with_a_gallery_style_and_a_document(bot: BotProcess, server: Any) -> None:
    clara = Person(server, 1003, name="Clara")
    await clara.say("/start")
    await clara.press(await clara.reply_with_button("My own style"), "My own style")
    await clara.press(await clara.reply_with_button("Quick"), "Quick")
    await clara.reply(has("send me the photo"))
    content = picture("golden_gate.jpg", 240, fmt="PNG")
    await clara.user.send_document(content, "bridge.png", "image/png")  # documents keep full quality
    style_step = await clara.reply_with_button("gallery")
    await clara.press(style_step, "gallery")
    picker = await clara.reply_with_button("Mosaic")
    album = [m for m in server.bot_messages(clara.chat) if m.kind == "photo" and m.media_group_id]
    assert len(album) == 10 and len({m.media_group_id for m in album}) == 1
    assert all(max(size_of(server.file_bytes(m))) == 320 for m in album[:2])  # thumbnails made by the bot
    await clara.press(picker, "Mosaic")
    options = await clara.reply_with_button("Go")
    await clara.press(options, "Go")
    result = await clara.result(FIRST_RESULT_TIMEOUT)
    assert clara.result_size(result) == size_of(content)
    # the gallery's second album reuses Telegram's file ids instead of uploading again
    uploads_before = len(server.calls_to("sendMediaGroup"))
    await clara.press(result, "Another style")
    await clara.press(await clara.reply_with_button("gallery"), "gallery")
    await clara.reply_with_button("Mosaic")
    calls = server.calls_to("sendMediaGroup")
    assert len(calls) == uploads_before + 1
    assert "attach://" not in json.dumps(calls[-1].params.get("media", ""), default=str)


async def test_ready_style_johnson_mosaic(bot: BotProcess, server: Any) -> None:
    dan = Person(server, 1004, name="Dan")
    await dan.say("/start")
    await dan.press(await dan.reply_with_button("Ready styles"), "Ready styles")
    picker = await dan.reply_with_button("Mosaic")
    labels = [b["text"] for b in picker.buttons]
    assert [t for t in labels if t[0].isdigit()] == ["1. Candy", "2. Mosaic", "3. Rain Princess", "4. Udnie"]
    await dan.press(picker, "Mosaic")
    await dan.reply(has("send me the photo"))
    content = picture("chicago.jpg", 256)
    await dan.user.send_photo(content)
    result = await dan.result(FIRST_RESULT_TIMEOUT)
    assert result.kind == "photo" and dan.result_size(result) == size_of(content)
    assert "Mosaic" in result.plain_text


async def test_upscale_returns_a_document_four_times_larger(bot: BotProcess, server: Any) -> None:
    eve = Person(server, 1005, name="Eve")
    await eve.say("/start")
    await eve.press(await eve.reply_with_button("Upscale"), "Upscale")
    await eve.reply(has("enlarge four times"))
    content = picture("baboon.png", 96)
    await eve.user.send_photo(content)
    variants = await eve.reply_with_button("Anime")
    await eve.press(variants, "Photo")
    result = await eve.result(FIRST_RESULT_TIMEOUT)
    assert result.kind == "document"  # upscale results always come as files
    width, height = size_of(content)
    assert eve.result_size(result) == (4 * width, 4 * height)
    assert f"{4 * width}×{4 * height}" in result.plain_text


async def test_after_result_buttons(bot: BotProcess, server: Any) -> None:
    fay = Person(server, 1006, name="Fay")
    await fay.say("/start")
    await fay.press(await fay.reply_with_button("Ready styles"), "Ready styles")
    await fay.press(await fay.reply_with_button("Candy"), "Candy")
    await fay.reply(has("send me the photo"))
    content = picture("sailboat.jpg", 200)
    await fay.user.send_photo(content)
    first = await fay.result(FIRST_RESULT_TIMEOUT)
    assert "strength 100%" in first.plain_text

    await fay.press(first, "Another strength")
    strengths = await fay.reply(lambda m: m.message_id == first.message_id and m.button("25%"))
    await fay.press(strengths, "25%")
    second = await fay.result()
    assert "strength 25%" in second.plain_text and fay.result_size(second) == size_of(content)

    await fay.press(second, "Send as file")
    document = await fay.reply(lambda m: m.kind == "document")
    assert fay.server.file_bytes(document) and size_of(fay.server.file_bytes(document)) == size_of(content)

    await fay.press(second, "Upscale this")
    await fay.press(await fay.reply_with_button("Photo"), "Photo")
    upscaled = await fay.result()
    assert upscaled.kind == "document"
    assert fay.result_size(upscaled) == tuple(4 * s for s in size_of(content))

    assert not first.buttons  # the strength picker went away with the choice
    await fay.press(second, "Another style")  # the upscaled picture is newer, yet this result's buttons still work
    await fay.reply_with_button("Mosaic")  # the ready styles again, for the same photo


async def test_language_follows_the_app_and_the_language_command(bot: BotProcess, server: Any) -> None:
    ivan = Person(server, 1007, language="ru", name="Иван")
    await ivan.say("/start")
    menu = await ivan.reply_with_button("Свой стиль")
    assert "Привет, Иван" in menu.plain_text
    await ivan.say("/language")
    picker = await ivan.reply_with_button("English")
    await ivan.press(picker, "English")
    menu = await ivan.reply_with_button("My own style")
    assert "English" in menu.plain_text
    await ivan.say("/help")
    assert "How it works" in (await ivan.reply()).plain_text
    await ivan.say("/language")
    await ivan.press(await ivan.reply_with_button("Русский"), "Русский")
    await ivan.reply_with_button("Свой стиль")
    await ivan.say("what is this")
    assert "разобрать" in (await ivan.reply()).plain_text  # gender-neutral: not "я не понял"
    zoe = Person(server, 1008, language="de", name="Zoe")  # neither ru nor en: DEFAULT_LANGUAGE
    await zoe.say("/start")
    await zoe.reply_with_button("My own style")


async def test_settings_always_send_as_file(bot: BotProcess, server: Any) -> None:
    gil = Person(server, 1009, name="Gil")
    await gil.say("/settings")
    panel = await gil.reply_with_button("Always send as file: off")
    await gil.press(panel, "Always send as file")
    panel = await gil.reply(lambda m: m.message_id == panel.message_id and m.button("Always send as file: on"))
    await gil.press(panel, "Menu")
    await gil.press(await gil.reply_with_button("Ready styles"), "Ready styles")
    await gil.press(await gil.reply_with_button("Udnie"), "Udnie")
    await gil.reply(has("send me the photo"))
    await gil.user.send_photo(picture("wolf_gray.jpg", 160))
    result = await gil.result(FIRST_RESULT_TIMEOUT)
    assert result.kind == "document"
    assert "Send as file" not in " ".join(b["text"] for b in result.buttons)
    await gil.say("/settings")  # the preference survives /start and the job
    await gil.reply_with_button("Always send as file: on")


async def test_bad_inputs_get_clear_answers_and_the_dialogue_goes_on(bot: BotProcess, server: Any) -> None:
    hal = Person(server, 1010, name="Hal")
    await hal.say("/start")
    await hal.press(await hal.reply_with_button("My own style"), "My own style")
    await hal.press(await hal.reply_with_button("Quick"), "Quick")
    await hal.reply(has("send me the photo"))

    await hal.say("here is my photo")
    assert "waiting for a picture" in (await hal.reply()).plain_text
    await hal.user.send_sticker()
    assert "Stickers cannot be used" in (await hal.reply()).plain_text
    await hal.user.send_sticker(animated=True)
    assert "Animated stickers are not supported" in (await hal.reply()).plain_text
    await hal.user.send_document(b"%PDF-1.4\n% not a picture\n", "report.pdf", "application/pdf")
    assert "not a picture" in (await hal.reply()).plain_text
    await hal.user.send_document(b"\xff\xd8\xff", "huge.jpg", "image/jpeg", file_size=25 * 1024 * 1024)
    assert "larger than 20 MB" in (await hal.reply()).plain_text
    good = picture("amber.jpg", 200, fmt="PNG")
    await hal.user.send_document(good[: len(good) // 2], "cut.png", "image/png")
    assert "damaged" in (await hal.reply()).plain_text
    await hal.user.send_document(b"\x89PNG\r\n\x1a\nnonsense", "broken.png", "image/png")
    assert "damaged" in (await hal.reply()).plain_text  # a PNG signature, then garbage
    await hal.user.send_document(b"just some text, named like a photo", "fake.jpg", "image/jpeg")
    assert "not a picture I can read" in (await hal.reply()).plain_text
    wide = io.BytesIO()
    Image.new("RGB", (2100, 50), "white").save(wide, "PNG")
    await hal.user.send_document(wide.getvalue(), "strip.png", "image/png")
    assert "too long and narrow" in (await hal.reply()).plain_text

    await hal.user.send_photo(good)  # the step is still waiting for the photo
    options_step = await hal.reply_with_button("gallery")
    await hal.user.send_photo(picture("candy.jpg", 128, folder="style"))
    await hal.reply_with_button("Go")
    await hal.user.send_photo(good)  # buttons are expected now
    assert "choose one of the buttons" in (await hal.reply()).plain_text
    answer = await hal.press(options_step, "gallery")  # a button from an earlier step
    assert "old message" in (answer.get("text") or "")
    await hal.reply_with_button("My own style")
    await hal.say("/nonsense")
    assert "do not know this command" in (await hal.reply()).plain_text
    await hal.say("/stats")  # not an admin: an unknown command for Hal
    assert "do not know this command" in (await hal.reply()).plain_text


async def test_photo_outside_a_dialogue_offers_the_modes(bot: BotProcess, server: Any) -> None:
    kim = Person(server, 1011, name="Kim")
    content = picture("cornell.jpg", 200)
    await kim.user.send_photo(content)
    offer = await kim.reply_with_button("Upscale")
    await kim.press(offer, "Ready styles")
    await kim.press(await kim.reply_with_button("Rain Princess"), "Rain Princess")
    result = await kim.result(FIRST_RESULT_TIMEOUT)  # no second request for the photo
    assert kim.result_size(result) == size_of(content)


async def test_cancel_works_from_every_step_and_stops_the_job(bot: BotProcess, server: Any) -> None:
    lea = Person(server, 1012, name="Lea")
    await lea.say("/cancel")
    assert "nothing to cancel" in (await lea.reply()).plain_text
    await lea.press(await lea.reply_with_button("My own style"), "My own style")
    await lea.press(await lea.reply_with_button("Detailed"), "Detailed")
    await lea.say("/cancel")
    menu = await lea.reply_with_button("My own style")
    assert "Cancelled" in menu.plain_text
    await lea.user.send_photo(picture("avril.jpg", 128))  # the dialogue is over: a photo now starts a new one
    await lea.reply_with_button("Upscale")

    # a running job: Gatys, the slowest model (hundreds of optimisation steps)
    await lea.say("/start")
    await lea.press(await lea.reply_with_button("My own style"), "My own style")
    await lea.press(await lea.reply_with_button("Detailed"), "Detailed")
    await lea.user.send_photo(picture("avril.jpg", 256))
    await lea.press(await lea.reply_with_button("gallery"), "gallery")
    await lea.press(await lea.reply_with_button("Starry"), "Starry")
    options = await lea.reply_with_button("Go")
    await lea.press(options, "HD")
    options = await lea.reply(lambda m: m.message_id == options.message_id and "HD" in m.plain_text)
    await lea.press(options, "Go")
    status = await lea.reply(has("queue"))
    await lea.reply(lambda m: m.message_id == status.message_id and "Working" in m.plain_text, timeout=60, since=0)
    await lea.say("/cancel")  # while the worker is painting
    await lea.reply(has("Your picture is cancelled"))
    cancelled = await lea.reply(lambda m: m.message_id == status.message_id and "cancelled" in m.plain_text,
                                timeout=30, since=0)
    assert cancelled.button("Menu")
    await asyncio.sleep(1)
    assert not [m for m in server.bot_messages(lea.chat) if m.kind == "photo" and m.buttons]


async def test_status_cancel_button_and_admin_stats(bot: BotProcess, server: Any) -> None:
    root = Person(server, 4242, name="Root")
    await root.say("/start")
    await root.press(await root.reply_with_button("My own style"), "My own style")
    await root.press(await root.reply_with_button("Detailed"), "Detailed")
    await root.user.send_photo(picture("lion.jpg", 256))
    await root.press(await root.reply_with_button("gallery"), "gallery")
    await root.press(await root.reply_with_button("Udnie"), "Udnie")
    await root.press(await root.reply_with_button("Go"), "HD")
    await root.press(await root.reply(lambda m: m.button("Go") and "HD" in m.plain_text), "Go")
    status = await root.reply_with_button("Cancel the job")
    answer = await root.press(status, "Cancel the job")
    assert answer.get("text") == "Cancelling…"
    await root.reply(lambda m: m.message_id == status.message_id and "cancelled" in m.plain_text, since=0)
    await root.say("/stats")
    stats = await root.reply(has("Statistics"))
    assert "Jobs done" in stats.plain_text and "python -m ml_models download adain" in stats.plain_text


async def test_a_full_queue_says_so_and_cancel_stops_every_job(bot: BotProcess, server: Any) -> None:
    """With one worker busy: a second job waits with its place shown, a third is refused with the reason."""
    oto = Person(server, 1013, name="Oto")
    await oto.say("/start")
    await oto.press(await oto.reply_with_button("My own style"), "My own style")
    await oto.press(await oto.reply_with_button("Detailed"), "Detailed")
    await oto.user.send_photo(picture("lion.jpg", 128))
    await oto.press(await oto.reply_with_button("gallery"), "gallery")
    await oto.press(await oto.reply_with_button("Candy"), "Candy")
    await oto.press(await oto.reply_with_button("Go"), "Go")
    running = await oto.reply(has("queue"))
    await oto.reply(lambda m: m.message_id == running.message_id and "Working" in m.plain_text, timeout=60, since=0)

    for attempt in range(2):
        await oto.user.send_photo(picture("wolf_gray.jpg", 128))
        await oto.press(await oto.reply_with_button("Ready styles"), "Ready styles")
        await oto.press(await oto.reply_with_button("Candy"), "Candy")
        if attempt == 0:
            first_text = await oto.reply(has("queue"))
            waiting = await oto.reply(lambda m, w=first_text: m.message_id == w.message_id
                                      and "next in the queue" in m.plain_text, since=0)
        else:
            refused = await oto.reply(has("already have a picture in the works"))
            assert refused.button("Menu")
    await oto.say("/cancel")
    await oto.reply(has("Your picture is cancelled"))
    for status in (running, waiting):
        await oto.reply(lambda m, s=status: m.message_id == s.message_id and "cancelled" in m.plain_text, since=0)


# ------------------------------------------------------------------------------------------------ webhook mode


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def webhook_bot(server_for_webhook, tmp_path_factory):
    port = free_port()
    process = await BotProcess.start(server_for_webhook, tmp_path_factory.mktemp("webhook"),
                                     WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook", PORT=str(port), HOST="127.0.0.1")
    try:
        await server_for_webhook.wait_until(lambda: server_for_webhook.webhook_info()["url"], 60)
    except TimeoutError:
        await process.stop()
        pytest.fail("the webhook bot did not start:\n" + process.log())
    process.port = port
    yield process
    code = await process.stop()
    assert code == 0, process.log()
    assert "Traceback" not in process.log(400), process.log(400)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server_for_webhook():
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    yield emulator
    # The bot leaves its webhook set on exit (as it should in production). Remove it before stopping: stopping the
    # emulator with a webhook set can hang on Python 3.11 (wake_all + cancel race inside asyncio.wait_for).
    await emulator.webhook.delete()
    await asyncio.wait_for(emulator.stop(), 30)


async def test_webhook_round_trip(webhook_bot: BotProcess, server_for_webhook: Any) -> None:
    server = server_for_webhook
    info = server.webhook_info()
    assert info["url"] == f"http://127.0.0.1:{webhook_bot.port}/webhook"
    assert server.webhook.secret_token and len(server.webhook.secret_token) == 64  # derived from the token
    mia = Person(server, 2001, name="Mia")
    started = time.monotonic()
    await mia.say("/start")
    menu = await mia.reply_with_button("My own style")
    print(f"/start reply latency over the webhook: {(time.monotonic() - started) * 1000:.0f} ms")
    assert "Hello, Mia" in menu.plain_text
    await mia.press(menu, "Settings")
    await mia.reply_with_button("Always send as file")
    assert server.webhook.delivered and not server.webhook.failures


async def test_webhook_refuses_requests_without_the_secret(webhook_bot: BotProcess) -> None:
    url = f"http://127.0.0.1:{webhook_bot.port}"
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                          "from": {"id": 5, "is_bot": False, "first_name": "X"}, "text": "/start"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/webhook", json=update) as response:
            assert response.status == 401
        async with session.post(url + "/webhook", json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as response:
            assert response.status == 401
        async with session.get(url + "/healthz") as response:
            assert response.status == 200
            health = await response.json()
    assert health["ok"] is True and health["mode"] == "webhook" and "queue_length" in health


async def test_webhook_bot_stops_cleanly_on_sigterm(webhook_bot: BotProcess) -> None:
    started = time.monotonic()
    assert await webhook_bot.stop() == 0
    print(f"SIGTERM to exit: {time.monotonic() - started:.1f} s")
    assert "bye" in webhook_bot.log()


# ------------------------------------------------------------------------------------------------ restarts


async def test_a_restart_journals_the_running_job_and_resumes_it(shared_data, tmp_path: Path) -> None:
    """SIGTERM while Gatys paints: the user is told, and the next start takes the job up again by itself."""
    emulator = BotAPIServer(token=TOKEN)
    await emulator.start()
    first = second = None
    try:
        first = await BotProcess.start(emulator, tmp_path / "one", DATA_DIR=str(tmp_path / "data"),
                                       DRAIN_SECONDS="1")
        await emulator.wait_until(lambda: emulator.calls_to("getMe"), 60)
        nia = Person(emulator, 3001, name="Nia")
        await nia.say("/start")
        await nia.press(await nia.reply_with_button("My own style"), "My own style")
        await nia.press(await nia.reply_with_button("Detailed"), "Detailed")
        await nia.user.send_photo(picture("avril.jpg", 128))
        await nia.press(await nia.reply_with_button("gallery"), "gallery")
        await nia.press(await nia.reply_with_button("Udnie"), "Udnie")
        await nia.press(await nia.reply_with_button("Go"), "Go")
        status = await nia.reply(has("queue"))
        await nia.reply(lambda m: m.message_id == status.message_id and "Working" in m.plain_text, timeout=60,
                        since=0)
        assert await first.stop() == 0, first.log()
        told = emulator.message(nia.chat, status.message_id)
        assert "restarting" in told.plain_text and not told.buttons, first.log()

        mark = emulator.seq
        second = await BotProcess.start(emulator, tmp_path / "two", DATA_DIR=str(tmp_path / "data"))
        back = await nia.reply(has("I was restarted"), timeout=60, since=mark)
        assert back.button("Cancel the job")
        await nia.say("/cancel")
        await nia.reply(has("Your picture is cancelled"))
        await nia.reply(lambda m: m.message_id == back.message_id and "cancelled" in m.plain_text, since=0)
    finally:
        for process in (first, second):
            if process is not None:
                await process.stop()
        await emulator.stop()
    assert second is not None and "resumed 1 unfinished job" in second.log(200)
