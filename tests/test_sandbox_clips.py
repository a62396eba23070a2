"""The sandbox page plays moving pictures both ways: a video the person uploads, and the bot's animation, video and
round video note, each in a <video> element (animations loop muted like GIFs, video notes are round)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser import needs_chromium
from tests.test_sandbox_browser import LiveSandbox
from tests.video_helpers import pan_mp4

pytestmark = needs_chromium


def test_the_page_plays_clips_both_ways(browser: Any, tmp_path: Path) -> None:
    from aiogram.types import BufferedInputFile
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15, poll_frequency=0.1)
    clip = pan_mp4(tmp_path / "pan.mp4", frames=8)
    note = pan_mp4(tmp_path / "note.mp4", frames=8, size=(96, 96))

    def clips(outgoing: str) -> list[Any]:
        return browser.find_elements(By.CSS_SELECTOR, f"[data-testid=message][data-outgoing={outgoing}] "
                                                      "[data-testid=message-clip]")

    with LiveSandbox() as live:
        server = live.server
        browser.get(server.sandbox_url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=connection][data-state=ok]"))
        browser.find_element(By.CSS_SELECTOR, "[data-testid=file-input]").send_keys(str(clip))  # an MP4: a video
        wait.until(lambda d: clips("false"))
        assert clips("false")[0].get_attribute("data-kind") == "video"
        assert clips("false")[0].get_attribute("controls") is not None

        chat = server.sandbox_user.chat_id
        bot = live._bot
        data = clip.read_bytes()
        live.run(bot.send_animation(chat, BufferedInputFile(data, "a.mp4"), width=128, height=96, duration=1))
        live.run(bot.send_video(chat, BufferedInputFile(data, "v.mp4"), width=128, height=96, duration=1))
        live.run(bot.send_video_note(chat, BufferedInputFile(note.read_bytes(), "n.mp4"), length=96, duration=1))
        wait.until(lambda d: len(clips("true")) == 3)
        animation, video, round_note = clips("true")
        assert [c.get_attribute("data-kind") for c in clips("true")] == ["animation", "video", "video_note"]
        assert browser.execute_script("return arguments[0].muted && arguments[0].loop", animation)
        assert video.get_attribute("controls") is not None
        assert "video-note" in round_note.get_attribute("class")
        assert browser.execute_script("return getComputedStyle(arguments[0]).borderRadius", round_note) == "50%"
        served = browser.execute_script(
            "return fetch(arguments[0].src).then(r => r.ok && r.headers.get('content-type'))", animation)
        assert served == "video/mp4"
        # the page draws an animation once, not again as the document Telegram attaches to it
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=message][data-outgoing=true] "
                                                          "[data-testid=message-document]")
