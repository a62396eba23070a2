"""The bot process's memory: the real ``main.py`` polling the Bot API emulator, and a build-only fallback.

The bot process must stay small and torch-free (heavy work lives in worker processes), so this measures its RSS
after it has started, answered ``/start`` and settled, checks ``/proc/<pid>/maps`` for torch's library, and lists
its worker children separately. Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, SHARED_WEIGHTS, maps_torch, rss_mb, uss_mb

TOKEN = "123456:AAbenchmarkTokenForTheEmulator_x"

_BUILD_ONLY = """
import json, sys, resource
import lazy_telegram_types  # first, as in main.py
import config, bot_init
settings = config.load_settings({"BOT_TOKEN": sys.argv[1], "DATA_DIR": sys.argv[2], "LOG_LEVEL": "WARNING"},
                                dotenv_path=None)
app = bot_init.build(settings)
import psutil
print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 2**20,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch_imported": "torch" in sys.modules, "routers": len(app.dispatcher.sub_routers)}))
"""


def build_only(timeout: float = 120.0) -> dict:
    """Import the bot modules and build the dispatcher (no network, no workers) in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        proc = subprocess.run([sys.executable, "-c", _BUILD_ONLY, TOKEN, tmp], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr[-1500:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def live(weights_dir: Path | None = None, timeout: float = 90.0, settle_s: float = 2.0) -> dict:
    """Start ``main.py`` against the emulator, wait for ``/start`` to be answered, then measure and stop it."""
    try:
        return asyncio.run(_live(weights_dir, timeout, settle_s))
    except Exception as exc:  # a bot that does not start is a result worth reporting, not a crash
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}


async def _live(weights_dir: Path | None, timeout: float, settle_s: float) -> dict:
    from botapi import BotAPIServer

    server = BotAPIServer(TOKEN, bot_username="artbot_bench")
    await server.start()
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        log_path = Path(tmp) / "bot.log"
        env = dict(os.environ)
        env.update(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=server.base_url, DATA_DIR=str(Path(tmp) / "data"),
                   WEIGHTS_DIR=str(weights_dir or SHARED_WEIGHTS), LOG_LEVEL="INFO", DRAIN_SECONDS="0",
                   EXECUTOR="local", PRELOAD="", WEBHOOK_URL="", REDIS_URL="")
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            # cwd is the empty temp folder so a developer's .env in the repository is not read
            proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], cwd=tmp, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            # deleteWebhook is the polling loop's first call; updates sent from then on reach getUpdates
            await server.wait_until(lambda: server.calls_to("deleteWebhook") or proc.poll() is not None, timeout)
            if proc.poll() is not None:
                raise RuntimeError(f"bot exited with {proc.returncode}: {log_path.read_text()[-1500:]}")
            polling_s = time.perf_counter() - started
            user = server.user(4242, "Bench", language_code="en")
            await user.send_text("/start")
            sent = time.perf_counter()
            await server.wait_for_message(user.chat_id, timeout=timeout)
            reply_s = time.perf_counter() - sent
            await asyncio.sleep(settle_s)
            result = _measure(proc.pid)
            result.update(polling_after_s=polling_s, start_reply_s=reply_s)
            return result
        finally:
            _stop(proc)
            await server.stop()


def _measure(pid: int) -> dict:
    import psutil

    children = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children.append({"pid": child.pid, "cmd": " ".join(child.cmdline()[-3:])[:120],
                             "rss_mb": child.memory_info().rss / 2**20, "torch_mapped": maps_torch(child.pid)})
    return {"pid": pid, "rss_mb": rss_mb(pid), "uss_mb": uss_mb(pid), "torch_mapped": maps_torch(pid),
            "children": children}


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the bot drains and stops its workers); if it hangs, kill it and the workers it started, by pid."""
    import psutil

    if proc.poll() is not None:
        return
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.is_running():
                child.kill()
