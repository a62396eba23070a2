"""Every dialogue flow in process: the real routers over a recording Bot API session and a stub executor.

Needs no weights, no ../shared and no network, so it runs in any checkout (see tests/dialogue_harness.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio

from tests.dialogue_harness import Harness, jpeg


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
