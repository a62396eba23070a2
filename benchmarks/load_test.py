"""Load test of the whole bot: many people at once against the real ``main.py``, and how fast ``/start`` stays.

The bot promises that models never block its event loop: they run in worker processes, and the bot only queues
jobs, edits status messages and delivers results. This script checks that promise from the outside, the way users
would notice it. It starts the Bot API emulator in this process and the real bot as a subprocess (long polling,
genuine weights, ``WORKERS=1`` by default), then:

1. measures the ``/start`` reply latency while the bot is idle (worker started, no jobs);
2. lets ``--users`` people arrive over ``--ramp`` seconds; each goes /start → Ready styles → Johnson "Mosaic" →
   sends a small photo and waits (bounded) for the result or for the bot's refusal ("queue is full");
3. while jobs are pending, a separate probe user sends ``/start`` every ``--probe-interval`` seconds and the
   reply latency is recorded again: with a healthy event loop it stays close to the idle figure;
4. prints a Markdown table (and ``--json``), and exits non-zero when any user got no answer at all.

Everything is bounded (users, probes, per-step and per-result timeouts, a global deadline), only loopback is used,
and the bot subprocess (with its workers) is stopped even on Ctrl-C, SIGTERM or an error.

Run: ``python -m benchmarks.load_test [--users 50] [--json out.json]``. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TOKEN = "123456:LOADTEST-0123456789abcdef"
USER_ID_BASE = 50_000  # load users are 50001.., the probe has its own id: their chats never mix
PROBE_ID = 49_999
MODEL, PRESET, PRESET_TEXT = "johnson", "mosaic", "Mosaic"

EXIT_OK, EXIT_UNANSWERED, EXIT_SETUP = 0, 1, 2


# ------------------------------------------------------------------------------------------------ buttons


def _packed(factory: str, fallback: str, **fields: Any) -> str:
    """The callback data the bot's own factory produces (so a renamed prefix does not break the script).

    Falls back to the layout known when this was written if ``keyboards.callbacks`` is mid-change.
    """
    try:
        from keyboards import callbacks

        return getattr(callbacks, factory)(**fields).pack()
    except Exception:  # noqa: BLE001 - any breakage there must not stop a measurement
        return fallback


@dataclass(frozen=True)
class Buttons:
    """Callback data of the buttons the dialogue presses or recognises, with visible-text fallbacks."""

    ready: str = field(default_factory=lambda: _packed("MenuCb", "m:ready", action="ready"))
    preset: str = field(default_factory=lambda: _packed("PresetCb", f"pr:{MODEL}:{PRESET}", model=MODEL,
                                                        preset=PRESET))
    preset_prefix: str = field(default_factory=lambda: _packed("PresetCb", "pr:x:y", model="x",
                                                               preset="y").split(":")[0] + ":")
    cancel_prefix: str = field(default_factory=lambda: _packed("CancelCb", "cx:job", what="job").split(":")[0] + ":")
    cancel_job: str = field(default_factory=lambda: _packed("CancelCb", "cx:job", what="job"))


BUTTONS = Buttons()


def _data(message: Any) -> list[str]:
    return list(getattr(message, "callback_data", None) or [])


def find_button(message: Any, data: str, text: str) -> str | None:
    """The callback data of the button with exactly ``data``, else of the first whose text contains ``text``."""
    found = _data(message)
    if data in found:
        return data
    for button in getattr(message, "buttons", None) or []:
        if text.lower() in (button.get("text") or "").lower() and "callback_data" in button:
            return button["callback_data"]
    return None


def _require(data: str | None, message: Any) -> str:
    if data is None:
        raise LookupError(f"the expected button is not in message {message.message_id}: "
                          f"{[b.get('text') for b in message.buttons]}")
    return data


def is_menu(message: Any) -> bool:
    """The main menu: the message with the "Ready styles" button (what /start answers)."""
    return find_button(message, BUTTONS.ready, "Ready styles") is not None


def is_preset_picker(message: Any) -> bool:
    return find_button(message, BUTTONS.preset, PRESET_TEXT) is not None and any(
        d.startswith(BUTTONS.preset_prefix) for d in _data(message))


def is_photo_prompt(message: Any) -> bool:
    """"<style>. Now send me the photo": a text whose only buttons (if any) cancel the dialogue."""
    if message.kind != "text" or any(d.startswith(BUTTONS.preset_prefix) for d in _data(message)):
        return False
    data = _data(message)
    return "photo" in message.plain_text.lower() or (bool(data) and all(d.startswith(BUTTONS.cancel_prefix)
                                                                        for d in data))


def is_job_status(message: Any) -> bool:
    """The queued/working status message: it carries the "cancel the job" button until the job ends."""
    return BUTTONS.cancel_job in _data(message) or any("cancel the job" in (b.get("text") or "").lower()
                                                       for b in message.buttons)


def is_final_answer(message: Any) -> bool:
    """A result (picture with buttons), or any text that is not the live status message: refusal, failure."""
    if message.kind in ("photo", "document"):
        return bool(message.buttons)  # gallery albums carry no buttons; results do
    return message.kind == "text" and not is_job_status(message)


def classify(message: Any) -> str:
    """result | busy (the queue refused the job: "⏳ I am very busy…") | failed (an error line such as "❌ …")."""
    if message.kind in ("photo", "document"):
        return "result"
    text = message.plain_text.strip().lower()
    return "busy" if text.startswith("⏳") or "busy" in text or "queue is full" in text else "failed"


# ------------------------------------------------------------------------------------------------ numbers


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(samples: Sequence[float], timeouts: int = 0) -> dict[str, Any]:
    """Milliseconds: count, p50, p95, max (and how many probes got no reply in time)."""
    ms = [s * 1000.0 for s in samples]
    return {"n": len(ms), "timeouts": timeouts, "p50_ms": _round(percentile(ms, 50)),
            "p95_ms": _round(percentile(ms, 95)), "max_ms": _round(max(ms) if ms else None)}


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------------------------ the bot process


class BotUnderTest:
    """``python main.py`` in its own process group, pointed at the emulator; always stoppable.

    The process group lets a last-resort SIGKILL reach the worker processes too (they are the bot's children),
    and keeps a Ctrl-C in the terminal from hitting the bot before this script has decided how to stop it.
    """

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # cwd is the scratch folder: a developer's .env in the repository must not leak into the measurement
            self.proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], cwd=self.workdir, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.kill)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def rss_mb(self) -> float | None:
        with contextlib.suppress(psutil.Error, AssertionError):
            return psutil.Process(self.pid).memory_info().rss / 2**20
        return None

    def workers_rss_mb(self) -> float | None:
        """RSS of the bot's child processes together (the model workers and multiprocessing's helpers)."""
        with contextlib.suppress(psutil.Error, AssertionError):
            total = 0
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            return total / 2**20
        return None

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: the bot stops its workers), then SIGKILL to the whole group after ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """Last resort, also run at exit: SIGKILL the bot's process group if anything of it is left."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script created (start_new_session)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def bot_environment(options: argparse.Namespace, base_url: str, data_dir: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(data_dir)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": base_url, "WEBHOOK_URL": "", "REDIS_URL": "", "EXECUTOR": "local",
        "WEIGHTS_DIR": str(options.weights), "STYLES_DIR": str(options.styles), "DATA_DIR": str(data_dir),
        "WORKERS": str(options.workers), "QUEUE_LIMIT": str(options.queue_limit), "USER_QUEUED_LIMIT": "1",
        "QUEUE_MAX_WAIT": str(options.max_wait),
        "PRELOAD": MODEL, "LOG_LEVEL": "INFO", "DRAIN_SECONDS": "2",
        "JOB_TIMEOUT_SCALE": str(options.job_timeout_scale),
    }
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "TMPDIR"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


# ------------------------------------------------------------------------------------------------ people


@dataclass
class UserOutcome:
    """What one simulated person experienced. ``outcome``: result | busy | failed | timeout | error | pending."""

    user_id: int
    outcome: str = "pending"
    stage: str = "not started"
    detail: str = ""
    start_reply_s: float | None = None  # /start → menu, under load
    answer_s: float | None = None  # photo sent → final answer
    total_s: float | None = None  # /start → final answer

    @property
    def answered(self) -> bool:
        return self.outcome in ("result", "busy", "failed")


class LoadState:
    """Shared between the users and the probe: how many photos are out without a final answer."""

    def __init__(self) -> None:
        self.pending = 0
        self.photos_sent = 0
        self.through_dialogue = 0  # users past the dialogue (photo sent, or gave up before)
        self.began = time.perf_counter()
        self.done = asyncio.Event()


async def run_user(server: Any, index: int, photo: bytes, options: argparse.Namespace, state: LoadState,
                   outcome: UserOutcome) -> None:
    """One person: /start → Ready styles → Mosaic → photo → the result or a refusal (every wait bounded)."""
    user = server.user(outcome.user_id, f"Load{index}", language_code="en")
    chat = user.chat_id
    step = options.step_timeout
    began = time.perf_counter()
    counted = False
    left_dialogue = False
    try:
        outcome.stage = "/start"
        await user.send_text("/start")
        menu = await server.wait_for_message(chat, is_menu, step)
        outcome.start_reply_s = time.perf_counter() - began

        outcome.stage = "ready styles"
        await user.press(menu, _require(find_button(menu, BUTTONS.ready, "Ready styles"), menu))
        picker = await server.wait_for_message(chat, is_preset_picker, step)

        outcome.stage = "preset"
        await user.press(picker, _require(find_button(picker, BUTTONS.preset, PRESET_TEXT), picker))
        await server.wait_for_message(chat, is_photo_prompt, step)

        outcome.stage = "photo"
        sent = await user.send_photo(photo)
        sent_at = time.perf_counter()
        state.pending += 1
        state.photos_sent += 1
        state.through_dialogue += 1
        counted = left_dialogue = True
        answer = await server.wait_for_message(chat, is_final_answer, options.result_timeout, since=sent.seq)
        outcome.answer_s = time.perf_counter() - sent_at
        outcome.total_s = time.perf_counter() - began
        outcome.outcome = classify(answer)
        outcome.stage = "answered"
        if outcome.outcome != "result":
            outcome.detail = answer.plain_text[:200]
    except TimeoutError as exc:
        outcome.outcome = "timeout"
        outcome.detail = str(exc)[:600]
    except asyncio.CancelledError:
        outcome.outcome = "timeout"
        outcome.detail = "stopped by the global deadline"
        raise
    except Exception as exc:  # noqa: BLE001 - one broken dialogue must not hide the others' numbers
        outcome.outcome = "error"
        outcome.detail = f"{type(exc).__name__}: {exc}"[:600]
    finally:
        if counted:
            state.pending -= 1
        if not left_dialogue:
            state.through_dialogue += 1


async def ask_start(server: Any, probe: Any, timeout: float) -> float | None:
    """Send /start as the probe user; seconds until the menu arrives, None when it did not within ``timeout``."""
    began = time.perf_counter()
    await probe.send_text("/start")
    try:
        await server.wait_for_message(probe.chat_id, is_menu, timeout)
    except TimeoutError:
        return None
    return time.perf_counter() - began


async def measure_idle(server: Any, probe: Any, count: int, timeout: float, gap: float = 0.2) -> tuple[list, int]:
    samples, missed = [], 0
    for _ in range(count):
        latency = await ask_start(server, probe, timeout)
        if latency is None:
            missed += 1
        else:
            samples.append(latency)
        await asyncio.sleep(gap)
    return samples, missed


async def probe_under_load(server: Any, probe: Any, state: LoadState, options: argparse.Namespace,
                           out: list[dict[str, Any]]) -> None:
    """While photos are pending, /start every ``probe_interval`` s (at most ``probe_count`` times).

    Each sample notes whether other users were still going through their dialogues: once they all are through,
    the bot's only work is following jobs that run in the workers, which is where a blocked loop would show.
    """
    while state.pending == 0 and not state.done.is_set():
        await asyncio.sleep(0.05)
    for _ in range(options.probe_count):
        if state.done.is_set():
            return
        pending, arriving = state.pending, state.through_dialogue < options.users
        started = time.perf_counter()
        latency = await ask_start(server, probe, options.step_timeout)
        out.append({"t_s": round(started - state.began, 3), "pending": pending, "users_arriving": arriving,
                    "latency_s": latency})
        await asyncio.sleep(max(0.0, options.probe_interval - (time.perf_counter() - started)))


# ------------------------------------------------------------------------------------------------ the run


def load_photos(folder: Path, side: int) -> list[bytes]:
    """The content photos, long side ``side``, JPEG; several different ones so the workload is not one picture."""
    photos = []
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
            continue
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


async def wait_for_bot(server: Any, bot: BotUnderTest, timeout: float) -> dict[str, Any]:
    """Until the bot polls and its worker reports ready (model preloaded). Raises RuntimeError when it died."""
    began = time.perf_counter()
    deadline = began + timeout
    info: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        if not bot.alive():
            raise RuntimeError(f"the bot exited with {bot.proc.returncode if bot.proc else '?'}:\n{bot.log_tail()}")
        if "polling_s" not in info and server.calls_to("deleteWebhook"):  # the polling loop's first call
            info["polling_s"] = round(time.perf_counter() - began, 2)
        if "polling_s" in info and " ready in " in bot.log_text():
            info["worker_ready_s"] = round(time.perf_counter() - began, 2)
            return info
        await asyncio.sleep(0.2)
    if "polling_s" not in info:
        raise RuntimeError(f"the bot did not start polling within {timeout:.0f}s:\n{bot.log_tail()}")
    info["worker_ready_s"] = None  # measure anyway: the first job will wait for the worker
    return info


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """The whole measurement; returns the report. The bot, the emulator and every task are stopped on any exit."""
    from botapi.server import BotAPIServer

    photos = load_photos(options.images, options.side)
    if not photos:
        raise RuntimeError(f"no photos in {options.images}")
    report: dict[str, Any] = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
    }
    server = BotAPIServer(token=TOKEN, bot_username="artbot_load")
    await server.start()
    workdir = Path(tempfile.mkdtemp(prefix="artbot-load-"))
    bot = BotUnderTest(bot_environment(options, server.base_url, workdir / "data"), workdir)
    spawned: list[asyncio.Task] = []
    try:
        bot.start()
        report["bot_pid"] = bot.pid
        report["startup"] = await wait_for_bot(server, bot, options.startup_timeout)
        probe = server.user(PROBE_ID, "Probe", language_code="en")
        await ask_start(server, probe, options.startup_timeout)  # warm-up: first update, locale compilation
        idle, idle_missed = await measure_idle(server, probe, options.idle_probes, options.step_timeout)
        report["latency_idle"] = latency_summary(idle, idle_missed)
        report["rss_mb"] = {"bot_before": _round(bot.rss_mb()), "workers_before": _round(bot.workers_rss_mb())}

        state = LoadState()
        outcomes = [UserOutcome(user_id=USER_ID_BASE + i + 1) for i in range(options.users)]
        probes: list[dict[str, Any]] = []
        began = state.began = time.perf_counter()

        async def arrive(index: int) -> None:
            await asyncio.sleep(options.ramp * index / max(1, options.users))
            await run_user(server, index, photos[index % len(photos)], options, state, outcomes[index])

        users = [asyncio.create_task(arrive(i)) for i in range(options.users)]
        prober = asyncio.create_task(probe_under_load(server, probe, state, options, probes))
        spawned += [*users, prober]
        _, late = await asyncio.wait(users, timeout=options.deadline)
        await cancel_and_wait(late)
        wall = time.perf_counter() - began
        for outcome in outcomes:
            if outcome.outcome == "pending":  # cancelled by the deadline before it even began
                outcome.outcome, outcome.detail = "timeout", "stopped by the global deadline before arriving"
        state.done.set()
        await asyncio.wait([prober], timeout=options.step_timeout + 1)
        await cancel_and_wait([prober])

        report["rss_mb"].update(bot_after=_round(bot.rss_mb()), workers_after=_round(bot.workers_rss_mb()))
        loaded = [p for p in probes if p["pending"] > 0]
        report["latency_load"] = latency_summary([p["latency_s"] for p in loaded if p["latency_s"] is not None],
                                                 sum(p["latency_s"] is None for p in loaded))
        report["latency_load"]["min_pending"] = min((p["pending"] for p in loaded), default=0)
        report["latency_load"]["max_pending"] = max((p["pending"] for p in loaded), default=0)
        models_only = [p for p in loaded if not p["users_arriving"]]
        report["latency_models_only"] = latency_summary(
            [p["latency_s"] for p in models_only if p["latency_s"] is not None],
            sum(p["latency_s"] is None for p in models_only))
        report["probes"] = probes
        report["wall_s"] = round(wall, 2)
        report["counts"] = count_outcomes(outcomes)
        answers = [o.answer_s for o in outcomes if o.answer_s is not None and o.outcome == "result"]
        report["result_wait_s"] = {"p50": _round(percentile(answers, 50), 2),
                                   "max": _round(percentile(answers, 100), 2)}
        starts = [o.start_reply_s for o in outcomes if o.start_reply_s is not None]
        report["user_start_reply"] = latency_summary(starts)
        report["unanswered_callbacks"] = len(server.unanswered_callbacks())
        report["users"] = [asdict(o) | {"answered": o.answered} for o in outcomes]
        report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        await cancel_and_wait(spawned)
        report["bot_exit_code"] = await bot.stop()
        tail = bot.log_tail(400)
        report["bot_log_tracebacks"] = tail.count("Traceback")
        if options.keep_log:
            Path(options.keep_log).write_text(bot.log_text())
        report["bot_log_tail"] = bot.log_tail(30)
        await server.stop()
        with contextlib.suppress(OSError):
            _remove_tree(workdir)
    return report


async def cancel_and_wait(tasks: Sequence[asyncio.Task], rounds: int = 20, wait: float = 0.25) -> None:
    """Cancel the tasks and wait until they are done, re-cancelling the stubborn ones.

    Python 3.11's ``asyncio.wait_for`` (used inside the emulator's waits) can lose a cancellation that races with
    the awaited event, and a task that lost it would keep waiting for its full timeout; cancelling again ends it.
    """
    for _ in range(rounds):
        pending = [task for task in tasks if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=wait)
    finished = [task for task in tasks if task.done()]
    if finished:  # collect their outcomes so none is reported as "exception never retrieved"
        await asyncio.gather(*finished, return_exceptions=True)


def count_outcomes(outcomes: Sequence[UserOutcome]) -> dict[str, int]:
    counts = {"users": len(outcomes), "result": 0, "busy": 0, "failed": 0, "timeout": 0, "error": 0, "pending": 0}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    counts["answered"] = counts["result"] + counts["busy"] + counts["failed"]
    counts["unanswered"] = counts["users"] - counts["answered"]
    return counts


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ the report


def markdown(report: dict[str, Any]) -> str:
    """The summary table: one row of figures, columns named for a reader who did not write this script."""
    counts = report.get("counts", {})
    idle, load, rss = report.get("latency_idle", {}), report.get("latency_load", {}), report.get("rss_mb", {})

    def ms(summary: dict[str, Any]) -> str:
        if not summary or not summary.get("n"):
            return "n/a"
        extra = f" ({summary['timeouts']} no reply)" if summary.get("timeouts") else ""
        return f"{summary['p50_ms']:.0f} / {summary['p95_ms']:.0f} / {summary['max_ms']:.0f}{extra}"

    def mb(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}"

    rows = [
        ("users", counts.get("users", "n/a")),
        ("results received", counts.get("result", "n/a")),
        ("refused as busy (estimated wait over QUEUE_MAX_WAIT, or queue full)", counts.get("busy", "n/a")),
        ("failed answers (error text)", counts.get("failed", "n/a")),
        ("errors / timeouts (no answer)", f"{counts.get('error', 0)} / {counts.get('timeout', 0)}"),
        ("total wall time, s", report.get("wall_s", "n/a")),
        ("wait for a result p50 / longest, s", f"{report.get('result_wait_s', {}).get('p50')} / "
                                               f"{report.get('result_wait_s', {}).get('max')}"),
        ("/start latency under load p50 / p95 / max, ms", f"{ms(load)} [n={load.get('n', 0)}, "
                                                          f"{load.get('min_pending', 0)}-{load.get('max_pending', 0)} "
                                                          f"photos pending]"),
        ("… of which after every user had sent the photo (only jobs running), ms",
         f"{ms(report.get('latency_models_only', {}))} [n={report.get('latency_models_only', {}).get('n', 0)}]"),
        ("/start latency idle p50 / p95 / max, ms", f"{ms(idle)} [n={idle.get('n', 0)}]"),
        ("users' own /start → menu p50 / p95 / max, ms", ms(report.get("user_start_reply", {}))),
        ("bot RSS before / after, MiB", f"{mb(rss.get('bot_before'))} / {mb(rss.get('bot_after'))}"),
        ("workers RSS before / after, MiB", f"{mb(rss.get('workers_before'))} / {mb(rss.get('workers_after'))}"),
        ("unanswered callback queries", report.get("unanswered_callbacks", "n/a")),
        ("load average before / after", f"{report.get('machine', {}).get('loadavg_before')} / "
                                         f"{report.get('machine', {}).get('loadavg_after')}"),
    ]
    lines = ["| measure | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="simulated users (each sends one photo)")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the users arrive")
    parser.add_argument("--side", type=int, default=320, help="long side of the photos users send, px")
    parser.add_argument("--workers", type=int, default=1, help="WORKERS of the bot")
    parser.add_argument("--queue-limit", type=int, default=100, help="QUEUE_LIMIT of the bot (a memory bound)")
    parser.add_argument("--max-wait", type=float, default=120.0, help="QUEUE_MAX_WAIT of the bot, s")
    parser.add_argument("--job-timeout-scale", type=float, default=3.0,
                        help="JOB_TIMEOUT_SCALE of the bot (the cores are shared with other work)")
    parser.add_argument("--idle-probes", type=int, default=10, help="/start probes before the load")
    parser.add_argument("--probe-interval", type=float, default=0.5, help="seconds between /start probes under load")
    parser.add_argument("--probe-count", type=int, default=60, help="at most this many /start probes under load")
    parser.add_argument("--step-timeout", type=float, default=30.0, help="seconds for each dialogue reply")
    parser.add_argument("--result-timeout", type=float, default=300.0, help="seconds from photo to final answer")
    parser.add_argument("--startup-timeout", type=float, default=180.0,
                        help="seconds for the bot to poll and its worker to load the model")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole load phase")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights", help="WEIGHTS_DIR")
    parser.add_argument("--styles", type=Path, default=SHARED / "images" / "style", help="STYLES_DIR")
    parser.add_argument("--images", type=Path, default=SHARED / "images" / "content", help="content photos")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the bot's log here")
    options = parser.parse_args(argv)
    if not 1 <= options.users <= 1000:
        parser.error("--users must be 1..1000")
    if options.probe_count < 1 or options.idle_probes < 1:
        parser.error("--probe-count and --idle-probes must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    for needed in (options.weights / MODEL, options.images):
        if not needed.is_dir():
            print(f"load test: {needed} not found (the shared weights/images folder sits beside the repository)",
                  file=sys.stderr)
            return EXIT_SETUP
    try:
        report = _run_with_signals(options)
    except RuntimeError as exc:
        print(f"load test: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("load test: interrupted; the bot was stopped", file=sys.stderr)
        return 130
    print(markdown(report))
    print(f"\n{os.cpu_count()} CPU cores shared with whatever else runs on this machine; "
          f"Johnson '{PRESET}' at {options.side} px, WORKERS={options.workers}, QUEUE_LIMIT={options.queue_limit}, "
          f"QUEUE_MAX_WAIT={options.max_wait:g} s.")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        print(f"report: {options.json}")
    unanswered = [u for u in report["users"] if not u["answered"]]
    if unanswered:
        for user in unanswered[:10]:
            print(f"NO ANSWER: user {user['user_id']} at step {user['stage']!r}: {user['outcome']} "
                  f"{user['detail'][:300]}", file=sys.stderr)
        print(f"load test FAILED: {len(unanswered)} of {len(report['users'])} users got no answer\n"
              f"bot log tail:\n{report.get('bot_log_tail', '')}", file=sys.stderr)
        return EXIT_UNANSWERED
    return EXIT_OK


def _run_with_signals(options: argparse.Namespace) -> dict[str, Any]:
    """asyncio.run with SIGTERM treated like Ctrl-C: the run is cancelled and its ``finally`` stops the bot."""

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await run(options)
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None

    return asyncio.run(guarded())


if __name__ == "__main__":
    sys.exit(main())
