"""The load-test script end to end at a tiny size: the real bot, three users, genuine Johnson weights.

It runs ``python -m benchmarks.load_test`` exactly as a person would and reads its JSON, so a script that stops
finding the bot's buttons, misclassifies answers, leaks the bot process or reports empty latencies fails here long
before someone runs the 50-user version by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import IMAGES, REPO, WEIGHTS, need

USERS = 3


@pytest.fixture
def shared_data() -> None:
    for path in (WEIGHTS / "johnson", IMAGES / "content", IMAGES / "style"):
        need(path)


@pytest.mark.timeout(150)
def test_three_users_all_answered_with_positive_latencies(shared_data: None, tmp_path: Path) -> None:
    report_path = tmp_path / "load.json"
    command = [sys.executable, "-m", "benchmarks.load_test", "--users", str(USERS), "--ramp", "1",
               "--side", "160", "--idle-probes", "3", "--probe-count", "4", "--probe-interval", "0.2",
               "--step-timeout", "20", "--result-timeout", "40", "--startup-timeout", "60", "--deadline", "60",
               "--json", str(report_path)]
    began = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=140)
    elapsed = time.monotonic() - began
    print(proc.stdout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert "| users | 3 |" in proc.stdout  # the Markdown table was printed

    report = json.loads(report_path.read_text())
    counts = report["counts"]
    assert counts["users"] == USERS and counts["answered"] == USERS, counts
    assert counts["result"] == USERS, report["users"]  # an empty queue: nobody should be turned away
    assert len(report["users"]) == USERS and all(user["outcome"] == "result" for user in report["users"])
    assert all(user["answer_s"] > 0 for user in report["users"])
    waits = report["result_wait_s"]
    assert waits["n"] == USERS and 0 < waits["p50"] <= waits["p95"] <= waits["max"], waits

    for phase in ("start_idle_ms", "start_load_ms"):
        summary = report[phase]
        assert summary["n"] >= 1 and summary["missed"] == 0, (phase, summary)
        assert 0 < summary["p50"] <= summary["p95"] <= summary["max"], (phase, summary)
    assert report["start_load_ms"]["max_pending"] >= 1  # the probe really ran while a photo was out
    assert all(report["rss_mb"][when]["bot"] > 0 and report["rss_mb"][when]["workers"] > 0
               for when in ("before", "after"))
    assert report["unanswered_callbacks"] == 0
    assert report["bot_exit_code"] == 0 and report["bot_log_tracebacks"] == 0, report["bot_log_tail"]
    assert not _running(report["bot_pid"]), "the bot process outlived the script"
    print(f"load script with {USERS} users took {elapsed:.1f} s")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

