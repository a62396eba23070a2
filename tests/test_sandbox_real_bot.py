"""A newcomer's path: ``python main.py --sandbox`` and a browser, with the real bot and the real weights.

The sandbox command runs as a subprocess exactly as a person would start it; headless Chromium opens the page it
prints, presses START, picks a ready style, uploads a photo and waits for the stylised picture.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser import needs_chromium
from tests.conftest import IMAGES, REPO, WEIGHTS, need

pytestmark = needs_chromium


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    """``main.py --sandbox`` on a free port; yields the page address once the bot answers there."""
    need(WEIGHTS / "johnson" / "mosaic_nc16.pth")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "WEBHOOK_URL", "TELEGRAM_API_URL"}}
    env.update({"SANDBOX_PORT": str(port), "WEIGHTS_DIR": str(WEIGHTS), "STYLES_DIR": str(IMAGES / "style"),
                "DATA_DIR": str(tmp_path / "data"), "WORKERS": "1", "PRELOAD": "johnson", "JOB_TIMEOUT_SCALE": "3",
                "PYTHONUNBUFFERED": "1"})
    log = (tmp_path / "sandbox.log").open("w")
    proc = subprocess.Popen([sys.executable, "main.py", "--sandbox"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while "polling as" not in (tmp_path / "sandbox.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the sandbox did not start:\n" + (tmp_path / "sandbox.log").read_text()[-3000:])
            time.sleep(0.2)
        assert f"open {url}" in (tmp_path / "sandbox.log").read_text()
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_ready_style_through_the_sandbox_page(sandbox: str, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30, poll_frequency=0.2)

    def bot_buttons(data_prefix: str) -> list[Any]:
        selector = f"[data-testid=inline-button][data-callback-data^='{data_prefix}']"
        return browser.find_elements(By.CSS_SELECTOR, selector)

    browser.get(sandbox)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=connection][data-state=ok]"))
    notice = browser.find_element(By.CSS_SELECTOR, "[data-testid=sandbox-notice]")
    assert "python -m ml_models download adain" in notice.text  # the shared folder has no AdaIN weights

    browser.find_element(By.CSS_SELECTOR, "[data-testid=start-button]").click()
    wait.until(lambda d: bot_buttons("m:ready"))
    bot_buttons("m:ready")[-1].click()
    mosaic = wait.until(lambda d: bot_buttons("pr:johnson:mosaic"))
    mosaic[-1].click()

    photo = Image.open(need(IMAGES / "content" / "chicago.jpg")).convert("RGB")
    photo.thumbnail((360, 360))
    path = tmp_path / "chicago.jpg"
    photo.save(path, quality=92)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=message][data-outgoing=true]")) >= 3)
    bot_photos = "[data-testid=message][data-outgoing=true] [data-testid=message-photo]"
    before = len(browser.find_elements(By.CSS_SELECTOR, bot_photos))  # the style thumbnails already shown
    browser.find_element(By.CSS_SELECTOR, "[data-testid=file-input]").send_keys(str(path))

    def result_image(driver: Any) -> Any:
        images = driver.find_elements(By.CSS_SELECTOR, bot_photos)[before:]
        loaded = [i for i in images if driver.execute_script("return arguments[0].complete && "
                                                             "arguments[0].naturalWidth > 0", i)]
        return loaded[-1] if loaded else None

    image = WebDriverWait(browser, 150, poll_frequency=0.5).until(result_image)
    width, height = int(image.get_attribute("data-width")), int(image.get_attribute("data-height"))
    assert abs(width / height - photo.width / photo.height) < 0.02  # the result keeps the photo's aspect ratio
    src = image.get_attribute("src")
    data = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.arrayBuffer())"
        ".then(b => done(Array.from(new Uint8Array(b))));", src)
    result = Image.open(io.BytesIO(bytes(data))).convert("RGB")
    assert result.size == (width, height)
    shown = Image.open(path).convert("RGB").resize(result.size)
    diff = sum(abs(a - b) for a, b in zip(result.tobytes()[::97], shown.tobytes()[::97], strict=True))
    assert diff / len(result.tobytes()[::97]) > 10  # stylised, not the photo sent back
