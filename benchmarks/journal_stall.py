"""How long the event loop stalls while a finished job's result is journaled: on the loop vs in the journal thread.

``python -m benchmarks.journal_stall [--mb 20] [--rounds 5]`` prints one row per journal (SQLite in a temporary
folder; Redis too when ``redis-server`` is installed, started on a free loopback port): the longest gap a 1 ms
ticker saw while ``finish(..., result=<N MB>)`` ran, called directly and through the scheduler's journal thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import cpu_description
from jobs.job import Job
from jobs.journal import make_journal
from jobs.settings import JobSettings
from ml_models.api import JobRequest, JobResult


async def _longest_gap(work) -> float:
    gaps = [0.0]
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await work()
    await asyncio.sleep(0.01)
    stop.set()
    await task
    return max(gaps) * 1000


async def _measure(settings: JobSettings, size_mb: int, rounds: int) -> tuple[float, float]:
    journal = make_journal(settings)
    writer = ThreadPoolExecutor(1)
    image = os.urandom(size_mb * 2**20)
    direct, threaded = [], []
    for _ in range(rounds):
        for mode, out in (("direct", direct), ("thread", threaded)):
            job = Job(JobRequest("johnson", b"", preset="mosaic"), chat_id=1, user_id=1)
            journal.add(job, "local")
            result = JobResult(image=image, mime="image/png", width=1, height=1, seconds=1.0)

            async def work(job=job, result=result, mode=mode) -> None:
                if mode == "direct":
                    journal.finish(job.id, "done", 1.0, result=result)
                else:
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(writer, lambda: journal.finish(job.id, "done", 1.0, result=result))

            out.append(await _longest_gap(work))
            journal.delivered(job.id)
    writer.shutdown()
    journal.close()
    return sorted(direct)[len(direct) // 2], sorted(threaded)[len(threaded) // 2]


def _redis(folder: Path) -> tuple[subprocess.Popen, str] | None:
    server = shutil.which("redis-server")
    if server is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=20, help="result size in MB")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("SQLite (WAL)", asyncio.run(_measure(JobSettings(data_dir=Path(tmp)), args.mb, args.rounds)))]
        redis = _redis(Path(tmp))
        if redis is not None:
            proc, url = redis
            try:
                settings = JobSettings(data_dir=Path(tmp), redis_url=url)
                rows.append(("Redis (loopback)", asyncio.run(_measure(settings, args.mb, args.rounds))))
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"event loop stall while journaling a {args.mb} MB result (median of {args.rounds}); "
          f"CPU: {cpu_description()['model']}")
    print(f"{'journal':<18} {'on the loop, ms':>16} {'journal thread, ms':>19} {'ratio':>7}")
    for name, (direct, threaded) in rows:
        print(f"{name:<18} {direct:>16.1f} {threaded:>19.1f} {direct / max(threaded, 0.001):>7.1f}")


if __name__ == "__main__":
    main()
