"""Workers run under WORKER_MEMORY_MB: a job that does not fit fails as ``too_large`` and its worker is replaced."""

from __future__ import annotations

import pytest

from jobs import Done, Failed, JobSettings
from jobs.settings import plan_workers, worker_memory_mb
from ml_models.settings import EngineSettings
from tests.test_jobs_pool import collect, make_job, pool_settings, running

pytestmark = pytest.mark.timeout(60)


async def test_job_over_the_memory_limit_fails_as_too_large_and_the_worker_is_replaced(tmp_path):
    settings = pool_settings(tmp_path, worker_memory_mb=400)
    async with running(settings) as executor:
        handle = await executor.submit(make_job(1, steps=1, hold_mb=600))
        pid = executor.worker_pid(handle.job.id)
        failed = (await collect(handle, 30))[-1]
        assert isinstance(failed, Failed) and failed.code == "too_large", failed
        assert "WORKER_MEMORY_MB" in failed.message
        fits = await executor.submit(make_job(2, steps=1, hold_mb=50))  # a fresh worker takes the next job
        done = (await collect(fits, 30))[-1]
        assert isinstance(done, Done), done
        assert done.result.info["pid"] != pid


def test_default_limit_shares_the_machine_memory_among_cpu_workers():
    cpu = JobSettings(engine=EngineSettings(device="cpu"))
    assert worker_memory_mb(cpu, 2, total_mb=4096) == (4096 - 300) // 2
    assert worker_memory_mb(cpu, 8, total_mb=1024) == 512  # a floor: a limit below any model is useless
    assert worker_memory_mb(JobSettings(worker_memory_mb=0), 1, total_mb=4096) is None  # turned off
    assert worker_memory_mb(JobSettings(worker_memory_mb=900), 1, uses_cuda=True) == 900
    assert worker_memory_mb(cpu, 1, uses_cuda=True, total_mb=4096) is None  # CUDA reserves address space freely
    assert JobSettings.from_env({"WORKER_MEMORY_MB": "700"}).worker_memory_mb == 700
    assert plan_workers(JobSettings(worker_memory_mb=800, workers=2), gpus=0, cores=2).memory_mb == 800
