"""A real ``celery worker`` process (solo pool, one task at a time) for the tests that scale out through Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def start_celery_worker(redis_url: str, queue: str, log: Path, **env: str) -> subprocess.Popen:
    """Start a worker on ``queue`` and return once it says it is ready (its output goes to ``log``)."""
    environment = {**os.environ, "REDIS_URL": redis_url, "CELERY_QUEUE": queue, "DEVICE": "cpu",
                   "WORKER_THREADS": "1", "PYTHONPATH": str(REPO), "C_FORCE_ROOT": "1", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jobs.celery_app", "worker", "--pool", "solo", "--concurrency", "1",
         "-Q", queue, "-n", f"w-{queue}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat"], cwd=REPO, env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return proc
