"""Two bot replicas, one Redis, a real Celery worker: limits and /cancel hold across replicas.

Each replica is ``main.py`` with EXECUTOR=celery behind its own Bot API emulator (the same user talks to both, as a
load balancer would spread a user's updates); the worker runs ``tests.job_runners:painter`` slowly enough for the
second order and the /cancel to arrive while the first job runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

import pytest

from tests.celery_worker import start_celery_worker
from tests.redis_server import start_redis
from tests.test_bot_e2e import TOKEN, BotAPIServer, Person, has
from tests.test_delivery import order_mosaic, started


def start_worker(redis_url: str, queue: str, log: Path) -> subprocess.Popen:
    return start_celery_worker(redis_url, queue, log, JOB_RUNNER="tests.job_runners:painter", PAINTER_STEPS="80",
                               PAINTER_STEP_S="0.25")


async def test_two_replicas_share_the_user_limit_and_cancel(tmp_path: Path) -> None:
    from tests.test_bot_e2e import IMAGES, WEIGHTS

    if not (WEIGHTS / "johnson").is_dir() or not (IMAGES / "content").is_dir():
        pytest.skip("the shared weights/images folder is not beside the repository")
    redis_proc, redis_url = start_redis(tmp_path)
    queue = f"styles-{uuid4().hex[:8]}"
    worker = start_worker(redis_url, queue, tmp_path / "worker.log")
    emulators = [BotAPIServer(token=TOKEN), BotAPIServer(token=TOKEN)]
    bots = []
    try:
        for emulator in emulators:
            await emulator.start()
        for name, emulator in zip("ab", emulators, strict=True):
            bots.append(await started(emulator, tmp_path / name, EXECUTOR="celery", REDIS_URL=redis_url,
                                      CELERY_QUEUE=queue, REPLICA_ID=name, PRELOAD="", DEVICE="cpu",
                                      USER_QUEUED_LIMIT="0", DATA_DIR=str(tmp_path / name / "data")))
        via_a, via_b = (Person(emulator, 7001, name="Ivo") for emulator in emulators)

        await order_mosaic(via_a)
        status = await via_a.reply(has("Working"), timeout=60)
        await order_mosaic(via_b)  # the other replica knows about the running job
        await via_b.reply(has("already have a picture in the works"), timeout=30)

        jo = Person(emulators[1], 7002, name="Jo")  # waits behind Ivo's job, on replica b
        await order_mosaic(jo)
        await jo.reply(has("next in the queue"), timeout=30)
        lu = Person(emulators[0], 7003, name="Lu")  # replica a has no other waiting job, yet Lu is second
        await order_mosaic(lu)
        await lu.reply(has("number 2 in the queue"), timeout=30, since=0)

        await via_b.say("/cancel")
        await via_b.reply(has("Your picture is cancelled"), timeout=15)
        await via_a.reply(lambda m: m.message_id == status.message_id and "cancelled" in m.plain_text,
                          timeout=30, since=0)

        await order_mosaic(via_b)  # the slot is free again, on either replica
        await via_b.reply(has("number 2 in the queue"), timeout=15)  # behind Lu (Jo's job runs now)
    finally:
        for bot in bots:
            await bot.stop()
        for emulator in emulators:
            await emulator.stop()
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        redis_proc.terminate()
        redis_proc.wait(10)
    for bot in bots:
        assert "Traceback" not in bot.log(400), bot.log(400)


def test_the_start_refuses_a_visibility_timeout_shorter_than_the_longest_job() -> None:
    from environment import EnvError
    from jobs.settings import JobSettings

    env = {"EXECUTOR": "celery", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    with pytest.raises(EnvError, match=r"CELERY_VISIBILITY_TIMEOUT is 600 s, shorter than .* at least 1260"):
        JobSettings.from_env({**env, "CELERY_VISIBILITY_TIMEOUT": "600"})  # Gatys may run 1200 s
    assert JobSettings.from_env({**env, "CELERY_VISIBILITY_TIMEOUT": "600", "JOB_TIMEOUT_SCALE": "0.4"})
    assert JobSettings.from_env({**env, "CELERY_VISIBILITY_TIMEOUT": "600"} | {"EXECUTOR": "local"})

