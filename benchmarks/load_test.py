"""Load test of the whole bot: N people send a photo for a ready style at once to the real ``main.py``.

The Bot API emulator (``botapi/``) runs in this process on loopback, the real bot (genuine Johnson weights from
``../shared``, one worker by default) as a subprocess. Each user goes /start → Ready styles → "Mosaic" → a photo,
arriving over ``--ramp`` seconds, and waits for the result or the "busy" refusal; a probe user's ``/start`` reply time
before and during the load shows whether running models block the bot's event loop. Prints a Markdown table
(``--json``: the numbers and every user's outcome); exits 1 when a user got no answer. Every wait is bounded, and the
bot and its workers are stopped on any exit.

Run: ``python -m benchmarks.load_test [--users 50] [--ramp 0]``. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from PIL import Image

from benchmarks.common import cpu_description
from keyboards.callbacks import CancelCb, CancelTarget, MenuAction, MenuCb, PresetCb

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TOKEN = "123456:LOADTEST-0123456789abcdef"
USER_ID_BASE, PROBE_ID = 50_000, 49_999  # users are 50001..; the probe's chat never mixes with theirs
READY = MenuCb(action=MenuAction.READY).pack()
MOSAIC = PresetCb(model="johnson", preset="mosaic").pack()
CANCEL_JOB = CancelCb(what=CancelTarget.JOB).pack()
ANSWERS = ("result", "busy", "failed")  # what a user can be told; "timeout" and "error" mean no answer


def is_menu(message: Any) -> bool:
    return READY in message.callback_data


def is_preset_picker(message: Any) -> bool:
    return MOSAIC in message.callback_data


def is_photo_prompt(message: Any) -> bool:
    """"<style>. Now send me the photo": a text without preset buttons."""
    return message.kind == "text" and not is_preset_picker(message) and "photo" in message.plain_text.lower()


def is_final_answer(message: Any) -> bool:
    """A result (a picture with buttons; gallery albums have none) or a text other than the live job status."""
    if message.kind in ("photo", "document"):
        return bool(message.buttons)
    return message.kind == "text" and CANCEL_JOB not in message.callback_data


def classify(message: Any) -> str:
    """result | busy (the queue refused the job: "⏳ I am very busy…") | failed (an error text such as "❌ …")."""
    if message.kind in ("photo", "document"):
        return "result"
    return "busy" if "busy" in message.plain_text.lower() else "failed"


def summary(samples: Sequence[float | None], scale: float = 1000.0) -> dict[str, Any]:
    """Count, p50, p95 and max of the samples times ``scale`` (ms by default); None samples count as missed."""
    values = [s * scale for s in samples if s is not None]
    figures = {name: round(float(np.percentile(values, q)), 2) if values else None
               for name, q in (("p50", 50), ("p95", 95), ("max", 100))}
    return {"n": len(values), "missed": len(samples) - len(values), **figures}


class BotProcess:
    """``python main.py`` pointed at the emulator, in its own process group so a last SIGKILL reaches its workers."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.log = workdir / "bot.log"
        with self.log.open("wb") as log:  # cwd: the scratch folder, so a developer's .env does not leak in
            self.proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], cwd=workdir, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.kill)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def rss_mb(self) -> dict[str, float | None]:
        """Resident memory of the bot and of its children (the model workers) together, MiB."""
        with contextlib.suppress(psutil.Error):
            bot = psutil.Process(self.proc.pid)
            workers = sum(child.memory_info().rss for child in bot.children(recursive=True))
            return {"bot": round(bot.memory_info().rss / 2**20), "workers": round(workers / 2**20)}
        return {"bot": None, "workers": None}

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the bot stops its workers gracefully), then SIGKILL to the whole group after ``timeout``."""
        self.proc.send_signal(signal.SIGTERM)  # a no-op once it has exited
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script created (start_new_session)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def bot_environment(options: argparse.Namespace, base_url: str, data_dir: Path) -> dict[str, str]:
    kept = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")
            if os.environ.get(name)}
    return kept | {
        "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": base_url, "WEBHOOK_URL": "", "REDIS_URL": "", "EXECUTOR": "local",
        "WEIGHTS_DIR": str(SHARED / "weights"), "STYLES_DIR": str(SHARED / "images" / "style"),
        "DATA_DIR": str(data_dir), "WORKERS": str(options.workers), "QUEUE_LIMIT": str(options.queue_limit),
        "QUEUE_MAX_WAIT": str(options.max_wait), "USER_QUEUED_LIMIT": "1", "PRELOAD": "johnson", "LOG_LEVEL": "INFO",
        "DRAIN_SECONDS": "2", "JOB_TIMEOUT_SCALE": "3",  # the cores are shared with the users and the emulator
    }


async def run_user(server: Any, index: int, photo: bytes, options: argparse.Namespace, waiting: set[int],
                   outcome: dict[str, Any]) -> None:
    """One person: /start → Ready styles → Mosaic → photo → the result or a refusal, written into ``outcome``.

    ``waiting`` holds the users whose photo is out without a final answer (the probe measures while there are any).
    """
    await asyncio.sleep(options.ramp * index / options.users)
    user = server.user(outcome["user_id"], f"Load{index}", language_code="en")
    step = options.step_timeout
    try:
        outcome["stage"] = "/start"
        await user.send_text("/start")
        menu = await server.wait_for_message(user.chat_id, is_menu, step)
        outcome["stage"] = "ready styles"
        await user.press(menu, READY)
        picker = await server.wait_for_message(user.chat_id, is_preset_picker, step)
        outcome["stage"] = "preset"
        await user.press(picker, MOSAIC)
        await server.wait_for_message(user.chat_id, is_photo_prompt, step)
        outcome["stage"] = "photo"
        sent = await user.send_photo(photo)
        sent_at = time.perf_counter()
        waiting.add(index)
        try:
            answer = await server.wait_for_message(user.chat_id, is_final_answer, options.result_timeout,
                                                   since=sent.seq)
        finally:
            waiting.discard(index)
        outcome.update(stage="answered", outcome=classify(answer), answer_s=round(time.perf_counter() - sent_at, 3))
        if outcome["outcome"] != "result":
            outcome["detail"] = answer.plain_text[:200]
    except TimeoutError as exc:
        outcome.update(outcome="timeout", detail=str(exc)[:600])
    except Exception as exc:  # noqa: BLE001 - one broken dialogue must not hide the others' numbers
        outcome.update(outcome="error", detail=f"{type(exc).__name__}: {exc}"[:600])


async def ask_start(server: Any, probe: Any, timeout: float) -> float | None:
    """Seconds from the probe's /start to the menu; None when it did not come within ``timeout``."""
    began = time.perf_counter()
    await probe.send_text("/start")
    try:
        await server.wait_for_message(probe.chat_id, is_menu, timeout)
    except TimeoutError:
        return None
    return time.perf_counter() - began


async def probe_under_load(server: Any, probe: Any, waiting: set[int], options: argparse.Namespace,
                           samples: list[tuple[float | None, int]]) -> None:
    """/start every ``--probe-interval`` s (at most ``--probe-count`` times) while photos are out."""
    while not waiting:
        await asyncio.sleep(0.05)
    for _ in range(options.probe_count):
        started, out = time.perf_counter(), len(waiting)
        latency = await ask_start(server, probe, options.step_timeout)
        if out:
            samples.append((latency, out))
        await asyncio.sleep(max(0.0, options.probe_interval - (time.perf_counter() - started)))


async def cancel_and_wait(tasks: Sequence[asyncio.Task]) -> None:
    """Cancel the tasks and wait for them; cancel again those whose ``asyncio.wait_for`` (Python 3.11, in the
    emulator's waits) lost the cancellation in a race with the awaited event."""
    for _ in range(20):
        pending = [task for task in tasks if task.cancel()]  # False for a task that is done
        if not pending:
            break
        await asyncio.wait(pending, timeout=0.25)
    await asyncio.gather(*[task for task in tasks if task.done()], return_exceptions=True)


def load_photos(folder: Path, side: int) -> list[bytes]:
    """The content photos as JPEG, long side ``side``: several different ones, so the workload is not one picture."""
    photos = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")):
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


async def wait_for_bot(server: Any, bot: BotProcess, timeout: float) -> None:
    """Until the bot polls and its worker has loaded the model ("worker 0 ready in …" in its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.proc.poll() is not None:
            raise RuntimeError(f"the bot exited with {bot.proc.returncode}:\n{bot.log_tail()}")
        if server.calls_to("deleteWebhook") and " ready in " in bot.log_text():
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the bot and its worker were not ready within {timeout:.0f} s:\n{bot.log_tail()}")


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """The whole measurement; returns the report. The bot, the emulator and every task are stopped on any exit."""
    from botapi.server import BotAPIServer

    for needed in (SHARED / "weights" / "johnson", SHARED / "images" / "content"):
        if not needed.is_dir():
            raise RuntimeError(f"{needed} not found (the shared weights/images folder sits beside the repository)")
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # like Ctrl-C
    photos = load_photos(SHARED / "images" / "content", options.side)
    server = BotAPIServer(token=TOKEN, bot_username="artbot_load")
    await server.start()
    workdir = Path(tempfile.mkdtemp(prefix="artbot-load-"))
    bot = BotProcess(bot_environment(options, server.base_url, workdir / "data"), workdir)
    report: dict[str, Any] = {"bot_pid": bot.proc.pid}
    tasks: list[asyncio.Task] = []
    try:
        await wait_for_bot(server, bot, options.startup_timeout)
        probe = server.user(PROBE_ID, "Probe", language_code="en")
        await ask_start(server, probe, options.startup_timeout)  # warm-up: the first update pays one-off costs
        idle = [await ask_start(server, probe, options.step_timeout) for _ in range(options.idle_probes)]
        rss_before = bot.rss_mb()

        waiting, loaded = set(), []
        outcomes = [{"user_id": USER_ID_BASE + i + 1, "outcome": "timeout", "stage": "not started", "answer_s": None,
                     "detail": "stopped by --deadline"} for i in range(options.users)]
        began = time.perf_counter()
        users = [asyncio.create_task(run_user(server, i, photos[i % len(photos)], options, waiting, outcomes[i]))
                 for i in range(options.users)]
        tasks = [*users, asyncio.create_task(probe_under_load(server, probe, waiting, options, loaded))]
        await asyncio.wait(users, timeout=options.deadline)
        report["wall_s"] = round(time.perf_counter() - began, 2)
        await cancel_and_wait(tasks)

        counts = {name: sum(o["outcome"] == name for o in outcomes) for name in (*ANSWERS, "timeout", "error")}
        report["counts"] = counts | {"users": len(outcomes), "answered": sum(counts[name] for name in ANSWERS)}
        report["start_idle_ms"] = summary(idle)
        report["start_load_ms"] = summary([s for s, _ in loaded]) | {"max_pending": max((n for _, n in loaded),
                                                                                        default=0)}
        report["result_wait_s"] = summary([o["answer_s"] for o in outcomes if o["outcome"] == "result"], 1.0)
        report["rss_mb"] = {"before": rss_before, "after": bot.rss_mb()}
        report["unanswered_callbacks"] = len(server.unanswered_callbacks())
        report["users"] = outcomes
    finally:
        await cancel_and_wait(tasks)
        report["bot_exit_code"] = await bot.stop()
        report["bot_log_tracebacks"] = bot.log_text().count("Traceback")
        report["bot_log_tail"] = bot.log_tail()
        await server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def markdown(report: dict[str, Any], options: argparse.Namespace) -> str:
    """The summary table, with the CPU and the bot's settings under it."""
    counts, load = report["counts"], report["start_load_ms"]
    before, after = report["rss_mb"]["before"], report["rss_mb"]["after"]

    def figures(s: dict[str, Any]) -> str:
        return f"{s['p50']} / {s['p95']} / {s['max']} (n={s['n']}, {s['missed']} missed)"

    rows = [("users", counts["users"]), ("results", counts["result"]),
            ("refused as busy (estimated wait over QUEUE_MAX_WAIT, or queue full)", counts["busy"]),
            ("failed (error text) / no answer", f"{counts['failed']} / {counts['users'] - counts['answered']}"),
            ("wait for a result p50 / p95 / longest, s", figures(report["result_wait_s"])),
            ("/start reply idle p50 / p95 / max, ms", figures(report["start_idle_ms"])),
            ("/start reply under load p50 / p95 / max, ms", f"{figures(load)}, up to {load['max_pending']} photos out"),
            ("bot / workers RSS before → after, MiB",
             f"{before['bot']} → {after['bot']} / {before['workers']} → {after['workers']}"),
            ("wall time, s", report["wall_s"])]
    return "\n".join(["| measure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows),
                      f"\n{cpu_description()['model']} ({os.cpu_count()} logical CPUs, shared); Johnson 'mosaic' at "
                      f"{options.side} px, WORKERS={options.workers}, QUEUE_LIMIT={options.queue_limit}, "
                      f"QUEUE_MAX_WAIT={options.max_wait:g} s"])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="simulated users (each sends one photo)")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the users arrive (0: at once)")
    parser.add_argument("--side", type=int, default=320, help="long side of the photos users send, px")
    parser.add_argument("--workers", type=int, default=1, help="WORKERS of the bot")
    parser.add_argument("--queue-limit", type=int, default=100, help="QUEUE_LIMIT of the bot (a memory bound)")
    parser.add_argument("--max-wait", type=float, default=120.0, help="QUEUE_MAX_WAIT of the bot, s")
    parser.add_argument("--idle-probes", type=int, default=10, help="/start probes before the load")
    parser.add_argument("--probe-interval", type=float, default=0.5, help="seconds between /start probes under load")
    parser.add_argument("--probe-count", type=int, default=60, help="at most this many /start probes under load")
    parser.add_argument("--step-timeout", type=float, default=30.0, help="seconds for each dialogue reply")
    parser.add_argument("--result-timeout", type=float, default=300.0, help="seconds from photo to final answer")
    parser.add_argument("--startup-timeout", type=float, default=180.0,
                        help="seconds for the bot to poll and its worker to load the model")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole load phase")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    options = parser.parse_args(argv)
    if not 1 <= options.users <= 1000 or options.idle_probes < 1 or options.probe_count < 1:
        parser.error("--users must be 1..1000, --idle-probes and --probe-count at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """0: every user got an answer; 1: some got none; 2: the setup failed; 130: interrupted."""
    options = parse_args(argv)
    try:
        report = asyncio.run(run(options))
    except RuntimeError as exc:
        print(f"load test: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("load test: interrupted; the bot was stopped", file=sys.stderr)
        return 130
    print(markdown(report, options))
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    unanswered = [user for user in report["users"] if user["outcome"] not in ANSWERS]
    for user in unanswered[:10]:
        print(f"NO ANSWER: user {user['user_id']} at {user['stage']!r}: {user['outcome']} {user['detail'][:300]}",
              file=sys.stderr)
    if unanswered:
        print(f"load test FAILED: {len(unanswered)} of {len(report['users'])} users got no answer\n"
              f"bot log tail:\n{report.get('bot_log_tail', '')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
