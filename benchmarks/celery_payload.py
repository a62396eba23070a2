"""A 20 MiB photo through Celery on a real redis-server: raw bytes under their own key vs base64 inside the JSON.

Usage: ``python -m benchmarks.celery_payload`` (needs ``redis-server``). Each variant runs in a fresh process that
sends the job as the bot does and receives it as a worker does (kombu's own encode and decode), and reports the time
and its peak RSS (VmHWM) above the level before the transfer.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZE = 20 * 2**20


def _hwm_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


def child(variant: str, url: str) -> None:
    import redis

    from jobs import wire
    from jobs.celery_app import TASK_NAME, make_app
    from jobs.settings import JobSettings
    from ml_models.api import JobRequest

    app, client = make_app(JobSettings(executor="celery", redis_url=url)), redis.Redis.from_url(url)
    request = JobRequest("johnson", os.urandom(SIZE), preset="mosaic")
    with app.connection() as conn:
        conn.SimpleQueue("bench").clear()
        Path("/proc/self/clear_refs").write_text("5")  # restart the peak here
        before, started = _hwm_mb(), time.perf_counter()
        keys = variant == "keys"
        data = (wire.put_request(client, "job", request) if keys
                else {**request.to_json(), "content": base64.b64encode(request.content).decode()})
        app.send_task(TASK_NAME, args=("job", data), queue="bench")
        job_id, data = conn.SimpleQueue("bench").get(timeout=30).decode()[0]
        got = wire.get_request(client, job_id, data).content if keys else base64.b64decode(data["content"])
        seconds = time.perf_counter() - started
    assert got == request.content
    print(json.dumps({"s": seconds, "mb": _hwm_mb() - before}))


def main() -> None:
    server = shutil.which("redis-server") or sys.exit("redis-server is not installed")
    with socket.socket() as sock:
        port = sock.bind(("127.0.0.1", 0)) or sock.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        print(f"{'20 MiB photo':32} {'send+receive s':>15} {'peak RSS +MiB':>14}")
        for variant, label in (("keys", "raw bytes under their own key"), ("base64", "base64 inside the JSON")):
            out = subprocess.run([sys.executable, "-m", "benchmarks.celery_payload", variant,
                                  f"redis://127.0.0.1:{port}/0"], cwd=REPO, capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{label:32} {got['s']:15.2f} {got['mb']:14.0f}")
    finally:
        proc.terminate()


if __name__ == "__main__":
    child(*sys.argv[1:3]) if len(sys.argv) > 2 else main()
